"""gui_core.tracing: OpenTelemetry spans from the REST request through the bus into the fan-out.

A job command through the real jobs app behind `rest_handler` (REST proxy events built from
events/aws/rest_proxy_request.json, Mangum, the guard) with a `traceparent` header; the detail it
publishes carries the context, and the fan-out's span of that record (the real handler, on
tests/unit/fanout_support.py's fakes) continues the same trace. Also: W3C extraction and injection,
the provider set once per process under threads, the WebSocket and EventBridge entry points' spans,
and the JSON line a span is exported as. Spans are captured in memory (`tracing.captured()`).
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import logging
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gui_core import tracing
from gui_core.bus import EventPublisher
from gui_core.domain_events import parse
from gui_core.guard import Guard
from gui_core.migrations.gate import Always
from gui_core.observability import LambdaHandler, eventbridge_handler, rest_handler
from gui_core.rate_limit import RateLimiter
from gui_core.tenancy import TenantDirectory
from gui_jobs.app import create_app
from gui_jobs.repository import JobsRepository
from gui_jobs.settings import JobsSettings
from local.apigw import EVENTS_DIR, HttpRequest, proxy_event, sample_event
from local.event_schemas import SCHEMAS_DIR
from local.memory_table import MemoryTable
from tests.fakes import FakeAudit, FakeCounters, FakeEvents, FakeLambdaContext
from tests.unit import fanout_support
from tests.unit.realtime_support import SETTINGS as REALTIME_SETTINGS
from tests.unit.realtime_support import TENANTS
from tests.unit.realtime_support import Backend as RealtimeBackend

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
AUTH = {
    "principalId": "otto@acme",
    "tenant": "acme",
    "subject": "otto@acme",
    "scopes": "gui:jobs",
    "roles": "operator",
    "region": "eu-west-1",
    "token_id": "6f1c1e0b-5d1e-4c77-8d8a-6a3f1f0f7a21",
    "expires_at": 4_000_000_000,
    "integrationLatency": 0,
}
JOBS_CONTEXT = FakeLambdaContext("ddgui-gui-jobs")
JOBS_SETTINGS = JobsSettings(
    POWERTOOLS_SERVICE_NAME="gui_jobs",
    GUI_REGION="eu-west-1",
    AUDIT_TABLE="audit",
    TENANTS_TABLE="tenants",
    LIMITS_TABLE="limits",
    JOBS_TABLE="jobs",
    MIGRATIONS_TABLE="migrations",
    DOMAIN_BUS="bus",
)


def jobs_handler(
    logger: Logger,
    *,
    events: FakeEvents | None = None,
    audit: Any = None,
    repository: JobsRepository | None = None,
    metrics: Metrics | None = None,
) -> tuple[LambdaHandler, FakeEvents]:
    """The jobs group's app on fakes, behind the real REST entry point; with `metrics`, the app and
    its guard count their figures there."""
    bus = events or FakeEvents()
    guard = Guard(
        region="eu-west-1",
        region_urls={},
        tenants=TenantDirectory(MemoryTable(TENANTS)),
        rate_limiter=RateLimiter(FakeCounters()),
        replay=None,
        metrics=metrics,
    )
    app = create_app(
        JOBS_SETTINGS,
        repository=repository or JobsRepository(MemoryTable()),
        publisher=EventPublisher("bus", bus, region="eu-west-1"),  # type: ignore[arg-type]
        gate=Always(),
        audit=audit or FakeAudit(),
        guard=guard,
        metrics=metrics,
    )
    metrics = metrics or Metrics(namespace="DomainDetermine/GUI", service="gui_jobs")
    return rest_handler(app, logger=logger, metrics=metrics), bus


REQUEST_ID = "4f0d2b7e-2c5a-4d0b-9a43-0b7f2a1c9e11"


def start_job_event(*headers: tuple[str, str], request_id: str = REQUEST_ID) -> dict[str, Any]:
    return proxy_event(
        HttpRequest(
            "POST",
            "/service/gui/jobs/reindex",
            headers=(("Content-Type", "application/json"), *headers),
            body=json.dumps({"index": "search"}).encode(),
        ),
        resource="/service/gui/jobs/{verb}",
        path_parameters={"verb": "reindex"},
        authorizer=AUTH,
        stage="prod",
        host="a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
        request_id=request_id,
    )


def hex_id(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return hex_id(span.context.span_id, 16)


def trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return hex_id(span.context.trace_id, 32)


def parent_id(span: ReadableSpan) -> str | None:
    return hex_id(span.parent.span_id, 16) if span.parent is not None else None


def named(spans: Any, name: str, scope: str | None = None) -> ReadableSpan:
    found = [s for s in spans if s.name == name and (scope is None or s.instrumentation_scope.name == scope)]
    assert len(found) == 1, [(s.name, s.instrumentation_scope.name) for s in spans]
    return found[0]


def ancestors(span: ReadableSpan, spans: Any) -> list[str]:
    """The names of `span`'s ancestors among `spans`, nearest first."""
    by_id = {span_id(s): s for s in spans}
    names = []
    current = span
    while (parent := parent_id(current)) in by_id:
        current = by_id[parent]
        names.append(f"{current.instrumentation_scope.name}:{current.name}")
    return names


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with tracing.captured() as exporter:
        yield exporter


