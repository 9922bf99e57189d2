"""The dashboard's `telemetry` block through the real app (REST proxy events built from
events/aws/rest_proxy_request.json, Mangum, the guard): the cached aggregate of the range's preset
when there is a live item, `pending` when it is missing or expired, `preset_only` for `from`/`to`;
`/metrics/{module}` answers the module's slice. The aggregate is the real one of the aggregation's
test facts, so the answers also prove that it fits the OpenAPI models."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mangum import Mangum

from gui_core.date_times import parse_time
from gui_core.guard import Guard
from gui_core.rate_limit import RateLimiter
from gui_core.tenancy import TenantDirectory
from gui_dashboard.app import create_app
from gui_dashboard.cache import AnyKey, cache_item, cached_document, telemetry_key
from gui_dashboard.logic import SourceRecords, TimeRange
from gui_dashboard.models import Dashboard, ModuleMetrics, Telemetry
from gui_dashboard.settings import DashboardSettings
from gui_dashboard.telemetry import module_slice
from gui_telemetry.aggregate import aggregate
from local.apigw import HttpRequest, proxy_event
from local.memory_table import MemoryTable
from tests.fakes import FakeAudit, FakeCounters
from tests.unit.realtime_support import TENANTS
from tests.unit.test_telemetry_aggregate import DAY, JOBS, NOW, OTHERS, write

AUTH = {
    "principalId": "user-ada",
    "tenant": "acme",
    "subject": "user-ada",
    "scopes": "gui:dashboard",
    "roles": "",
    "region": "eu-west-1",
    "token_id": "0b8f6c1e-5d1e-4c77-8d8a-6a3f1f0f7a21",
    "expires_at": 4_000_000_000,
    "integrationLatency": 0,
}
SETTINGS = DashboardSettings(
    POWERTOOLS_SERVICE_NAME="gui_dashboard",
    GUI_REGION="eu-west-1",
    AUDIT_TABLE="audit",
    TENANTS_TABLE="tenants",
    LIMITS_TABLE="limits",
    METRICS_TABLE="metrics",
    JOBS_TABLE="jobs",
    INBOX_TABLE="inbox",
    ARTIFACTS_TABLE="artifacts",
)


class NoRecords:
    def records(self, tenant: str, span: TimeRange) -> SourceRecords:
        return SourceRecords(jobs=[], alerts=[], artifacts=[])


class MemoryCache:
    """The metrics cache in memory; remembers the keys read."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.read: list[str] = []

    def get(self, key: AnyKey, *, consistent: bool = False) -> dict[str, Any] | None:
        self.read.append(key.sk)
        return self.items.get((key.tenant, key.sk))

    def put(self, item: dict[str, Any]) -> None:
        self.items[(item["pk"], item["sk"])] = item


class Dashboards:
    def __init__(self) -> None:
        self.cache = MemoryCache()
        guard = Guard(
            region="eu-west-1",
            region_urls={},
            tenants=TenantDirectory(MemoryTable(TENANTS)),
            rate_limiter=RateLimiter(FakeCounters()),
            replay=None,
        )
        app = create_app(SETTINGS, sources=NoRecords(), cache=self.cache, audit=FakeAudit(), guard=guard)
        self.asgi = Mangum(
            app, lifespan="off", text_mime_types=["application/json", "application/problem+json"]
        )

    def cache_telemetry(
        self, preset: str, document: dict[str, Any], *, ttl: int = 900, age_s: int = 0
    ) -> None:
        """As the aggregation writes it, `age_s` seconds ago."""
        written = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=age_s)
        key = telemetry_key("acme", preset)
        self.cache.put(
            cache_item(key, {**document, "preset": preset}, now=written, ttl=ttl, producer="telemetry")
        )

    def get(self, path: str, query: str = "", *, resource: str = "/service/gui/dashboard") -> dict[str, Any]:
        parameters = {"module": path.rsplit("/", 1)[-1]} if "{module}" in resource else {}
        event = proxy_event(
            HttpRequest("GET", f"/service/gui{path}", query=query),
            resource=resource,
            path_parameters=parameters,
            authorizer=AUTH,
            stage="prod",
            host="a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
        )
        answer = self.asgi(event, None)
        assert answer["statusCode"] == 200, answer["body"][:600]
        document: dict[str, Any] = json.loads(answer["body"])
        return document

    def module(self, module: str, query: str = "") -> dict[str, Any]:
        return self.get(f"/metrics/{module}", query, resource="/service/gui/metrics/{module}")


