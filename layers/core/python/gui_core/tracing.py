"""OpenTelemetry spans for the functions, W3C trace context across the bus, spans as log lines.

One trace shows a job command from the click to the live update: the REST span (parent: the
request's `traceparent` header, else a new trace) -> FastAPI's own server and operation spans ->
`publish JobRequested` (PRODUCER, puts the context into the detail as `trace`) -> EventBridge ->
Kinesis -> `process JobRequested` in the fan-out (CONSUMER, a child of the detail's context, linked
to the batch's span) -> the push. The WebSocket routes and the functions EventBridge invokes get a
span per invocation as well (the latter children of their event's `trace`).

Decisions:

- Real OpenTelemetry spans from the SDK's `TracerProvider`, set once per process as the global
  provider (under a lock: the local runtime starts many functions on threads of one process; the
  context itself is contextvars-based, so threads and asyncio tasks keep their own). A provider
  someone else set first (the ADOT layer, a test) is used as it is, with our processor added.
- Cost. FastAPI already imports `opentelemetry-api` (and `opentelemetry.propagate`), so a REST
  function pays for the SDK only (`opentelemetry.sdk.trace`'s resources and semantic-convention
  tables are most of it); functions without FastAPI (gui_fanout, gui_realtime) also pay for the
  API's trace module. The SDK was kept over an API-only tracer of our own: the saving is small
  beside FastAPI's own import (decision log, 2026-11-28), and the SDK gives sampling
  (`OTEL_TRACES_SAMPLER`), limits, processors and exporters as they are documented.
  `Resource.create()` is avoided (it runs detectors on a thread pool). The authorizer imports
  none of this. FastAPI's native telemetry starts producing its spans (server, dependencies,
  endpoint, serialization) as soon as a provider is set; the REST handler hands the current
  context to it through the event's `traceparent` header, so they are children of the REST span
  instead of a second trace.
- Export without network: by default each ended span is one JSON line on stdout (CloudWatch Logs
  keeps it; a collector or the ADOT layer can ship it), written synchronously (a Lambda
  environment is frozen between invocations: a background exporter would lose spans). The line
  carries trace, span and parent ids, name, kind, times, status, attributes, and lifts `service`,
  `tenant` and `correlation_id` to the top level like the Powertools log lines. With
  `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` set and `opentelemetry-exporter-otlp-proto-http`
  installed, spans go over OTLP instead (batched, flushed at the end of every invocation);
  `OTEL_TRACES_EXPORTER=none` exports nothing. Tests use `captured()` (in memory).
- Propagation: W3C `traceparent`/`tracestate` only (the X-Ray `X-Amzn-Trace-Id` header is kept
  as the attribute `aws.xray.trace_id`). A domain event carries the context of its publish span
  in its detail, `"trace": {"traceparent": ..., "tracestate": ...}`; detail models ignore unknown
  fields, so every consumer accepts it.
- Log correlation: `TraceLogFilter` adds `trace_id` and `span_id` of the current span to every log
  record it sees (gui_core.observability installs it on the functions' log handlers).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue

logger = logging.getLogger("gui_core.tracing")

# The key of a domain event's detail that carries the W3C context of its publication.
TRACE_FIELD = "trace"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_MAX_TRACESTATE = 512  # W3C: vendors must propagate at least 512 characters

# Attributes of this application's spans (OpenTelemetry's semantic conventions otherwise).
SERVICE = "gui.service"
TENANT = "gui.tenant"
REQUEST_ID = "gui.request_id"  # API Gateway's request id: the logs' correlation_id
CONNECTION_ID = "gui.connection_id"
EVENT_KIND = "gui.event.kind"
OUTCOME = "gui.outcome"
XRAY_TRACE_ID = "aws.xray.trace_id"
# Attributes every span of an invocation gets (set by `span(..., invocation=...)`), so FastAPI's
# spans and the bus's carry the tenant and the request too.
_INVOCATION: ContextVar[Mapping[str, str] | None] = ContextVar("gui_core.tracing.invocation", default=None)

_PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()


class _Setup:
    def __init__(self, provider: trace.TracerProvider, stamp: _Stamp, flush: bool) -> None:
        self.provider = provider
        self.stamp = stamp
        self.flush = flush  # a batching exporter: flush at the end of every invocation


_setup: _Setup | None = None


# --- the provider ---------------------------------------------------------------------------------


def provider() -> trace.TracerProvider:
    """The process's tracer provider, set up on first use (thread-safe, once per process)."""
    setup = _setup or _install()
    return setup.provider