@pytest.fixture
def logger() -> Logger:
    """A logger of its own (Powertools configures a service's logger once per process)."""
    service = f"gui_tracing_test_{uuid.uuid4().hex[:8]}"
    return Logger(service=service, logger_handler=logging.StreamHandler(io.StringIO()))


# --- propagation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["traceparent", "Traceparent", "TRACEPARENT"])
def test_a_traceparent_header_is_read_in_any_case(name: str) -> None:
    context = tracing.extract({name: TRACEPARENT, "TraceState": "vendor=abc"})
    assert context is not None
    remote = trace.get_current_span(context).get_span_context()
    assert (hex_id(remote.trace_id, 32), hex_id(remote.span_id, 16), remote.is_remote) == (
        TRACE_ID,
        PARENT_ID,
        True,
    )
    assert remote.trace_state.get("vendor") == "abc"


@pytest.mark.parametrize(
    "carrier",
    [
        None,
        {},
        {"traceparent": "not-a-traceparent"},
        {"traceparent": f"00-{'0' * 32}-{PARENT_ID}-01"},  # the invalid all-zero trace id
        {"traceparent": 42},
    ],
)
def test_no_valid_traceparent_means_no_parent(carrier: Mapping[str, Any] | None) -> None:
    assert tracing.extract(carrier) is None


def test_an_oversized_tracestate_is_dropped_and_the_parent_kept() -> None:
    context = tracing.extract({"traceparent": TRACEPARENT, "tracestate": "v=" + "x" * 600})
    assert context is not None
    remote = trace.get_current_span(context).get_span_context()
    assert hex_id(remote.trace_id, 32) == TRACE_ID
    assert len(remote.trace_state) == 0


def test_the_carrier_names_the_current_span_and_is_empty_without_one() -> None:
    assert tracing.carrier() == {}
    tracer = tracing.tracer("tests")
    with tracing.span(tracer, "outer", parent=tracing.extract({"traceparent": TRACEPARENT})) as current:
        fields = tracing.carrier()
        assert fields["traceparent"] == f"00-{TRACE_ID}-{hex_id(current.get_span_context().span_id, 16)}-01"
        assert tracing.trace_id_of(current) == TRACE_ID
    assert tracing.context_of({"trace": fields}) is not None
    assert tracing.context_of({"trace": "00-abc"}) is None
    assert tracing.context_of({}) is None


def test_the_rest_event_for_the_app_names_the_current_span_in_both_header_maps() -> None:
    event = start_job_event(("TraceParent", TRACEPARENT), ("tracestate", "a=1"))
    original = copy.deepcopy(event)
    with tracing.span(tracing.tracer("tests"), "outer") as current:
        rewritten = tracing.with_trace_headers(event)
        expected = tracing.carrier(current)["traceparent"]
    assert event == original  # a copy: the event Lambda passed stays as it came
    for key, value in (("headers", expected), ("multiValueHeaders", [expected])):
        names = [name for name in rewritten[key] if name.lower() in ("traceparent", "tracestate")]
        assert names == ["traceparent"]
        assert rewritten[key]["traceparent"] == value
        assert rewritten[key]["Content-Type"] == event[key]["Content-Type"]