@pytest.fixture(scope="module")
def aggregate_document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("facts")
    return aggregate([write(directory, "facts.parquet", [*JOBS, *OTHERS])], now=NOW, window=DAY)


@pytest.fixture
def dashboards() -> Dashboards:
    return Dashboards()


def test_the_dashboard_carries_the_cached_aggregate_of_its_preset(
    dashboards: Dashboards, aggregate_document: dict[str, Any]
) -> None:
    dashboards.cache_telemetry("7d", aggregate_document, age_s=120)

    answer = dashboards.get("/dashboard")

    Dashboard.model_validate(answer)
    telemetry = answer["telemetry"]
    assert (telemetry["status"], telemetry["preset"], telemetry["module"]) == ("fresh", "7d", None)
    assert telemetry["as_of"] == aggregate_document["as_of"]
    assert telemetry["range"] == aggregate_document["range"]
    for section in ("sla", "cost", "queue", "trends", "modules", "governance", "readiness", "prompt_packs"):
        assert telemetry[section] == aggregate_document[section], section
    assert telemetry["incidents"] == aggregate_document["incidents"]
    assert telemetry["facts"] == 42
    # the telemetry block is read on every answer, never stored with the dashboard's own cache entry
    (dashboard_item,) = [
        i for (_, sk), i in dashboards.cache.items.items() if sk.startswith("CACHE#dashboard")
    ]
    stored = cached_document(dashboard_item, now=parse_time(dashboard_item["computed_at"]) or NOW)
    assert stored is not None
    assert "telemetry" not in stored


def test_each_preset_reads_its_own_item(dashboards: Dashboards, aggregate_document: dict[str, Any]) -> None:
    dashboards.cache_telemetry("24h", aggregate_document)
    assert dashboards.get("/dashboard", "range=24h")["telemetry"]["status"] == "fresh"
    assert dashboards.get("/dashboard", "range=30d")["telemetry"] == {
        **dict.fromkeys(Telemetry.model_fields),
        "status": "pending",
        "preset": "30d",
    }
    assert "CACHE#telemetry#all#30d#now#-" in dashboards.cache.read


def test_a_missing_or_expired_aggregate_is_pending(
    dashboards: Dashboards, aggregate_document: dict[str, Any]
) -> None:
    assert dashboards.get("/dashboard")["telemetry"]["status"] == "pending"
    dashboards.cache_telemetry("7d", aggregate_document, ttl=900, age_s=900)  # expires now
    pending = dashboards.get("/dashboard")["telemetry"]
    assert (pending["status"], pending["preset"], pending["sla"]) == ("pending", "7d", None)
    dashboards.cache_telemetry("7d", aggregate_document, ttl=900, age_s=890)  # 10 s left
    assert dashboards.get("/dashboard")["telemetry"]["status"] == "fresh"


def test_an_item_of_another_schema_is_pending(
    dashboards: Dashboards, aggregate_document: dict[str, Any]
) -> None:
    dashboards.cache_telemetry("7d", aggregate_document)
    item = dashboards.cache.items[("acme", telemetry_key("acme", "7d").sk)]
    item["schema"] = 2
    assert dashboards.get("/dashboard")["telemetry"]["status"] == "pending"


