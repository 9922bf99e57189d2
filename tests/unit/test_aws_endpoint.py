"""Which AWS endpoint the integration suites use: the environment's, LocalStack's, or moto's."""

from __future__ import annotations

from tests.aws_endpoint import external_endpoint


def test_aws_endpoint_url_wins() -> None:
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "LOCALSTACK_HOST": "elsewhere:4566"}
    assert external_endpoint(env) == "http://127.0.0.1:4566"


def test_localstack_host_gives_its_edge_endpoint() -> None:
    assert external_endpoint({"LOCALSTACK_HOST": "localhost:4566"}) == "http://localhost:4566"
    assert external_endpoint({"LOCALSTACK_HOST": "ls.internal"}) == "http://ls.internal:4566"


def test_without_either_the_suites_start_moto() -> None:
    assert external_endpoint({}) is None
    assert external_endpoint({"AWS_ENDPOINT_URL": ""}) is None
