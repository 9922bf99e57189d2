"""One trace from a job command to the live update, on the local runtime over HTTP: the client's
`traceparent` -> the REST span of gui_jobs -> `publish JobRequested` (the context in the detail) ->
moto's bus -> the relay -> Kinesis -> the fan-out's span of that record, in the same trace.

The functions run on threads of this process, so `tracing.captured()` sees every span they end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx
from opentelemetry.sdk.trace import ReadableSpan

from gui_core import tracing
from local.keys import DevKeys

TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def _ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    assert span.context is not None
    parent = format(span.parent.span_id, "016x") if span.parent is not None else None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x"), parent


def _wait_for(found: Callable[[], Sequence[ReadableSpan]], timeout_s: float = 20) -> ReadableSpan:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        matches = found()
        if matches:
            return matches[0]
        time.sleep(0.2)
    raise AssertionError("the fan-out never processed the job's JobRequested")


def test_the_fan_out_s_span_of_a_job_command_is_in_the_request_s_trace(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys
) -> None:
    token = dev_keys.mint(tenant="acme", subject="otto@acme", roles=["operator"])
    with tracing.captured() as spans:
        created = http.post(
            url("eu-west-1", "/service/gui/jobs/reindex"),
            json={"index": "search"},
            headers={"Authorization": f"Bearer {token}", "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
        assert created.status_code == 201, created.text

        def fanned_out() -> list[ReadableSpan]:
            return [
                s
                for s in spans.get_finished_spans()
                if s.name == "process JobRequested" and _ids(s)[0] == TRACE_ID
            ]

        consumer = _wait_for(fanned_out)
        finished = spans.get_finished_spans()
    in_trace = [s for s in finished if _ids(s)[0] == TRACE_ID]
    rest = next(
        s
        for s in in_trace
        if s.instrumentation_scope.name == "gui_core.observability" and s.name.startswith("POST ")
    )
    publish = next(s for s in in_trace if s.name == "publish JobRequested")
    assert _ids(rest)[2] == PARENT_ID  # the client's span is the REST span's parent
    assert (rest.attributes or {})["gui.service"] == "gui_jobs"
    assert _ids(consumer)[2] == _ids(publish)[1]  # the fan-out continues the publication
    assert (consumer.attributes or {})["gui.service"] == "gui_fanout"
    assert (consumer.attributes or {})["gui.outcome"] == "delivered"
    by_id = {_ids(s)[1]: s for s in in_trace}
    chain, current = [], publish
    while (parent := _ids(current)[2]) in by_id:
        current = by_id[parent]
        chain.append(current)
    assert rest in chain


def test_the_executors_status_reports_continue_the_commands_trace(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys
) -> None:
    """The job's JobStatusChanged reports (running, then succeeded) reach the fan-out in the trace of
    the click that started it: the live update of the job's status is in the same trace."""
    token = dev_keys.mint(tenant="acme", subject="otto@acme", roles=["operator"])
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4737"
    with tracing.captured() as spans:
        created = http.post(
            url("eu-west-1", "/service/gui/jobs/reindex"),
            json={"index": "search"},
            headers={"Authorization": f"Bearer {token}", "traceparent": f"00-{trace_id}-{PARENT_ID}-01"},
        )
        assert created.status_code == 201, created.text
        status = _wait_for(
            lambda: [
                s
                for s in spans.get_finished_spans()
                if s.name == "process JobStatusChanged" and _ids(s)[0] == trace_id
            ]
        )
    assert _ids(status)[0] == trace_id
