"""Every log line of a REST request carries the tenant, the correlation id (API Gateway's request id)
and the trace id: the function's own lines and gui_core's (`gui_core.api`).

A job command through the real jobs app behind `rest_handler` (REST proxy events built from
events/aws/rest_proxy_request.json), with a bus that refuses the event (the route logs it on the
`gui_jobs` logger) and an audit store that fails (gui_core.api logs the record it could not
write). The function's Powertools logger writes to a buffer; its JSON lines are parsed.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gui_core import tracing
from gui_core.audit import AuditRecord
from gui_jobs.repository import JobsRepository
from local.memory_table import MemoryTable
from tests.fakes import FakeEvents
from tests.unit.test_tracing import (
    JOBS_CONTEXT,
    REQUEST_ID,
    TRACE_ID,
    TRACEPARENT,
    jobs_handler,
    named,
    start_job_event,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


class LenientJobs(JobsRepository):
    """Replaces without the version condition (the in-memory table knows simple conditions only)."""

    def replace(self, tenant: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._table.put(self._item(tenant, new))


class FailingAudit:
    def append(self, record: AuditRecord) -> None:
        raise RuntimeError("audit table unavailable")


NAMES = ("gui_jobs", "gui_core")
POWERTOOLS_MARKS = ("init", "powertools_handler", "powertools_buffer_config", "powertools_buffer_cache")


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Logger, io.StringIO]]:
    """The jobs function's logger (service `gui_jobs`, as the manifest names it) on a buffer, with
    `gui_jobs` and `gui_core` as in a new process (Powertools configures a service's logger once per
    process, and gui_core's records go to the first function's handler); restored after."""
    taken: list[tuple[logging.Logger, logging.Handler]] = []
    for name in NAMES:
        std = logging.getLogger(name)
        for handler in [h for h in std.handlers if isinstance(h.formatter, BasePowertoolsFormatter)]:
            std.removeHandler(handler)
            taken.append((std, handler))
        monkeypatch.setattr(std, "propagate", std.propagate)
        for attribute in (
            "init",
            "powertools_handler",
            "powertools_buffer_config",
            "powertools_buffer_cache",
        ):
            monkeypatch.delattr(std, attribute, raising=False)
    buffer = io.StringIO()
    logger = Logger(service="gui_jobs", logger_handler=logging.StreamHandler(buffer))
    yield logger, buffer
    for name in NAMES:
        std = logging.getLogger(name)
        std.removeHandler(logger.registered_handler)
        for attribute in POWERTOOLS_MARKS:  # ours; monkeypatch puts back those there were
            if hasattr(std, attribute):
                delattr(std, attribute)
    for std, handler in taken:
        std.addHandler(handler)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with tracing.captured() as exporter:
        yield exporter


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_every_line_of_a_request_carries_tenant_correlation_id_and_trace_id(
    log: tuple[Logger, io.StringIO], spans: InMemorySpanExporter
) -> None:
    logger, buffer = log
    handler, _ = jobs_handler(
        logger, events=FakeEvents(failing=True), audit=FailingAudit(), repository=LenientJobs(MemoryTable())
    )
    answer = handler(start_job_event(("traceparent", TRACEPARENT)), JOBS_CONTEXT)
    assert answer["statusCode"] == 201, answer["body"]  # a job nobody heard of is failed at once
    logged = lines(buffer)
    messages = {line["message"] for line in logged}
    assert {"JobRequested could not be published", "audit write failed"} <= messages
    for line in logged:
        assert line["tenant"] == "acme", line
        assert line["correlation_id"] == REQUEST_ID, line
        assert line["trace_id"] == TRACE_ID, line
        assert len(line["span_id"]) == 16
        assert line["service"] == "gui_jobs"
    audit = next(line for line in logged if line["message"] == "audit write failed")
    assert audit["audit"]["tenant"] == "acme"  # the fallback trail is a structured line now
    assert audit["audit"]["request_id"] == REQUEST_ID


def test_without_traceparent_the_lines_name_the_trace_the_request_started(
    log: tuple[Logger, io.StringIO], spans: InMemorySpanExporter
) -> None:
    logger, buffer = log
    handler, _ = jobs_handler(logger, events=FakeEvents(failing=True), repository=LenientJobs(MemoryTable()))
    handler(start_job_event(request_id="a9e0c1d2-0000-4000-8000-000000000001"), JOBS_CONTEXT)
    rest = named(spans.get_finished_spans(), "POST /service/gui/jobs/{verb}", "gui_core.observability")
    assert rest.context is not None
    (line,) = lines(buffer)
    assert line["trace_id"] == format(rest.context.trace_id, "032x") != TRACE_ID
    assert (line["tenant"], line["correlation_id"]) == ("acme", "a9e0c1d2-0000-4000-8000-000000000001")


def test_the_keys_of_one_request_do_not_stay_on_the_next(
    log: tuple[Logger, io.StringIO], spans: InMemorySpanExporter
) -> None:
    logger, buffer = log
    handler, _ = jobs_handler(logger, events=FakeEvents(failing=True), repository=LenientJobs(MemoryTable()))
    handler(start_job_event(("traceparent", TRACEPARENT), request_id="first"), JOBS_CONTEXT)
    handler(start_job_event(request_id="second"), JOBS_CONTEXT)
    first, second = lines(buffer)
    assert (first["correlation_id"], second["correlation_id"]) == ("first", "second")
    assert first["trace_id"] == TRACE_ID != second["trace_id"]
