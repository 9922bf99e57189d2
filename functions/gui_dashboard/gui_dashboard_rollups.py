"""Lambda entry point of the dashboard's rollups: the jobs, inbox and artifacts stores' streams."""

from __future__ import annotations

from typing import Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from pydantic import Field

    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.settings import FunctionSettings
    from gui_dashboard.rollup_events import apply_records
    from gui_dashboard.rollup_store import RollupStore

    class RollupSettings(FunctionSettings):
        metrics_table: str = Field(alias="METRICS_TABLE")
        # {store: table name} of the stores whose streams feed this function (GUI_STREAM_STORES).
        stream_stores: dict[str, str] = Field(default_factory=dict, alias="GUI_STREAM_STORES")

    settings = RollupSettings()  # type: ignore[call-arg]  # fields come from the environment
    rollups = RollupStore(Table(settings.metrics_table, dynamodb_client(settings.region)))
    stores = {table: store for store, table in settings.stream_stores.items()}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"batchItemFailures": apply_records(event.get("Records", []), rollups, stores)}