def tracer(name: str) -> Tracer:
    """A tracer of the process's provider; `name` is the instrumentation scope (a module)."""
    return provider().get_tracer(name)


def flush() -> None:
    """End of an invocation: hand over the spans a batching exporter still holds."""
    setup = _setup
    if setup is not None and setup.flush and isinstance(setup.provider, TracerProvider):
        setup.provider.force_flush(timeout_millis=2000)


def _install() -> _Setup:
    global _setup  # noqa: PLW0603  # one provider per process, set once under the lock
    with _lock:
        if _setup is not None:
            return _setup
        stamp = _Stamp()
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):  # an SDK provider set by someone else: ride on it
            current.add_span_processor(stamp)
            _setup = _Setup(current, stamp, flush=False)
            return _setup
        if not isinstance(current, trace.ProxyTracerProvider):  # another implementation (or NoOp)
            _setup = _Setup(current, stamp, flush=False)
            return _setup
        own = TracerProvider(
            resource=Resource(
                {
                    "service.namespace": "domaindetermine-gui",
                    "service.name": os.environ.get("POWERTOOLS_SERVICE_NAME") or "domaindetermine-gui",
                    "cloud.provider": "aws",
                }
            ),
            shutdown_on_exit=False,
        )
        own.add_span_processor(stamp)
        batching = _add_exporter(own)
        trace.set_tracer_provider(own)
        chosen = trace.get_tracer_provider()  # another thread's provider, if it won a race
        _setup = _Setup(chosen, stamp, flush=batching and chosen is own)
        return _setup


def _add_exporter(own: TracerProvider) -> bool:
    """The exporter the environment asks for; True when it batches (OTLP)."""
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if choice == "none":
        return False
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if choice == "otlp" or (not choice and endpoint):
        try:
            otlp = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        except ImportError:
            logger.warning("OTLP export asked for, but opentelemetry-exporter-otlp-proto-http is missing")
        else:
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            own.add_span_processor(BatchSpanProcessor(otlp.OTLPSpanExporter()))
            return True
    own.add_span_processor(SimpleSpanProcessor(JsonLineSpanExporter()))
    return False


class _Stamp(SpanProcessor):
    """Stamps the invocation's attributes on every span it starts, and hands every ended span to
    the exporters `captured()` registered."""

    def __init__(self) -> None:
        self.taps: tuple[SpanExporter, ...] = ()

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        present = span.attributes or {}
        for key, value in (_INVOCATION.get() or {}).items():
            if key not in present:
                span.set_attribute(key, value)

    def on_end(self, span: ReadableSpan) -> None:
        for tap in self.taps:
            tap.export((span,))

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@contextmanager
def captured() -> Iterator[InMemorySpanExporter]:
    """Every span that ends meanwhile, in memory, whichever thread ends it (tests)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider()
    assert _setup is not None
    stamp = _setup.stamp
    exporter = InMemorySpanExporter()
    with _lock:
        stamp.taps = (*stamp.taps, exporter)
    try:
        yield exporter
    finally:
        with _lock:
            stamp.taps = tuple(tap for tap in stamp.taps if tap is not exporter)


# --- propagation ----------------------------------------------------------------------------------


def extract(carrier: Mapping[str, Any] | None) -> Context | None:
    """The W3C context of HTTP headers (any case) or of a detail's `trace`; None when it names none."""
    if not carrier:
        return None
    lowered = {str(k).lower(): v for k, v in carrier.items() if isinstance(v, str)}
    parent = lowered.get(TRACEPARENT)
    if not parent:
        return None
    fields = {TRACEPARENT: parent}
    state = lowered.get(TRACESTATE)
    if state and len(state) <= _MAX_TRACESTATE:
        fields[TRACESTATE] = state
    context = _PROPAGATOR.extract(fields)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def context_of(detail: Mapping[str, Any] | None) -> Context | None:
    """The context a domain event's detail carries in `trace`, if any and valid."""
    carried = (detail or {}).get(TRACE_FIELD)
    return extract(carried) if isinstance(carried, Mapping) else None


def carrier(span: Span | None = None) -> dict[str, str]:
    """`traceparent` (and `tracestate`) of `span`, else of the current span; {} when there is none."""
    target = span if span is not None else trace.get_current_span()
    if not target.get_span_context().is_valid:
        return {}
    fields: dict[str, str] = {}
    _PROPAGATOR.inject(fields, context=trace.set_span_in_context(target))
    return fields


