"""The security suite runs against the whole local backend: both regions' gateways with the real
authorizer and functions, on their own moto server. The matrix and the attacks call the gateways
in-process; the fuzzing goes over HTTP. Every test provisions tenants of its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from local.runtime import LocalBackend
from tests.security.support import (
    CASES,
    EXCUSED_BY_RULE,
    FAILED_OPERATIONS,
    FUZZED_OPERATIONS,
    HOME,
    REGIONS,
    Caller,
    provision,
    unique,
)

if TYPE_CHECKING:
    from pathlib import Path

    from local.keys import DevKeys

# The figure each counter stands for, in the order the summary prints them.
CASE_LABELS = {
    "matrix": "security matrix",
    "attacks": "security attacks",
    "concurrency": "rate-limit concurrency",
}


@pytest.fixture(scope="package")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    keys_dir: Path = tmp_path_factory.mktemp("security-keys")
    # A held SSE request answers after this long when no event arrives (20 s on AWS).
    environment = {"gui_stream": {"STREAM_HOLD_S": "0.3"}}
    with LocalBackend(
        regions=REGIONS, port=0, seed=False, keys_dir=keys_dir, environment=environment
    ) as running:
        yield running


@pytest.fixture(scope="package")
def keys(backend: LocalBackend) -> DevKeys:
    assert backend.keys is not None
    return backend.keys


@pytest.fixture(scope="package")
def dynamodb_in(backend: LocalBackend) -> Any:
    clients: dict[str, Any] = {}

    def client(region: str) -> Any:
        if region not in clients:
            clients[region] = boto3.client(
                "dynamodb",
                endpoint_url=backend.aws_endpoint_url,
                region_name=region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return clients[region]

    return client


@pytest.fixture(scope="package")
def dynamodb(dynamodb_in: Any) -> Any:
    """The home region's DynamoDB."""
    return dynamodb_in(HOME)


@pytest.fixture
def tenant_admin(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> Caller:
    """An admin (every scope) of a fresh tenant homed in the home region, default limits."""
    tenant = unique("sec")
    provision(dynamodb, tenant)
    return Caller(backend, keys, tenant, unique("admin"), scopes=("gui:license:restricted",))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for kind, label in CASE_LABELS.items():
        if CASES[kind]:
            terminalreporter.write_line(f"{label}: {CASES[kind]} cases")
    if CASES["schemathesis"]:
        unsent = CASES["schemathesis_unsent"]
        terminalreporter.write_line(
            f"schemathesis: {CASES['schemathesis']} cases sent to {len(FUZZED_OPERATIONS)} operations, "
            f"{len(FAILED_OPERATIONS)} operation(s) with a failing case"
            + (f", {unsent} generated past their operation's time budget and not sent" if unsent else "")
        )
        if EXCUSED_BY_RULE:
            terminalreporter.write_line(
                "schemathesis: refusals excused by a named rule: "
                + ", ".join(f"{name} {count}" for name, count in sorted(EXCUSED_BY_RULE.items()))
            )
