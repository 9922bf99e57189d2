"""The dashboard served from its rollups through the local runtime: the backfill migrations ran at
start (0020-0022, done for every tenant), the stores' changes reach gui_dashboard_rollups through
their streams, and the answers equal the computation over the same records (the old path)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from gui_core.date_times import parse_time
from gui_core.dynamo import Table
from gui_dashboard import logic
from gui_dashboard.logic import TimeRange
from gui_dashboard.models import Dashboard, ModuleMetrics
from gui_dashboard.repository import StoreSources
from local.runtime import LocalBackend
from stacks.manifest import (
    DASHBOARD_FUNCTION,
    DASHBOARD_ROLLUPS_FUNCTION,
    MIGRATE_FUNCTION,
    MIGRATE_WORKER_FUNCTION,
)
from tests.contract.conftest import Client, aws, group_backend, provision, table
from tests.contract.test_dashboard_contract import SCOPE, seed_alerts, seed_artifacts, seed_jobs

_numbers = itertools.count()
FUNCTIONS = (DASHBOARD_FUNCTION, DASHBOARD_ROLLUPS_FUNCTION, MIGRATE_FUNCTION, MIGRATE_WORKER_FUNCTION)


@pytest.fixture(scope="module")
def serving_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    with group_backend(tmp_path_factory, *(fn.name for fn in FUNCTIONS)) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(serving_backend: LocalBackend) -> Any:
    return aws(serving_backend, "dynamodb")


@pytest.fixture
def viewer(serving_backend: LocalBackend, ddb: Any) -> Client:
    """The seeded tenant of the dashboard's contract tests, its records counted by the consumer."""
    tenant = f"dash-roll-{next(_numbers)}"
    provision(ddb, tenant)
    seed_jobs(
        ddb,
        tenant,
        [
            ("mapping", "succeeded", 2),
            ("mapping", "succeeded", 5),
            ("mapping", "failed", 10),
            ("mapping", "running", 1),
            ("mapping", "succeeded", 24 * 8),
            ("ingest", "succeeded", 3),
        ],
    )
    seed_alerts(
        ddb,
        tenant,
        [
            ("readiness", "critical", "unread", 1),
            ("readiness", "warning", "acknowledged", 2),
            ("cost", "info", "read", 3),
        ],
    )
    seed_artifacts(
        ddb, tenant, [("mapping", "approved", 30), ("mapping", "draft", 24 * 40), ("coverage", "approved", 4)]
    )
    serving_backend.pump_table_streams()
    assert serving_backend.keys is not None
    return Client(serving_backend, serving_backend.keys, tenant, "vera", scopes=(SCOPE,))


def _old(ddb: Any, tenant: str, document: dict[str, Any], module: str | None = None) -> dict[str, Any]:
    """The computation over the stores' records, for the answer's range (the routes' old path)."""
    start, end = parse_time(document["range"]["from"]), parse_time(document["range"]["to"])
    assert start is not None
    assert end is not None
    period = TimeRange(start, end)
    sources = StoreSources(
        jobs=Table(table("jobs"), ddb),
        inbox=Table(table("inbox"), ddb),
        artifacts=Table(table("artifacts"), ddb),
    )
    if module is None:
        records = sources.records(tenant, TimeRange(period.previous().start, period.end))
        return logic.dashboard_document(period, records, as_of=start)
    return logic.metrics_document(
        module, period, document["bucket"], sources.records(tenant, period), as_of=start
    )


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """Figures and breakdowns, the run-time percentiles rounded to 1 % (they come from bins)."""
    found: dict[str, Any] = {"breakdown": document.get("breakdown"), "points": document.get("points")}
    for module in document.get("modules", []):
        found[module["module"]] = (
            {
                f["name"]: (
                    round(f["value"], -1) if f["name"].startswith("duration_p") and f["value"] else f["value"]
                )
                for f in module["figures"]
            },
            module["breakdown"],
        )
    return found


def test_the_dashboard_is_served_from_the_rollups_as_the_records_would_answer(
    viewer: Client, ddb: Any
) -> None:
    for preset in logic.PRESETS:
        answer = viewer.call("GET", "/dashboard", query=f"range={preset}")
        assert answer.status == 200, answer.body[:300]
        document = answer.json()
        Dashboard.model_validate(document)
        assert document["range"]["to"].endswith(":00:00.000+00:00")  # whole hours: the buckets'
        assert _comparable(document) == _comparable(_old(ddb, viewer.tenant, document))
    mapping = {
        f["name"]: f for f in next(m for m in document["modules"] if m["module"] == "mapping")["figures"]
    }
    # The last preset, 30d, holds the job of 8 days ago too.
    assert (mapping["jobs"]["value"], mapping["artifacts_total"]["value"]) == (5, 2)


def test_module_series_are_served_from_the_rollups(viewer: Client, ddb: Any) -> None:
    for query in ("range=24h", "range=30d&bucket=1d", "from=2026-01-01T00:00:00Z&to=2026-01-08T00:00:00Z"):
        answer = viewer.call("GET", "/metrics/mapping", query=query)
        assert answer.status == 200, answer.body[:300]
        document = answer.json()
        ModuleMetrics.model_validate(document)
        assert _comparable(document) == _comparable(_old(ddb, viewer.tenant, document, "mapping"))


def test_an_explicit_range_is_answered_from_the_buckets_without_a_cache_entry(
    viewer: Client, ddb: Any
) -> None:
    query = "from=2026-02-01T10:30:00Z&to=2026-02-08T00:00:00Z"
    first = viewer.call("GET", "/dashboard", query=query).json()
    aligned = {"from": "2026-02-01T10:00:00.000+00:00", "to": "2026-02-08T00:00:00.000+00:00"}
    assert first["range"] == aligned
    assert first["source"] == "computed"
    items = ddb.query(
        TableName=table("metrics"),
        KeyConditionExpression="pk = :t AND begins_with(sk, :c)",
        ExpressionAttributeValues={":t": {"S": viewer.tenant}, ":c": {"S": "CACHE#"}},
    )["Items"]
    assert items == []


def test_a_change_reaches_the_next_recompute(viewer: Client, ddb: Any, serving_backend: LocalBackend) -> None:
    before = viewer.call(
        "GET", "/dashboard", query="from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z"
    ).json()
    seed_jobs(ddb, viewer.tenant, [("mapping", "failed", 0.5)])
    serving_backend.pump_table_streams()
    now = viewer.call(
        "GET", "/metrics/mapping", query="from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z"
    ).json()
    assert before["source"] == now["source"] == "computed"
    series = viewer.call("GET", "/metrics/mapping", query="range=24h").json()
    assert sum(p["values"]["jobs_failed"] for p in series["points"]) == 2
