"""Lambda entry point of the deploy step of the schema migrations (the stack's trigger invokes it
with an empty event; the CLI with `{"action": "status" | "plan" | "apply"}`)."""

from __future__ import annotations

from typing import Any

from gui_migrate.settings import MigrateSettings

settings = MigrateSettings()  # type: ignore[call-arg]  # fields come from the environment


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    raise NotImplementedError("gui_migrate: the migration engine is not in this version yet")