def test_the_xray_root_is_read_from_its_header() -> None:
    header = "Root=1-6745f3a2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
    assert tracing.xray_root(header) == "1-6745f3a2-0123456789abcdef01234567"
    assert tracing.xray_root(None) is None
    assert tracing.xray_root("Parent=1") is None


# --- the provider -----------------------------------------------------------------------------------


def test_spans_are_the_sdk_s_real_spans(spans: InMemorySpanExporter) -> None:
    tracer = tracing.tracer("tests")
    with tracing.span(tracer, "work", attributes={"gui.tenant": "acme", "skipped": None}) as current:
        assert isinstance(current, SdkSpan)
    (ended,) = spans.get_finished_spans()
    assert ended.name == "work"
    assert dict(ended.attributes or {}) == {"gui.tenant": "acme"}
    assert isinstance(trace.get_tracer_provider(), TracerProvider)


def test_the_provider_is_set_once_however_many_threads_ask_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # A process that has not set a provider yet (OpenTelemetry's own tests reset these globals).
    monkeypatch.setattr(tracing, "_setup", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", type(trace._TRACER_PROVIDER_SET_ONCE)())
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    start = threading.Barrier(8)
    found: list[trace.TracerProvider] = []

    def ask() -> None:
        start.wait()
        found.append(tracing.provider())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(p) for p in found}) == 1
    assert trace.get_tracer_provider() is found[0]
    assert isinstance(found[0], TracerProvider)


def test_a_provider_set_before_ours_is_used_with_our_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_setup", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", type(trace._TRACER_PROVIDER_SET_ONCE)())
    theirs = TracerProvider()
    exported = InMemorySpanExporter()
    theirs.add_span_processor(SimpleSpanProcessor(exported))
    trace.set_tracer_provider(theirs)
    assert tracing.provider() is theirs
    with (
        tracing.captured() as ours,
        tracing.span(tracing.tracer("tests"), "x", invocation={"gui.tenant": "t"}),
    ):
        pass
    assert (
        [s.name for s in exported.get_finished_spans()]
        == [s.name for s in ours.get_finished_spans()]
        == ["x"]
    )
    assert (exported.get_finished_spans()[0].attributes or {})["gui.tenant"] == "t"


@pytest.mark.parametrize(
    ("environment", "processors"),
    [
        ({}, ["_Stamp", "SimpleSpanProcessor"]),
        ({"OTEL_TRACES_EXPORTER": "none"}, ["_Stamp"]),
        # The OTLP exporter package is not installed here: the log lines stay.
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["_Stamp", "SimpleSpanProcessor"]),
    ],
)
def test_the_exporter_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], processors: list[str]
) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tracing, "_setup", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", type(trace._TRACER_PROVIDER_SET_ONCE)())
    installed = tracing.provider()
    assert isinstance(installed, TracerProvider)
    active = installed._active_span_processor._span_processors
    assert [type(p).__name__ for p in active] == processors


# --- export as log lines ----------------------------------------------------------------------------


def test_a_span_is_one_json_line_with_its_ids_times_status_and_attributes() -> None:
    out = io.StringIO()
    own = TracerProvider()
    own.add_span_processor(SimpleSpanProcessor(tracing.JsonLineSpanExporter(out)))
    tracer = own.get_tracer("tests")
    parent = tracing.extract({"traceparent": TRACEPARENT})
    with tracing.span(
        tracer,
        "POST /service/gui/jobs/{verb}",
        kind=SpanKind.SERVER,
        parent=parent,
        attributes={"http.route": "/service/gui/jobs/{verb}", "tags": ("a", "b")},
        invocation={"gui.service": "gui_jobs", "gui.tenant": "acme", "gui.request_id": "r-1"},
    ):
        pass
    with pytest.raises(RuntimeError), tracing.span(tracer, "broken"):
        raise RuntimeError("table unavailable")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "span"
    assert (first["trace_id"], first["parent_id"], first["kind"], first["status"]) == (
        TRACE_ID,
        PARENT_ID,
        "SERVER",
        "UNSET",
    )
    assert len(first["span_id"]) == 16
    assert first["duration_ms"] >= 0
    assert first["start"] <= first["end"]
    assert first["attributes"]["tags"] == ["a", "b"]
    assert second["status"] == "ERROR"
    assert second["events"][0]["name"] == "exception"
    assert "parent_id" not in second


