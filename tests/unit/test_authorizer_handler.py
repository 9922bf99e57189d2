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
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gui_core.context import RequestContext
from gui_core.stream_tickets import StreamTickets
from local.apigw import sample_event
from local.containers import load_handler
from local.keys import DevKeys
from local.memory_table import MemoryTable
from stacks.manifest import MANIFEST

ROOT = Path(__file__).resolve().parents[2]

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


# -- stream tickets ---------------------------------------------------------------------------


class WithTickets(Deployed):
    """The handler trusting the development key, its ticket store in memory (or `down`)."""

    def __init__(self, keys: DevKeys, *, down: bool = False) -> None:
        env = {
            "GUI_REGION": "eu-west-1",
            "GUI_JWT_ISSUER": keys.issuer,
            "GUI_JWT_AUDIENCE": keys.audience,
            "GUI_JWKS": keys.jwks_json,
            "LIMITS_TABLE": "ddgui-limits",
            "POWERTOOLS_SERVICE_NAME": "gui_authorizer",
        }
        self.handler = load_handler(MANIFEST.authorizer.function, env)
        self.module = inspect.unwrap(self.handler).__globals__
        self.out = io.StringIO()
        for line_writer in self.module["logger"]._logger.handlers:
            if getattr(line_writer, "lean", False):
                line_writer.setStream(self.out)
        table = _DownTable() if down else MemoryTable()
        self.store = StreamTickets(table)
        self.module["tickets"].store_factory = lambda: self.store


class _DownTable(MemoryTable):
    def delete(self, key: Any, *, condition: Any = None) -> Any:
        raise OSError("endpoint unreachable")


CALLER = RequestContext(
    tenant="acme",
    subject="ada@acme",
    scopes=frozenset({"gui:jobs", "gui:notifications", "gui:dashboard"}),
    roles=("operator",),
    region="eu-west-1",
    request_id="r-1",
    trace_id=None,
    token_id="jti-1",
    expires_at=4_000_000_000,
)
SSE_ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/service/gui/stream/jobs/acme"


def _sse_event(ticket: str, channel: str = "jobs", tenant: str = "acme") -> dict[str, Any]:
    event = sample_event("rest_authorizer_request")
    for name in ("Authorization",):
        event["headers"].pop(name, None)
        event["multiValueHeaders"].pop(name, None)
    event.update(
        {
            "methodArn": SSE_ARN.replace("/jobs/acme", f"/{channel}/{tenant}"),
            "resource": "/service/gui/stream/{channel}/{tenant}",
            "path": f"/service/gui/stream/{channel}/{tenant}",
            "pathParameters": {"channel": channel, "tenant": tenant},
            "queryStringParameters": {"ticket": ticket},
            "multiValueQueryStringParameters": {"ticket": [ticket]},
        }
    )
    return event


def test_a_ticket_opens_its_stream_once_with_the_scopes_of_its_channels(keys: DevKeys) -> None:
    handler = WithTickets(keys)
    issued = handler.store.issue(CALLER, ["jobs"])
    answer = handler(_sse_event(issued.ticket), Context())
    assert answer["principalId"] == "ada@acme"
    assert answer["policyDocument"]["Statement"][0]["Resource"] == SSE_ARN  # this request only
    assert answer["context"]["scopes"] == "gui:jobs"
    assert answer["context"]["expires_at"] == 4_000_000_000  # the token's: a connection outlives neither
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(_sse_event(issued.ticket), Context())  # spent


@pytest.mark.parametrize("case", ["another channel", "another tenant", "expired token"])
def test_a_ticket_opens_nothing_else(keys: DevKeys, case: str) -> None:
    handler = WithTickets(keys)
    caller = replace(CALLER, expires_at=int(time.time()) - 31) if case == "expired token" else CALLER
    issued = handler.store.issue(caller, ["jobs"])
    event = _sse_event(issued.ticket)
    if case == "another channel":
        event = _sse_event(issued.ticket, channel="notifications")
    elif case == "another tenant":
        event = _sse_event(issued.ticket, tenant="globex")
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(event, Context())


def test_a_ticket_store_that_cannot_answer_is_an_authorizer_failure(keys: DevKeys) -> None:
    handler = WithTickets(keys, down=True)
    with pytest.raises(Exception) as failed:  # any error but Unauthorized
        handler(_sse_event("t" * 43), Context())
    assert str(failed.value) != "Unauthorized"
    (outage,) = [line for line in handler.lines() if line["message"] == "cannot verify tokens now"]
    assert _metrics(outage) == ["AuthorizerUnavailable"]
    assert "ticket store" in outage["reason"]


def test_a_token_request_imports_no_boto3_and_a_ticket_request_does(keys: DevKeys, tmp_path: Path) -> None:
    """The header path's cold start does not grow: the ticket store and boto3 come with a ticket."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import json, os, sys\n"
        "from local.apigw import sample_event\n"
        "sys.path[:0] = ['functions', 'layers/core/python']\n"
        "from gui_authorizer import handler as module\n"
        "event = sample_event('rest_authorizer_request')\n"
        "event['headers']['Authorization'] = 'Bearer ' + os.environ['TOKEN']\n"
        "module.handler(event, None)\n"
        "after_token = 'boto3' in sys.modules\n"
        "try:\n"
        "    module.handler(json.loads(os.environ['TICKET_EVENT']), None)\n"
        "except Exception:\n"
        "    pass\n"
        "print(json.dumps([after_token, 'boto3' in sys.modules]))\n"
    )
    env = {
        **os.environ,
        "GUI_REGION": "eu-west-1",
        "GUI_JWT_ISSUER": keys.issuer,
        "GUI_JWT_AUDIENCE": keys.audience,
        "GUI_JWKS": keys.jwks_json,
        "LIMITS_TABLE": "ddgui-limits",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_MAX_ATTEMPTS": "1",
        "TOKEN": keys.mint(tenant="acme", subject="ada", scopes=["gui:jobs"]),
        "TICKET_EVENT": json.dumps(_sse_event("t" * 43)),
    }
    probe = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(probe.stdout.splitlines()[-1]) == [False, True], probe.stderr[-2000:]