def with_trace_headers(event: Mapping[str, Any]) -> dict[str, Any]:
    """A REST proxy event whose trace headers name the current span (a shallow copy): what the
    FastAPI app behind Mangum extracts, so its spans become children of the current one."""
    fields = carrier()
    copy = dict(event)
    for key in ("headers", "multiValueHeaders"):
        original = event.get(key)
        if original is None and key == "multiValueHeaders":
            continue
        kept = {k: v for k, v in (original or {}).items() if str(k).lower() not in (TRACEPARENT, TRACESTATE)}
        for name, value in fields.items():
            kept[name] = [value] if key == "multiValueHeaders" else value
        copy[key] = kept
    return copy


def trace_id_of(span: Span) -> str | None:
    context = span.get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def xray_root(header: str | None) -> str | None:
    """The `Root=` of an `X-Amzn-Trace-Id` header."""
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "Root" and value:
            return value
    return None


# --- spans ----------------------------------------------------------------------------------------


@contextmanager
def span(
    tracer: Tracer,
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
    links: Sequence[Link] = (),
    attributes: Mapping[str, AttributeValue | None] | None = None,
    invocation: Mapping[str, str | None] | None = None,
) -> Iterator[Span]:
    """A current span; an exception ends it with status ERROR. `parent` None continues the current
    context. `invocation`: attributes every span started inside gets (service, tenant, request)."""
    token = None
    if invocation is not None:
        stamped = {k: v for k, v in invocation.items() if v}
        token = _INVOCATION.set({**(_INVOCATION.get() or {}), **stamped})
    try:
        with tracer.start_as_current_span(
            name,
            context=parent,
            kind=kind,
            attributes={k: v for k, v in (attributes or {}).items() if v is not None},
            links=links,
        ) as current:
            yield current
    finally:
        if token is not None:
            _INVOCATION.reset(token)


def set_status_code(span: Span, status: object, attribute: str = "http.response.status_code") -> None:
    """A response's status on its span: 5xx is an error (4xx is the caller's, not the span's)."""
    if not isinstance(status, int):
        return
    span.set_attribute(attribute, status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR, f"status {status}"))


def link_to_current() -> list[Link]:
    current = trace.get_current_span().get_span_context()
    return [Link(current)] if current.is_valid else []


# --- export as log lines --------------------------------------------------------------------------


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="microseconds")


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def span_record(item: ReadableSpan) -> dict[str, Any]:
    """One span as the JSON object of its log line."""
    context = item.get_span_context()
    assert context is not None
    attributes = {k: _plain(v) for k, v in (item.attributes or {}).items()}
    start, end = item.start_time, item.end_time
    ended = _iso(end)
    record: dict[str, Any] = {
        "level": "INFO",
        "message": "span",
        "timestamp": ended,
        "service": attributes.get(SERVICE) or item.resource.attributes.get("service.name"),
        "tenant": attributes.get(TENANT),
        "correlation_id": attributes.get(REQUEST_ID),
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": format(item.parent.span_id, "016x") if item.parent is not None else None,
        "name": item.name,
        "kind": item.kind.name,
        "start": _iso(start),
        "end": ended,
        "duration_ms": round((end - start) / 1e6, 3) if start is not None and end is not None else None,
        "status": item.status.status_code.name,
        "status_message": item.status.description,
        "scope": item.instrumentation_scope.name if item.instrumentation_scope else None,
        "attributes": attributes,
    }
    if item.links:
        record["links"] = [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
            }
            for link in item.links
        ]
    if item.events:
        record["events"] = [
            {
                "name": event.name,
                "timestamp": _iso(event.timestamp),
                "attributes": {k: _plain(v) for k, v in (event.attributes or {}).items()},
            }
            for event in item.events
        ]
    return {k: v for k, v in record.items() if v is not None}


class JsonLineSpanExporter(SpanExporter):
    """Writes each span as one JSON line, by default on the process's real stdout (what Lambda
    sends to CloudWatch Logs; a test's captured `sys.stdout` of the moment is not kept)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        stream = self._stream or sys.__stdout__
        if stream is None:
            return SpanExportResult.FAILURE
        try:
            lines = "".join(
                json.dumps(span_record(item), separators=(",", ":"), default=str) + "\n" for item in spans
            )
            with self._lock:
                stream.write(lines)
                stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not fail the invocation
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# --- logs -----------------------------------------------------------------------------------------


class TraceLogFilter(logging.Filter):
    """Adds `trace_id` and `span_id` of the current span to a log record (Powertools' formatter
    writes a record's extra attributes as keys of its JSON line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


TRACE_LOG_FILTER = TraceLogFilter()
