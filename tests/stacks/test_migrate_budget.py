"""The deploy step answers before the stack's trigger stops waiting for it."""

from __future__ import annotations

from stacks.constructs.migrations import trigger_timeout_s
from stacks.manifest import MANIFEST


def test_the_deploy_steps_budget_ends_before_the_trigger_stops_waiting() -> None:
    fn = MANIFEST.function("gui_migrate")
    reserve_s = float(fn.environment["MIGRATION_RESERVE_S"])

    assert fn.timeout_s - reserve_s < trigger_timeout_s(fn)
