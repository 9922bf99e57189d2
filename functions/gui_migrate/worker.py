"""Lambda entry point of the migration worker: the SQS mapping of `migration-work` invokes it with
one work item (migration, tenant) per message."""

from __future__ import annotations

from typing import Any

from gui_migrate.settings import MigrateSettings

settings = MigrateSettings()  # type: ignore[call-arg]  # fields come from the environment


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NotImplementedError("gui_migrate: the migration engine is not in this version yet")
