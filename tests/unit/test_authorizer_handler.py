"""The authorizer's handler as deployed, in front of an identity provider it cannot reach.

"Cannot verify now" (no key set to trust) must not look like "token refused": a refusal raises
`Unauthorized` (API Gateway's 401, which signs a GUI out), an outage raises anything else (API
Gateway's AUTHORIZER_FAILURE response, a 503 to retry). Both are logged, the outage counted in an
EMF metric of the log line itself. The JWKS URL is a loopback port nobody listens on: a real
connection refused, at once, without a network.
"""

from __future__ import annotations

import inspect
import io
import json
from typing import Any

import pytest

from local.apigw import sample_event
from local.containers import load_handler
from local.keys import DevKeys
from stacks.manifest import MANIFEST

UNREACHABLE_JWKS = "https://127.0.0.1:1/.well-known/jwks.json"


class Context:
    function_name = "gui_authorizer"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:gui_authorizer"
    aws_request_id = "req-1"


@pytest.fixture
def keys() -> DevKeys:
    return DevKeys.ephemeral()


class Deployed:
    """The handler, cold-started, with its log lines written to `out`."""

    def __init__(self, keys: DevKeys) -> None:
        env = {
            "GUI_REGION": "eu-west-1",
            "GUI_JWT_ISSUER": keys.issuer,
            "GUI_JWT_AUDIENCE": keys.audience,
            "GUI_JWKS_URL": UNREACHABLE_JWKS,
            "POWERTOOLS_SERVICE_NAME": "gui_authorizer",
            "POWERTOOLS_METRICS_NAMESPACE": "DomainDetermine/GUI",
        }
        self.handler = load_handler(MANIFEST.authorizer.function, env)
        self.module = inspect.unwrap(self.handler).__globals__
        self.out = io.StringIO()
        for line_writer in self.module["logger"]._logger.handlers:
            if getattr(line_writer, "lean", False):
                line_writer.setStream(self.out)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        return self.handler(event, context)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]


@pytest.fixture
def handler(keys: DevKeys) -> Deployed:
    return Deployed(keys)


def _event(token: str) -> dict[str, Any]:
    event = sample_event("rest_authorizer_request")
    event["headers"]["Authorization"] = f"Bearer {token}"
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
    return event


def _metrics(line: dict[str, Any]) -> list[str]:
    return [m["Name"] for d in line.get("_aws", {}).get("CloudWatchMetrics", []) for m in d["Metrics"]]


def test_an_unreachable_identity_provider_is_an_authorizer_failure_not_a_401(
    handler: Deployed, keys: DevKeys
) -> None:
    token = keys.mint(tenant="acme", subject="ada", scopes=["gui:preferences"])
    for _ in range(3):  # three requests at once: one fetch, then the back-off holds
        with pytest.raises(Exception) as failed:  # any error but Unauthorized
            handler(_event(token), Context())
        assert str(failed.value) != "Unauthorized"
    lines = handler.lines()
    fetches = [line for line in lines if line["message"] == "jwks fetch failed"]
    outages = [line for line in lines if line["message"] == "cannot verify tokens now"]
    assert len(fetches) == 1, lines
    assert fetches[0]["level"] == "WARNING"
    assert fetches[0]["retry_in_s"] == 1.0
    assert _metrics(fetches[0]) == ["JwksFetchFailures"]
    assert fetches[0]["JwksFetchFailures"] == 1
    assert len(outages) == 3
    assert all(line["level"] == "ERROR" and _metrics(line) == ["AuthorizerUnavailable"] for line in outages)
    emf = outages[0]["_aws"]["CloudWatchMetrics"][0]
    assert emf["Namespace"] == "DomainDetermine/GUI"
    assert emf["Dimensions"] == [["service"]]
    assert outages[0]["service"] == "gui_authorizer"


def test_a_malformed_token_is_still_refused_while_the_provider_is_down(handler: Deployed) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(_event("not-a-jwt"), Context())


def test_the_key_set_is_the_handlers_own_remote_one(handler: Deployed) -> None:
    verifier = handler.module["verifier"]
    assert type(verifier._keys).__name__ == "RemoteKeySet"  # what the stack deploys