@pytest.mark.parametrize(
    "query", ["from=2026-11-20T00:00:00Z&to=2026-11-27T00:00:00Z", "from=2026-11-25T00:00:00Z"]
)
def test_a_custom_range_is_preset_only(
    dashboards: Dashboards, aggregate_document: dict[str, Any], query: str
) -> None:
    dashboards.cache_telemetry("7d", aggregate_document)
    telemetry = dashboards.get("/dashboard", query)["telemetry"]
    assert (telemetry["status"], telemetry["preset"], telemetry["sla"]) == ("preset_only", None, None)
    assert not any(sk.startswith("CACHE#telemetry") for sk in dashboards.cache.read)


# -- a module's slice ----------------------------------------------------------------------------------


def test_a_module_answers_its_slice(dashboards: Dashboards, aggregate_document: dict[str, Any]) -> None:
    dashboards.cache_telemetry("24h", aggregate_document)

    answer = dashboards.module("mapping", "range=24h")

    ModuleMetrics.model_validate(answer)
    telemetry = answer["telemetry"]
    assert (telemetry["status"], telemetry["preset"], telemetry["module"]) == ("fresh", "24h", "mapping")
    assert [e["verb"] for e in telemetry["sla"]] == ["mapping"]
    mapping_cost = next(m for m in aggregate_document["cost"]["modules"] if m["module"] == "mapping")
    assert telemetry["cost"]["total"] == mapping_cost["cost_usd"]
    assert telemetry["cost"]["total"]["value"] == 13.6
    assert [a["alert_id"] for a in telemetry["cost"]["budget_alerts"]] == ["c1"]
    assert telemetry["queue"]["waiting"] == 0
    assert [v["verb"] for v in telemetry["queue"]["verbs"]] == ["mapping"]
    assert telemetry["queue"]["figures"] == telemetry["queue"]["verbs"][0]["figures"]
    assert [r["metric"] for r in telemetry["queue"]["reported"]] == ["queue.length"]
    assert [m["module"] for m in telemetry["modules"]] == ["mapping"]
    assert (telemetry["trends"], telemetry["governance"], telemetry["readiness"]) == (None, None, None)


def test_the_cost_module_gets_every_verb_and_the_whole_cost(aggregate_document: dict[str, Any]) -> None:
    found = module_slice(aggregate_document, "cost")
    assert len(found["sla"]) == 7
    assert found["cost"] == aggregate_document["cost"]
    assert found["queue"]["figures"] == aggregate_document["queue"]["figures"]
    assert found["queue"]["waiting"] == 2


@pytest.mark.parametrize(
    ("module", "section"),
    [("governance", "governance"), ("readiness", "readiness"), ("prompt_pack", "prompt_packs")],
)
def test_modules_with_their_own_section(
    dashboards: Dashboards, aggregate_document: dict[str, Any], module: str, section: str
) -> None:
    dashboards.cache_telemetry("7d", aggregate_document)
    telemetry = dashboards.module(module)["telemetry"]
    assert telemetry[section] == aggregate_document[section]
    others = {"governance", "readiness", "prompt_packs"} - {section}
    assert all(telemetry[other] is None for other in others)
    if module == "governance":  # no job verbs: no SLA, no cost, no queue figures
        assert (telemetry["sla"], telemetry["cost"], telemetry["queue"]["figures"]) == ([], None, [])


def test_a_module_with_a_custom_range_is_preset_only(dashboards: Dashboards) -> None:
    telemetry = dashboards.module("mapping", "from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z")["telemetry"]
    assert (telemetry["status"], telemetry["module"]) == ("preset_only", "mapping")


def test_the_aggregate_of_a_tenant_without_facts_is_served_too() -> None:
    document = aggregate([], now=NOW, window=DAY)
    dashboards = Dashboards()
    dashboards.cache_telemetry("7d", document)
    assert dashboards.get("/dashboard")["telemetry"]["sla"][0]["figures"][0]["value"] == 0
