"""Contract of the dashboard endpoints through the real authorizer and handler: schemas, scope,
tenant isolation, the metrics cache (computed, then cache), unknown modules, invalid ranges and the
`dashboard` rate class. Test data goes straight into the jobs, inbox and artifacts stores."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_core.date_times import parse_time
from gui_core.dynamo import Table, to_dynamo
from gui_dashboard.cache import dashboard_key
from gui_dashboard.logic import TimeRange
from gui_dashboard.models import Dashboard, ModuleMetrics
from gui_jobs.logic import new_job, new_job_id
from gui_jobs.repository import JobsRepository
from gui_notifications.logic import notification_id
from gui_notifications.repository import InboxRepository
from local.runtime import LocalBackend
from stacks.manifest import DASHBOARD_FUNCTION
from tests.contract.conftest import Client, aws, group_backend, problem, provision, table

_numbers = itertools.count()
SCOPE = "gui:dashboard"


@pytest.fixture(scope="module")
def dashboard_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    # Only the dashboard function: the bus rules of other groups would need their functions.
    with group_backend(tmp_path_factory, DASHBOARD_FUNCTION.name) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(dashboard_backend: LocalBackend) -> Any:
    return aws(dashboard_backend, "dynamodb")


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def seed_jobs(ddb: Any, tenant: str, plan: list[tuple[str, str, float]]) -> None:
    """(verb, status, hours ago); ended jobs ran for 10 minutes."""
    repository = JobsRepository(Table(table("jobs"), ddb))
    now = datetime.now(UTC)
    for verb, status, hours in plan:
        requested = now - timedelta(hours=hours)
        record = new_job(
            job_id=new_job_id(int(requested.timestamp() * 1000)),
            verb=verb,
            parameters={},
            actor="seed",
            at=_iso(requested),
        )
        if status in {"succeeded", "failed", "cancelled"}:
            record["started_at"] = _iso(requested)
            record["finished_at"] = _iso(requested + timedelta(minutes=10))
        record["status"] = status
        repository.create(tenant, record)


def seed_alerts(ddb: Any, tenant: str, plan: list[tuple[str, str, str, float]]) -> None:
    """(category, severity, status, hours ago)."""
    repository = InboxRepository(Table(table("inbox"), ddb), retention_days=90)
    now = datetime.now(UTC)
    for n, (category, severity, status, hours) in enumerate(plan):
        created = now - timedelta(hours=hours)
        repository.append(
            tenant,
            {
                "id": notification_id(created, f"{tenant}:{n}"),
                "category": category,
                "severity": severity,
                "title": f"{category} alert {n}",
                "status": status,
                "created_at": created.isoformat(),
            },
        )


def seed_artifacts(ddb: Any, tenant: str, plan: list[tuple[str, str, float]]) -> None:
    """(kind, governance status, hours ago), as the artifact registry keeps them."""
    now = datetime.now(UTC)
    for n, (kind, governance, hours) in enumerate(plan):
        at = _iso(now - timedelta(hours=hours))
        item = {
            "pk": tenant,
            "sk": f"ART#{kind}-{n}",
            "id": f"{kind}-{n}",
            "kind": kind,
            "governance_status": governance,
            "license_tag": "CC-BY-4.0",
            "created_at": at,
            "updated_at": at,
        }
        ddb.put_item(TableName=table("artifacts"), Item=to_dynamo(item))


@pytest.fixture
def viewer(dashboard_backend: LocalBackend, ddb: Any) -> Client:
    """A tenant with mapping jobs, readiness alerts and artifacts; another tenant with other data."""
    n = next(_numbers)
    tenant, other = f"dash-{n}", f"dash-{n}-other"
    provision(ddb, tenant)
    provision(ddb, other)
    seed_jobs(
        ddb,
        tenant,
        [
            ("mapping", "succeeded", 2),
            ("mapping", "succeeded", 5),
            ("mapping", "failed", 10),
            ("mapping", "running", 1),
            ("mapping", "succeeded", 24 * 8),  # previous 7-day period
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
    seed_jobs(ddb, other, [("mapping", "failed", 1)] * 7)
    seed_alerts(ddb, other, [("readiness", "critical", "unread", 1)] * 4)
    seed_artifacts(ddb, other, [("mapping", "approved", 1)] * 5)
    assert dashboard_backend.keys is not None
    return Client(dashboard_backend, dashboard_backend.keys, tenant, f"vera-{n}", scopes=(SCOPE,))


def _figures(document: dict[str, Any], module: str) -> dict[str, dict[str, Any]]:
    found = next(m for m in document["modules"] if m["module"] == module)
    return {f["name"]: f for f in found["figures"]}


def _get(client: Client, path: str, query: str = "") -> dict[str, Any]:
    answer = client.call("GET", path, query=query)
    assert answer.status == 200, answer.body[:500]
    document: dict[str, Any] = answer.json()
    return document


# -- schemas and figures -----------------------------------------------------------------------------


def test_the_dashboard_answers_figures_of_every_module_for_the_default_seven_days(viewer: Client) -> None:
    document = _get(viewer, "/dashboard")
    Dashboard.model_validate(document)
    assert document["source"] == "computed"
    start, end = parse_time(document["range"]["from"]), parse_time(document["range"]["to"])
    assert start is not None
    assert end is not None
    assert end - start == timedelta(days=7)
    assert document["previous_range"]["to"] == document["range"]["from"]
    assert {m["module"] for m in document["modules"]} == {
        "ingestion",
        "coverage",
        "mapping",
        "overlay",
        "readiness",
        "prompt_pack",
        "governance",
        "cost",
    }
    mapping = _figures(document, "mapping")
    assert mapping["jobs"]["value"] == 4
    assert mapping["jobs"]["previous"] == 1
    assert mapping["jobs"]["trend"] == {"delta": 3, "percent": 300.0, "direction": "up"}
    assert mapping["success_rate"]["value"] == pytest.approx(2 / 3, abs=1e-4)
    assert mapping["duration_p50_s"]["value"] == 600.0
    assert mapping["artifacts_total"]["value"] == 2
    assert mapping["artifacts_published"]["value"] == 1
    readiness = _figures(document, "readiness")
    assert readiness["alerts_open"]["value"] == 1
    assert readiness["alerts_critical_open"]["value"] == 1
    assert _figures(document, "ingestion")["jobs"]["value"] == 1
    assert _figures(document, "governance")["artifacts_total"]["value"] == 3
    assert _figures(document, "cost")["cost_usd"]["value"] > 0


def test_module_metrics_answer_a_series_and_a_breakdown(viewer: Client) -> None:
    document = _get(viewer, "/metrics/mapping", "range=24h")
    ModuleMetrics.model_validate(document)
    assert document["bucket"] == "1h"
    assert 24 <= len(document["points"]) <= 25
    assert sum(p["values"]["jobs"] for p in document["points"]) == 4
    assert document["breakdown"]["jobs_by_status"] == {"failed": 1, "running": 1, "succeeded": 2}
    assert document["points"][0]["start"] == document["range"]["from"]
    assert document["points"][-1]["end"] == document["range"]["to"]


def test_a_bucket_is_chosen_from_the_range_or_taken_as_given(viewer: Client) -> None:
    assert _get(viewer, "/metrics/readiness", "range=30d")["bucket"] == "6h"
    given = _get(viewer, "/metrics/readiness", "range=30d&bucket=1d")
    assert given["bucket"] == "1d"
    assert len(given["points"]) in {30, 31}
    problem(viewer.call("GET", "/metrics/readiness", query="range=30d&bucket=1h"), 422, "too_many_points")


def test_explicit_from_and_to(viewer: Client) -> None:
    document = _get(viewer, "/dashboard", "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z")
    assert document["range"] == {
        "from": "2026-01-01T00:00:00.000+00:00",
        "to": "2026-01-02T00:00:00.000+00:00",
    }
    assert _figures(document, "mapping")["jobs"]["value"] == 0


# -- the metrics cache -------------------------------------------------------------------------------


def test_a_second_call_is_answered_from_the_cache(viewer: Client, ddb: Any) -> None:
    query = "from=2026-02-01T00:00:00Z&to=2026-02-08T00:00:00Z"
    first = _get(viewer, "/dashboard", query)
    second = _get(viewer, "/dashboard", query)
    assert (first["source"], second["source"]) == ("computed", "cache")
    assert second["as_of"] == first["as_of"]
    assert {k: v for k, v in second.items() if k != "source"} == {
        k: v for k, v in first.items() if k != "source"
    }
    series = [_get(viewer, "/metrics/cost", query)["source"] for _ in range(2)]
    assert series == ["computed", "cache"]
    period = TimeRange(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 8, tzinfo=UTC))
    item = ddb.get_item(
        TableName=table("metrics"), Key=to_dynamo(dashboard_key(viewer.tenant, period).item_key())
    )
    assert item["Item"]["producer"]["S"] == "dashboard"
    assert int(item["Item"]["expires_at"]["N"]) > datetime.now(UTC).timestamp()


def test_a_cache_entry_written_by_another_producer_is_served(viewer: Client, ddb: Any) -> None:
    """The telemetry aggregation writes the same items: the dashboard serves them as they are."""
    period = TimeRange(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    answer = _get(viewer, "/dashboard", "from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z")
    document = {k: v for k, v in answer.items() if k != "source"}
    document["as_of"] = "2026-03-02T00:05:00Z"
    key = dashboard_key(viewer.tenant, period)
    item = {
        **key.item_key(),
        "kind": "metrics_cache",
        "schema": 1,
        "document": json.dumps(document),
        "producer": "telemetry",
        "computed_at": document["as_of"],
        "expires_at": int(datetime.now(UTC).timestamp()) + 600,
    }
    ddb.put_item(TableName=table("metrics"), Item=to_dynamo(item))
    again = _get(viewer, "/dashboard", "from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z")
    assert (again["source"], again["as_of"]) == ("cache", "2026-03-02T00:05:00Z")


# -- security and tenancy ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/dashboard", "/metrics/mapping"])
def test_calls_without_a_token_or_the_dashboard_scope_are_refused(viewer: Client, path: str) -> None:
    problem(viewer.call("GET", path, token=None), 401, "unauthorized")
    other = Client(viewer.backend, viewer.keys, viewer.tenant, viewer.subject, scopes=("gui:jobs",))
    problem(other.call("GET", path), 403, "insufficient_scope")


def test_figures_come_from_the_callers_tenant_only(viewer: Client) -> None:
    mine = _get(viewer, "/dashboard", "range=24h")
    theirs = _get(
        Client(viewer.backend, viewer.keys, f"{viewer.tenant}-other", "olga", scopes=(SCOPE,)),
        "/dashboard",
        "range=24h",
    )
    assert _figures(mine, "mapping")["jobs"]["value"] == 4
    assert _figures(mine, "mapping")["jobs_failed"]["value"] == 1
    assert _figures(mine, "readiness")["alerts_raised"]["value"] == 2
    assert _figures(theirs, "mapping")["jobs"]["value"] == 7
    assert _figures(theirs, "mapping")["jobs_failed"]["value"] == 7
    assert _figures(theirs, "readiness")["alerts_raised"]["value"] == 4
    assert _figures(theirs, "governance")["artifacts_total"]["value"] == 5
    assert _figures(theirs, "ingestion")["jobs"]["value"] == 0


# -- invalid input -----------------------------------------------------------------------------------


def test_an_unknown_module_is_404(viewer: Client) -> None:
    body = problem(viewer.call("GET", "/metrics/weather"), 404, "unknown_module")
    assert body["module"] == "weather"


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-02-02T00:00:00Z&to=2026-02-01T00:00:00Z",
        "from=2025-01-01T00:00:00Z&to=2026-01-03T00:00:00Z",
        "range=90d",
        "range=7d&from=2026-02-01T00:00:00Z",
        "from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z",  # no previous period before it
    ],
)
@pytest.mark.parametrize("path", ["/dashboard", "/metrics/mapping"])
def test_invalid_ranges_are_422(viewer: Client, path: str, query: str) -> None:
    problem(viewer.call("GET", path, query=query), 422, "invalid_range")


@pytest.mark.parametrize("query", ["from=last-tuesday", "to=1700000000"])
@pytest.mark.parametrize("path", ["/dashboard", "/metrics/mapping"])
def test_a_bound_that_is_no_date_time_is_422_at_its_parameter(viewer: Client, path: str, query: str) -> None:
    body = problem(viewer.call("GET", path, query=query), 422, "validation_failed")
    assert [e["pointer"] for e in body["errors"]] == ["/" + query.partition("=")[0]]


def test_an_unknown_bucket_is_422(viewer: Client) -> None:
    problem(viewer.call("GET", "/metrics/mapping", query="bucket=5m"), 422, "invalid_range")


# -- rate limits -------------------------------------------------------------------------------------


def test_the_dashboard_rate_class_limits_the_tenant(dashboard_backend: LocalBackend, ddb: Any) -> None:
    tenant = f"dash-limited-{next(_numbers)}"
    provision(ddb, tenant, rate_limits={"dashboard": 3})
    assert dashboard_backend.keys is not None
    client = Client(dashboard_backend, dashboard_backend.keys, tenant, "lena", scopes=(SCOPE,))
    statuses = [client.call("GET", path).status for path in ("/dashboard", "/metrics/cost", "/dashboard")]
    assert statuses == [200, 200, 200]
    body = problem(client.call("GET", "/metrics/mapping"), 429, "rate_limited")
    assert body["route_class"] == "dashboard"