def test_the_invocation_s_keys_are_on_every_span_and_lifted_to_the_line(spans: InMemorySpanExporter) -> None:
    tracer = tracing.tracer("tests")
    invocation = {"gui.service": "gui_jobs", "gui.tenant": "acme", "gui.request_id": "r-1"}
    with tracing.span(tracer, "outer", invocation=invocation), tracing.span(tracer, "inner"):
        pass
    with tracing.span(tracer, "after"):
        pass
    inner, outer, after = spans.get_finished_spans()
    for ended in (inner, outer):
        line = tracing.span_record(ended)
        assert (line["service"], line["tenant"], line["correlation_id"]) == ("gui_jobs", "acme", "r-1")
    assert "gui.tenant" not in (after.attributes or {})  # the invocation's keys end with it


def test_a_closed_stream_fails_the_export_not_the_invocation() -> None:
    out = io.StringIO()
    exporter = tracing.JsonLineSpanExporter(out)
    own = TracerProvider()
    own.add_span_processor(SimpleSpanProcessor(exporter))
    out.close()
    with tracing.span(own.get_tracer("tests"), "x") as current:
        pass
    assert isinstance(current, ReadableSpan)
    assert exporter.export([current]) is SpanExportResult.FAILURE


# --- one trace from the REST request through the bus into the fan-out -------------------------------


def test_the_rest_span_continues_the_request_s_traceparent_and_parents_the_app_s_spans(
    spans: InMemorySpanExporter, logger: Logger
) -> None:
    handler, _ = jobs_handler(logger)
    answer = handler(
        start_job_event(
            ("traceparent", TRACEPARENT), ("X-Amzn-Trace-Id", "Root=1-6745f3a2-0123456789abcdef01234567")
        ),
        JOBS_CONTEXT,
    )
    assert answer["statusCode"] == 201, answer["body"]
    finished = spans.get_finished_spans()
    rest = named(finished, "POST /service/gui/jobs/{verb}", "gui_core.observability")
    assert (trace_id(rest), parent_id(rest), rest.kind) == (TRACE_ID, PARENT_ID, SpanKind.SERVER)
    attributes = dict(rest.attributes or {})
    assert attributes["http.route"] == "/service/gui/jobs/{verb}"
    assert attributes["http.response.status_code"] == 201
    assert attributes["gui.tenant"] == "acme"
    assert attributes["gui.request_id"] == REQUEST_ID
    assert attributes["faas.invocation_id"] == JOBS_CONTEXT.aws_request_id
    assert attributes["aws.xray.trace_id"] == "1-6745f3a2-0123456789abcdef01234567"
    assert all(trace_id(s) == TRACE_ID for s in finished)
    app = named(finished, "POST /service/gui/jobs/{verb}", "fastapi")
    assert parent_id(app) == span_id(rest)
    publish = named(finished, "publish JobRequested")
    assert publish.kind is SpanKind.PRODUCER
    assert "gui_core.observability:POST /service/gui/jobs/{verb}" in ancestors(publish, finished)
    assert all((s.attributes or {}).get("gui.tenant") == "acme" for s in finished)


