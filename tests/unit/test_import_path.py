"""What a cold start leaves out of its import path (issue 17): modules a first request does not need
are imported on first use. Each check imports a module in a fresh interpreter and lists what is
loaded, so the other tests of a run (which import everything) cannot hide a regression."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gui_core.migrations import keys
from gui_core.migrations.gate import MigrationGate
from gui_core.migrations.keys import RUN_SK, TENANT_PREFIX
from gui_core.migrations.model import Status

ROOT = Path(__file__).resolve().parents[2]


def loaded_after(module: str, *watched: str) -> list[str]:
    """Which of `watched` are in sys.modules after importing `module` in a new interpreter."""
    code = (
        f"import json, sys\nimport {module}\n"
        f"print(json.dumps([m for m in {list(watched)!r} if m in sys.modules]))"
    )
    probe = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'layers' / 'core' / 'python'}:{ROOT / 'functions'}", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    loaded: list[str] = json.loads(probe.stdout.splitlines()[-1])
    return loaded


def test_the_gate_imports_neither_the_ledger_nor_the_migration_model() -> None:
    assert (
        loaded_after(
            "gui_core.migrations.gate",
            "gui_core.migrations.ledger",
            "gui_core.migrations.model",
            "gui_core.migrations.targets",
            "gui_core.objects",
        )
        == []
    )


def test_the_gate_reads_the_keys_and_the_status_the_ledger_writes() -> None:
    assert (keys.RUN_SK, keys.TENANT_PREFIX) == (RUN_SK, TENANT_PREFIX)
    assert Status.DONE.value == keys.DONE


@pytest.mark.parametrize(
    ("run", "checkpoint", "done"),
    [(Status.DONE, None, True), (Status.RUNNING, Status.DONE, True), (Status.RUNNING, Status.RUNNING, False)],
)
def test_the_gate_answers_from_the_ledgers_items(run: Status, checkpoint: Status | None, done: bool) -> None:
    items: dict[tuple[str, str], dict[str, Any]] = {("m1", RUN_SK): {"status": run.value}}
    if checkpoint is not None:
        items["m1", f"{TENANT_PREFIX}acme"] = {"status": checkpoint.value}

    class Ledger:
        def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict[str, Any] | None:
            return items.get((key["pk"], key["sk"]))

    assert MigrationGate(Ledger()).done("m1", "acme") is done


def test_the_websocket_function_imports_the_notifications_on_the_first_ack() -> None:
    assert (
        loaded_after(
            "gui_realtime.app",
            "gui_notifications.repository",
            "gui_notifications.models",
            "gui_notifications.use_cases",
        )
        == []
    )


def test_the_lazy_inbox_makes_one_repository_on_its_first_use() -> None:
    from gui_notifications.repository import InboxRepository
    from gui_realtime.app import lazy_inbox
    from local.memory_table import MemoryTable

    table = MemoryTable()
    inbox = lazy_inbox(table, retention_days=30)  # type: ignore[arg-type]  # a Table's fake
    made = inbox()
    assert isinstance(made, InboxRepository)
    assert inbox() is made
    assert lazy_inbox(table, retention_days=30)() is not made  # type: ignore[arg-type]  # one per service
