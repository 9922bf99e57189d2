"""The migration engine as both functions (and `ddgui migrate` on the local runtime) build it: the
registered migrations over the region's tables, its homed tenants and its work queue."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gui_core.dynamo import Table
from gui_core.metric_names import MetricName
from gui_core.migrations.engine import Engine, RunIdentity, WorkQueue
from gui_core.migrations.ledger import Ledger
from gui_core.migrations.model import Migration
from gui_core.migrations.targets import ObjectFiles, pager_for
from gui_core.tenancy import homed_tenants
from gui_migrate.registry import MIGRATIONS


def build_engine(
    *,
    region: str,
    tenants: Table,
    migrations: Table,
    tables: Mapping[str, Table],
    queue: WorkQueue,
    identity: RunIdentity,
    files: ObjectFiles | None = None,
    count: Callable[[MetricName, float], None] | None = None,
    page_size: int = 100,
    inline_max_items: int = 2000,
    registry: tuple[Migration, ...] = MIGRATIONS,
) -> Engine:
    """`tables`: the stores the migrations change, by manifest name; `files`: the data bucket, for
    object migrations (None: the functions are not granted it)."""
    extra: dict[str, Any] = {"count": count} if count is not None else {}
    return Engine(
        registry,
        ledger=Ledger(migrations),
        pager=lambda migration: pager_for(migration, tables=tables, files=files),
        tenants=lambda: [tenant.id for tenant in homed_tenants(tenants, region)],
        queue=queue,
        identity=identity,
        page_size=page_size,
        inline_max_items=inline_max_items,
        **extra,
    )