class BrokenRepository(JobsRepository):
    def create(self, *args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("table unavailable")


def test_a_request_without_traceparent_starts_a_trace_and_a_5xx_is_an_error(
    spans: InMemorySpanExporter, logger: Logger
) -> None:
    handler, bus = jobs_handler(logger, repository=BrokenRepository(MemoryTable()))
    answer = handler(start_job_event(), JOBS_CONTEXT)
    assert answer["statusCode"] == 500
    assert bus.entries == []
    rest = named(spans.get_finished_spans(), "POST /service/gui/jobs/{verb}", "gui_core.observability")
    assert rest.parent is None
    assert rest.status.status_code is StatusCode.ERROR
    assert (rest.attributes or {})["http.response.status_code"] == 500


def test_the_published_detail_carries_the_publish_span_s_context(
    spans: InMemorySpanExporter, logger: Logger
) -> None:
    handler, bus = jobs_handler(logger)
    handler(start_job_event(("traceparent", TRACEPARENT)), JOBS_CONTEXT)
    (entry,) = bus.entries
    detail = json.loads(entry["Detail"])
    publish = named(spans.get_finished_spans(), "publish JobRequested")
    assert detail["trace"] == {"traceparent": f"00-{TRACE_ID}-{span_id(publish)}-01"}
    assert (publish.attributes or {})["messaging.message.id"] == detail["event_id"]
    assert (publish.attributes or {})["messaging.destination.name"] == "bus"
    parse("JobRequested", detail)  # the model takes it (unknown fields are ignored)


def test_a_detail_that_names_its_trace_keeps_it(spans: InMemorySpanExporter) -> None:
    bus = FakeEvents()
    publisher = EventPublisher("bus", bus, region="eu-west-1")  # type: ignore[arg-type]
    given = {"traceparent": TRACEPARENT}
    sent = publisher.publish("domaindetermine.jobs", "JobRequested", {"tenant": "acme", "trace": given})
    assert sent["trace"] == given


def test_a_refused_publication_ends_its_span_in_error(spans: InMemorySpanExporter) -> None:
    publisher = EventPublisher("bus", FakeEvents(failing=True), region="eu-west-1")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="Throttled"):
        publisher.publish("domaindetermine.jobs", "JobRequested", {"tenant": "acme"})
    (ended,) = spans.get_finished_spans()
    assert ended.status.status_code is StatusCode.ERROR


@pytest.fixture
def fanout(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, fanout_support.Backend]:
    """gui_fanout.handler on the fan-out's fakes, a subscriber on every channel."""
    backend = fanout_support.subscribed_backend()
    return fanout_support.handler_on(monkeypatch, backend), backend


def as_envelope(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A PutEvents entry as EventBridge hands it to the rule's target."""
    sample = sample_event("eventbridge_job_requested")
    return {
        **sample,
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "detail": json.loads(entry["Detail"]),
    }


def test_one_trace_runs_from_the_job_command_to_the_fan_out_s_push(
    spans: InMemorySpanExporter, logger: Logger, fanout: tuple[ModuleType, fanout_support.Backend]
) -> None:
    function, backend = fanout
    handler, bus = jobs_handler(logger)
    handler(start_job_event(("traceparent", TRACEPARENT)), JOBS_CONTEXT)
    (entry,) = bus.entries
    failed = fanout_support.invoke(
        function,
        fanout_support.batch(
            fanout_support.record(fanout_support.SAMPLES["CostAlert"], 41),
            fanout_support.record(as_envelope(entry), 42),
        ),
    )
    assert failed == []
    (pushed,) = [m for m in backend.received("c-jobs") if m["kind"] == "JobRequested"]
    finished = spans.get_finished_spans()
    consumer = named(finished, "process JobRequested")
    batch_span = named(finished, "gui_fanout batch")
    publish = named(finished, "publish JobRequested")
    assert (trace_id(consumer), parent_id(consumer), consumer.kind) == (
        TRACE_ID,
        span_id(publish),
        SpanKind.CONSUMER,
    )
    assert ancestors(consumer, finished)[-1] == "gui_core.observability:POST /service/gui/jobs/{verb}"
    assert [hex_id(link.context.span_id, 16) for link in consumer.links] == [span_id(batch_span)]
    attributes = dict(consumer.attributes or {})
    assert attributes["messaging.message.id"] == pushed["event_id"]
    assert (attributes["gui.tenant"], attributes["gui.outcome"], attributes["gui.service"]) == (
        "acme",
        "delivered",
        "gui_fanout",
    )
    # A record without a context: a child of the batch's span, in the batch's trace.
    alert = named(finished, "process CostAlert")
    assert (parent_id(alert), trace_id(alert)) == (span_id(batch_span), trace_id(batch_span))
    assert (batch_span.attributes or {})["messaging.batch.message_count"] == 2


def test_a_failed_record_s_span_is_an_error(
    spans: InMemorySpanExporter, fanout: tuple[ModuleType, fanout_support.Backend]
) -> None:
    function, backend = fanout
    sample = fanout_support.SAMPLES["CostAlert"]
    backend.events.poison.add(sample["detail"]["event_id"])
    assert fanout_support.invoke(function, fanout_support.batch(fanout_support.record(sample, 7))) == ["7"]
    failed = named(spans.get_finished_spans(), "process CostAlert")
    assert failed.status.status_code is StatusCode.ERROR
    assert (named(spans.get_finished_spans(), "gui_fanout batch").attributes or {})["gui.failed_records"] == 1


# --- the other entry points -------------------------------------------------------------------------


def test_an_eventbridge_invocation_continues_the_trace_of_its_event(
    spans: InMemorySpanExporter, logger: Logger
) -> None:
    seen: list[str | None] = []

    def handle(event: dict[str, Any]) -> str:
        seen.append(tracing.trace_id_of(trace.get_current_span()))
        return "applied"

    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = eventbridge_handler(
        handle, logger=logger, metrics=Metrics(namespace="DomainDetermine/GUI", service="gui_job_events")
    )
    event = sample_event("eventbridge_job_status_changed")
    event["detail"]["trace"] = {"traceparent": TRACEPARENT}
    assert handler(event, JOBS_CONTEXT) == {"outcome": "applied"}
    consumer = named(spans.get_finished_spans(), "process JobStatusChanged")
    assert (trace_id(consumer), parent_id(consumer), consumer.kind) == (
        TRACE_ID,
        PARENT_ID,
        SpanKind.CONSUMER,
    )
    assert seen == [TRACE_ID]
    attributes = dict(consumer.attributes or {})
    assert (attributes["gui.outcome"], attributes["gui.tenant"]) == ("applied", event["detail"]["tenant"])


@pytest.fixture
def realtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, RealtimeBackend]]:
    for name, value in REALTIME_SETTINGS.model_dump(by_alias=True).items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "DomainDetermine/GUI")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    sys.modules.pop("gui_realtime.handler", None)
    module = importlib.import_module("gui_realtime.handler")
    backend = RealtimeBackend()
    monkeypatch.setattr(module, "service", backend.service)
    backend.service.logger = module.logger
    backend.service.ports = replace(backend.service.ports, count=module.count)
    module.logger.registered_handler.stream = io.StringIO()  # type: ignore[attr-defined]
    yield module, backend
    sys.modules.pop("gui_realtime.handler", None)


