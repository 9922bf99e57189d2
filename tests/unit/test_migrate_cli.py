"""`ddgui migrate` against a deployed region: the region's deploy-step function invoked with the action
(local/migrate.py), on a stand-in of the Lambda client."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from local.migrate import DeployedMigrations, MigrateError, render


class Lambda:
    def __init__(self, answer: dict[str, Any], *, error: bool = False) -> None:
        self.answer = answer
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        reply: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.answer).encode())}
        if self.error:
            reply["FunctionError"] = "Unhandled"
        return reply


def test_an_action_invokes_the_function_with_the_operator_named() -> None:
    client = Lambda({"action": "plan", "plans": []})
    region = DeployedMigrations("eu-west-1", "DdGui-eu-west-1-Migrate", client, "arn:aws:iam::1:user/ops")

    answer = region.run("apply", tenant="acme", dry_run=True)

    (call,) = client.calls
    assert answer == {"action": "plan", "plans": []}
    assert (call["FunctionName"], call["InvocationType"]) == ("DdGui-eu-west-1-Migrate", "RequestResponse")
    assert json.loads(call["Payload"]) == {
        "action": "apply",
        "tenant": "acme",
        "dry_run": True,
        "requested_by": "arn:aws:iam::1:user/ops",
    }


def test_a_function_error_is_the_commands_error_with_its_message() -> None:
    client = Lambda(
        {"errorMessage": "migration 0001_x failed (version 1) ...", "errorType": "MigrationBlocked"},
        error=True,
    )
    region = DeployedMigrations("eu-west-1", "f", client, "me")

    with pytest.raises(MigrateError, match=r"f: migration 0001_x failed \(version 1\)"):
        region.run("apply")


def test_render_shows_status_plans_and_steps() -> None:
    lines: list[str] = []
    render(
        {
            "migrations": [
                {
                    "migration": "0001_x",
                    "status": "failed",
                    "phase": "expand",
                    "version": 1,
                    "target": "store:inbox",
                    "run": {
                        "tenants": {"done": 1, "total": 2},
                        "counts": {"changed": 5, "scanned": 9},
                        "mode": "queued",
                        "error": {"tenant": "acme", "version": 1, "message": "boom"},
                    },
                    "tenants": {"done": 1, "failed": 1},
                    "in_progress": {"changed": 3},
                }
            ],
            "steps": [{"migration": "0001_x", "action": "queued", "tenants": 2, "counts": {}, "detail": "d"}],
        },
        lines.append,
    )

    assert "tenants 1/2" in lines[0]
    assert "changed 5 of 9" in lines[0]
    assert any("error (tenant acme, version 1): boom" in line for line in lines)
    assert lines[-1] == "0001_x: queued, 2 tenant(s) (d)"
