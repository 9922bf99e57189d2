"""The migrations' actions as their doors ask for them (the deploy step's trigger, `ddgui migrate`
locally and through a deployed region's function): one call each, answering JSON."""

from __future__ import annotations

from typing import Any

from gui_core.migrations.engine import Engine, MigrationBlocked
from gui_core.migrations.runner import Budget, MigrationFailed

ACTIONS = ("deploy", "status", "plan", "apply")


def run_action(
    engine: Engine,
    action: str,
    budget: Budget,
    *,
    tenant: str | None = None,
    dry_run: bool = False,
    function_version: int | None = None,
) -> dict[str, Any]:
    """`deploy` (the trigger's), `status`, `plan` (and `apply` with `dry_run`: what would change,
    nothing written) or `apply`. A migration that fails or cannot proceed raises
    `MigrationBlocked` with what to do."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    if action == "status":
        return {"action": action, "migrations": [state.as_dict() for state in engine.status()]}
    if action == "plan" or (action == "apply" and dry_run):
        plans = engine.plan(budget, tenant=tenant)
        return {"action": action, "dry_run": True, "plans": [plan.as_dict() for plan in plans]}
    try:
        steps = (
            engine.deploy(budget, function_version=function_version)
            if action == "deploy"
            else engine.apply(budget, tenant=tenant)
        )
    except MigrationFailed as exc:
        raise MigrationBlocked(
            f"{exc}. The ledger keeps the error and the tenant's checkpoint: fix the migration and raise "
            "its version (the next deploy resumes from the checkpoint), or fix the data and run "
            "`ddgui migrate apply`."
        ) from exc
    return {"action": action, "steps": [step.as_dict() for step in steps]}