def test_every_websocket_route_is_a_span_with_the_tenant_and_the_connection(
    spans: InMemorySpanExporter, realtime: tuple[ModuleType, RealtimeBackend]
) -> None:
    module, _ = realtime
    connect = sample_event("websocket_connect")
    connect["headers"]["traceparent"] = TRACEPARENT
    assert module.handler(connect, JOBS_CONTEXT)["statusCode"] == 200
    assert module.handler(sample_event("websocket_message"), JOBS_CONTEXT)["statusCode"] == 200
    assert module.handler(sample_event("websocket_disconnect"), JOBS_CONTEXT)["statusCode"] == 200
    finished = spans.get_finished_spans()
    by_route = {s.name: s for s in finished if s.instrumentation_scope.name == "gui_realtime"}
    assert set(by_route) == {"WS $connect", "WS subscribe", "WS $disconnect"}
    connected = by_route["WS $connect"]
    assert (trace_id(connected), parent_id(connected)) == (TRACE_ID, PARENT_ID)
    assert parent_id(by_route["WS subscribe"]) is None  # a message has no headers to continue
    for ended in by_route.values():
        attributes = dict(ended.attributes or {})
        assert ended.kind is SpanKind.SERVER
        assert attributes["gui.tenant"] == "acme"
        assert attributes["gui.connection_id"] == "Cq7nKdWhDoECJ9A="
        assert attributes["gui.ws.status_code"] == 200
        assert attributes["gui.service"] == "gui_realtime"


# --- the event contracts take the field -------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EVENTS_DIR.glob("eventbridge_*.json")), ids=lambda p: p.stem)
def test_every_kind_accepts_a_detail_with_its_trace(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    event = json.loads(path.read_text())
    detail = {**event["detail"], "trace": {"traceparent": TRACEPARENT, "tracestate": "a=1"}}
    parse(event["detail-type"], detail)
    schema = json.loads((SCHEMAS_DIR / f"{event['detail-type']}.json").read_text())
    jsonschema.validate(detail, schema)
