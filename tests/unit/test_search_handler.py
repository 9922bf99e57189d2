"""The search function's Lambda entry (`rest_handler`: Powertools, Mangum, FastAPI, the guard) over
an index of tests/fixtures/search_corpus.json: what the handler's own path (issue 17's cuts) must
keep. A viewer's hit is the licensed caller's hit with the tenant's restricted fields removed or
masked, and the index's stored documents stay whole; FastAPI's operation spans are off by default
(SEARCH_OPERATION_SPANS), its server span and the REST span are not."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aws_lambda_powertools import Logger, Metrics
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gui_core import tracing
from gui_core.cursors import Cursors, StaticCursorKeys
from gui_core.guard import Guard
from gui_core.masking import MASK
from gui_core.observability import LambdaHandler, rest_handler
from gui_core.rate_limit import RateLimiter
from gui_core.tenancy import TenantDirectory
from gui_search.app import create_app
from gui_search.index import SearchIndex
from gui_search.settings import SearchSettings
from gui_search.store import IndexManifest
from local.apigw import HttpRequest, proxy_event
from local.memory_table import MemoryTable
from tests.fakes import FakeAudit, FakeCounters, FakeLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

CORPUS: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "search_corpus.json").read_text()
)
PATH = "/service/gui/search"
RESTRICTED = {"source_text": "remove", "licensing_notes": "mask"}
TENANT = {
    "pk": "acme",
    "sk": "tenant",
    "home_region": "eu-west-1",
    "license_policy": {"license_tag": "SNOMED-affiliate", "restricted_fields": RESTRICTED},
}
CONTEXT = FakeLambdaContext("ddgui-gui-search")
VIEWER = "gui:search"
LICENSED = "gui:search gui:license:restricted"


class OneIndex:
    """The container's indexes: acme's, already open (`LocalIndexes.get`'s answer)."""

    def __init__(self, index: SearchIndex) -> None:
        self.index = index
        self.manifest = IndexManifest("acme", 3, len(CORPUS), "2026-12-07T09:00:00+00:00")

    def get(self, tenant: str) -> tuple[SearchIndex | None, IndexManifest | None]:
        return (self.index, self.manifest) if tenant == "acme" else (None, None)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchIndex]:
    built = SearchIndex.create(tmp_path_factory.mktemp("search") / "index")
    built.upsert(CORPUS)
    built.commit()
    yield built
    built.close()


def search_handler(index: SearchIndex, tmp_path: Path, **environment: str) -> LambdaHandler:
    fields: dict[str, Any] = {  # by alias, as the function's environment names them
        "POWERTOOLS_SERVICE_NAME": "gui_search",
        "GUI_REGION": "eu-west-1",
        "AUDIT_TABLE": "audit",
        "TENANTS_TABLE": "tenants",
        "LIMITS_TABLE": "limits",
        "DATA_BUCKET": "data",
        "SEARCH_CACHE_DIR": str(tmp_path),
        **environment,
    }
    settings = SearchSettings(**fields)
    guard = Guard(
        region="eu-west-1",
        region_urls={},
        tenants=TenantDirectory(MemoryTable([TENANT])),
        rate_limiter=RateLimiter(FakeCounters()),
        replay=None,
    )
    app = create_app(settings, indexes=OneIndex(index), guard=guard, audit=FakeAudit())  # type: ignore[arg-type]
    app.state.cursors = Cursors(StaticCursorKeys(b"k" * 32))
    # A logger of its own, writing nowhere (Powertools configures a service's logger once per process).
    logger = Logger(
        service=f"gui_search_test_{uuid.uuid4().hex[:8]}", logger_handler=logging.StreamHandler(io.StringIO())
    )
    return rest_handler(
        app, logger=logger, metrics=Metrics(namespace="DomainDetermine/GUI", service="gui_search")
    )


def search(handler: LambdaHandler, scopes: str, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    authorizer = {"principalId": "otto@acme", "tenant": "acme", "subject": "otto@acme", "scopes": scopes,
                  "roles": "viewer", "region": "eu-west-1", "expires_at": 4_000_000_000}  # fmt: skip
    event = proxy_event(
        HttpRequest(
            "GET", PATH, headers=(("Accept", "application/json"),), query=urlencode(params, doseq=True)
        ),
        resource=PATH,
        path_parameters={},
        authorizer=authorizer,
        stage="prod",
        host="a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
    )
    answer = handler(event, CONTEXT)
    assert answer["statusCode"] == 200, answer["body"]
    return answer, json.loads(answer["body"])


def test_a_viewer_s_hit_is_the_licensed_hit_with_the_restricted_fields_treated(
    index: SearchIndex, tmp_path: Path
) -> None:
    handler = search_handler(index, tmp_path)
    # Browsing (no query text): the same hits in the same order for both callers, whatever they may search.
    _, viewer = search(handler, VIEWER, limit=100)
    _, licensed = search(handler, LICENSED, limit=100)
    assert [h["id"] for h in viewer["hits"]] == [h["id"] for h in licensed["hits"]]
    treated = 0
    for seen, whole in zip(viewer["hits"], licensed["hits"], strict=True):
        expected = {**whole, "source_text": None}  # removed: the model's default
        if whole["licensing_notes"] is not None:
            expected["licensing_notes"] = MASK
        treated += seen != whole
        assert seen == expected
    assert treated > 0  # the corpus holds restricted values
    assert viewer["license"] == {
        "tag": "SNOMED-affiliate",
        "masked_fields": ["licensing_notes", "source_text"],
    }
    assert licensed["license"] == {"tag": "SNOMED-affiliate", "masked_fields": []}
    # The viewer's masking left the stored documents whole: a licensed search reads them again.
    _, again = search(handler, LICENSED, limit=100)
    assert again["hits"] == licensed["hits"]
    assert any(h["source_text"] for h in again["hits"])


def test_a_ranked_viewer_page_has_the_platform_s_headers_and_no_restricted_value(
    index: SearchIndex, tmp_path: Path
) -> None:
    answer, body = search(search_handler(index, tmp_path), VIEWER, q="snomed", limit=5)
    headers = answer["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert "x-ratelimit-limit" in headers
    assert body["mode"] == "search"
    assert body["hits"]
    assert body["next_cursor"]
    assert all(h["source_text"] is None and h["licensing_notes"] in (None, MASK) for h in body["hits"])


def _span_names(handler: LambdaHandler, spans: InMemorySpanExporter) -> list[tuple[str, str]]:
    spans.clear()
    search(handler, VIEWER, q="snomed")
    finished = spans.get_finished_spans()
    return sorted((s.instrumentation_scope.name if s.instrumentation_scope else "", s.name) for s in finished)


def test_fastapi_s_operation_spans_are_off_unless_asked_for(index: SearchIndex, tmp_path: Path) -> None:
    request_spans = [("fastapi", f"GET {PATH}"), ("gui_core.observability", f"GET {PATH}")]
    operations = [("fastapi", f"fastapi.{name}") for name in ("dependencies", "endpoint", "serialization")]
    with tracing.captured() as spans:
        assert _span_names(search_handler(index, tmp_path), spans) == request_spans
        asked = search_handler(index, tmp_path, SEARCH_OPERATION_SPANS="true")
        assert _span_names(asked, spans) == sorted(request_spans + operations)
