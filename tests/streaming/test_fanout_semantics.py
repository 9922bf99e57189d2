"""The fan-out's delivery semantics, seen from real clients: gone connections are forgotten on 410,
an event id reaches clients once whatever the repeats (a producer's, a batch retried by the Kinesis
poller), and a record the fan-out rejects does not hold back the ones after it."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from gui_core.connections import CONNECTION_PREFIX, SUBSCRIPTION_PREFIX
from gui_core.dynamo import Table
from local.aws import aws_client
from local.runtime import LocalBackend

from .support import (
    HOME,
    Events,
    LiveClient,
    connection_ids,
    fresh_subject,
    logged_cursor,
    poll,
    registry,
    wait_logged,
    ws_path_url,
)


def _connect(base: str, channel: str, tenant: str, token: str) -> LiveClient:
    client = LiveClient.connect(ws_path_url(base, channel, tenant), token)
    client.subscribe(channel)
    return client


def _once_each(client: LiveClient, ids: list[str], channel: str) -> None:
    received = [m["event_id"] for m in client.events(channel)]
    assert received == ids, f"expected each of {ids} once, in order; received {received}"
    cursors = [m["cursor"] for m in client.events(channel)]
    assert cursors == sorted(set(cursors)), cursors


def _records_of(table: Table, tenant: str, connection_id: str) -> list[dict[str, Any]]:
    page = table.query(("pk", tenant), consistent=True)
    return [
        i
        for i in page.items
        if str(i["sk"]) == f"{CONNECTION_PREFIX}{connection_id}"
        or (str(i["sk"]).startswith(SUBSCRIPTION_PREFIX) and str(i["sk"]).endswith(f"#{connection_id}"))
    ]


def test_a_connection_closed_by_the_client_is_cleaned_up_when_the_fanout_gets_410(
    backend: LocalBackend,
    base: str,
    tenant: str,
    events: Events,
    mint: Callable[..., str],
    connections_table: Table,
) -> None:
    staying_subject, leaving_subject = fresh_subject(tenant), fresh_subject(tenant)
    staying = _connect(base, "jobs", tenant, mint(tenant, subject=staying_subject))
    leaving = _connect(base, "jobs", tenant, mint(tenant, subject=leaving_subject))
    with staying:
        [staying_id] = connection_ids(connections_table, tenant, staying_subject)
        [leaving_id] = connection_ids(connections_table, tenant, leaving_subject)
        assert _records_of(connections_table, tenant, leaving_id)

        # A connection whose $disconnect never ran (API Gateway delivers it on a best-effort basis):
        # still registered and subscribed, but closed at the gateway.
        ghosts = registry(connections_table)
        ghost_id = base64.urlsafe_b64encode(os.urandom(11)).decode()  # like API Gateway's ids
        ghost = ghosts.register(tenant, ghost_id, subject=fresh_subject(tenant), scopes={"gui:jobs"})
        ghosts.subscribe(ghost, ["jobs"])

        management = aws_client(
            "apigatewaymanagementapi", endpoint_url=backend.connections_url(HOME), region=HOME
        )
        with pytest.raises(management.exceptions.GoneException):
            management.get_connection(ConnectionId=ghost_id)
        with pytest.raises(management.exceptions.GoneException):
            management.post_to_connection(ConnectionId=ghost_id, Data=b"{}")
        assert management.get_connection(ConnectionId=staying_id)["ConnectedAt"]
        management.post_to_connection(ConnectionId=staying_id, Data=json.dumps({"type": "probe"}).encode())
        staying.wait_for(lambda m: m.get("type") == "probe")

        leaving.close()
        first = events.publish(tenant, "jobs")
        staying.wait_event(first["event_id"], timeout_s=10)

        assert poll(lambda: not _records_of(connections_table, tenant, ghost_id), timeout_s=10), (
            "the fan-out got 410 for the ghost connection but its records remain: "
            f"{_records_of(connections_table, tenant, ghost_id)}"
        )
        assert poll(lambda: not _records_of(connections_table, tenant, leaving_id), timeout_s=10), (
            "the closed connection is still registered"
        )
        assert _records_of(connections_table, tenant, staying_id)

        second = events.publish(tenant, "jobs")
        staying.wait_event(second["event_id"], timeout_s=10)
        time.sleep(0.5)
        _once_each(staying, [first["event_id"], second["event_id"]], "jobs")


def test_the_same_event_published_twice_reaches_clients_once(
    base: str,
    tenant: str,
    events: Events,
    mint: Callable[..., str],
    events_table: Table,
    inbox_table: Table,
) -> None:
    with _connect(base, "notifications", tenant, mint(tenant)) as client:
        before = events.publish(tenant, "notifications")
        client.wait_event(before["event_id"], timeout_s=10)
        anchor = client.events("notifications")[-1]["cursor"]

        sent = events.publish(tenant, "notifications")
        repeat = {k: v for k, v in sent.items() if k != "tenant"}
        events.publish(tenant, "notifications", **repeat)  # the producer's retry: same id, same detail
        events.publish(tenant, "notifications", **{**repeat, "title": "A later copy of the same event"})
        sentinel = events.publish(tenant, "notifications")  # same shard: it comes after the repeats
        client.wait_event(sentinel["event_id"], timeout_s=15)
        time.sleep(0.5)
        _once_each(client, [before["event_id"], sent["event_id"], sentinel["event_id"]], "notifications")

        # The replay log holds it once too, and so does the inbox.
        replay = client.resume("notifications", anchor)
        assert [e["event_id"] for e in replay.events] == [sent["event_id"], sentinel["event_id"]]
    wait_logged(events_table, tenant, "notifications", sent["event_id"])
    items = inbox_table.query(("pk", tenant), sort_prefix=("sk", "NOTE#"), consistent=True).items
    assert len(items) == 3, [i.get("title") for i in items]


# -- a batch that fails ---------------------------------------------------------------------------


def _pollers(root: object, function: str, depth: int = 4) -> list[Any]:
    """Every Kinesis poller (`local.kinesis.KinesisPoller`) of `function` reachable from `root`."""
    found: dict[int, Any] = {}

    def walk(value: object, level: int) -> None:
        if type(value).__name__ == "KinesisPoller":
            if getattr(getattr(value, "fn", None), "name", None) == function:
                found[id(value)] = value
            return
        if level == 0 or isinstance(value, str | bytes | int | float | type(None)):
            return
        if isinstance(value, dict):
            children: list[object] = list(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            children = list(value)
        elif hasattr(value, "__dict__") and type(value).__module__.startswith("local"):
            children = list(vars(value).values())
        else:
            return
        for child in children:
            walk(child, level - 1)

    walk(root, depth)
    return list(found.values())


def _event_ids(batch: dict[str, Any]) -> list[tuple[str, str]]:
    """(sequence number, event id) of each Kinesis record of a Lambda event."""
    pairs = []
    for record in batch.get("Records", []):
        kinesis = record.get("kinesis", {})
        try:
            envelope = json.loads(base64.b64decode(kinesis.get("data", "")))
            event_id = str(envelope.get("detail", {}).get("event_id", ""))
        except ValueError:
            event_id = ""
        pairs.append((str(kinesis.get("sequenceNumber")), event_id))
    return pairs


class FailOnce:
    """The fault hook: stands between the Kinesis poller and the fan-out, so that the first batch
    holding a marked event is processed by the fan-out and then fails, either as a function error
    (the poller splits and retries the batch) or as a partial batch failure naming the marked
    record (the poller retries from it). Either way records the fan-out has already pushed come
    again."""

    def __init__(self, mode: str, inner: Any) -> None:
        self.mode = mode
        self.inner = inner
        self.marked: set[str] = set()
        self.failed = threading.Event()
        self.deliveries: list[str] = []  # event ids of every record handed to the fan-out, in order
        self._lock = threading.Lock()

    # The Invoker protocol of local.pool, delegated.
    @property
    def fn(self) -> Any:
        return self.inner.fn

    @property
    def region(self) -> str:
        return str(self.inner.region)

    def close(self) -> None:
        self.inner.close()

    def invoke(self, event: dict[str, Any]) -> Any:
        return self.submit(event).result()

    def submit(self, event: dict[str, Any]) -> Future[Any]:
        pairs = _event_ids(event)
        with self._lock:
            self.deliveries += [event_id for _, event_id in pairs]
            hit = next((seq for seq, eid in pairs if eid in self.marked), None)
            fail = hit is not None and not self.failed.is_set()
            if fail:
                self.failed.set()
        outer: Future[Any] = Future()

        def done(inner: Future[Any]) -> None:
            error = inner.exception()
            if error is not None:
                outer.set_exception(error)
            elif not fail:
                outer.set_result(inner.result())
            elif self.mode == "function error":
                outer.set_exception(RuntimeError("injected: the fan-out failed after processing the batch"))
            else:
                answer = inner.result()
                failures = list(answer.get("batchItemFailures") or []) if isinstance(answer, dict) else []
                outer.set_result({"batchItemFailures": [*failures, {"itemIdentifier": hit}]})

        self.inner.submit(event).add_done_callback(done)
        return outer


@pytest.fixture
def fail_once(request: pytest.FixtureRequest, backend: LocalBackend) -> Iterator[FailOnce]:
    pollers = [p for p in _pollers(backend, "gui_fanout") if p.region == HOME]
    if len(pollers) != 1:
        pytest.fail(f"the fault hook needs the one gui_fanout poller of {HOME}; found {pollers}")
    [poller] = pollers
    hook = FailOnce(request.param, poller.invoker)
    poller.invoker = hook
    try:
        yield hook
    finally:
        poller.invoker = hook.inner


@pytest.mark.parametrize("fail_once", ["partial batch failure", "function error"], indirect=True)
def test_a_batch_with_a_failing_record_is_retried_without_duplicates_reaching_clients(
    fail_once: FailOnce, base: str, tenant: str, events: Events, mint: Callable[..., str]
) -> None:
    with _connect(base, "jobs", tenant, mint(tenant)) as client:
        warm = events.publish(tenant, "jobs")
        client.wait_event(warm["event_id"], timeout_s=10)

        marked = str(uuid.uuid4())
        fail_once.marked.add(marked)
        burst = [
            events.publish(tenant, "jobs"),
            events.publish(tenant, "jobs", event_id=marked),
            events.publish(tenant, "jobs"),
        ]
        for detail in burst:
            client.wait_event(detail["event_id"], timeout_s=20)
        assert fail_once.failed.is_set(), "the batch holding the marked record never reached the fan-out"
        assert poll(lambda: fail_once.deliveries.count(marked) >= 2, timeout_s=20), (
            f"the failed record was not delivered again: {fail_once.deliveries}"
        )
        after = events.publish(tenant, "jobs")
        client.wait_event(after["event_id"], timeout_s=20)
        time.sleep(0.5)
        _once_each(client, [warm["event_id"], *(d["event_id"] for d in burst), after["event_id"]], "jobs")


def test_a_record_the_fanout_rejects_does_not_hold_back_the_records_after_it(
    base: str, tenant: str, events: Events, mint: Callable[..., str], events_table: Table
) -> None:
    with _connect(base, "jobs", tenant, mint(tenant)) as client:
        # A JobStatusChanged without a job id and with a status no job has: invalid.
        rejected = events.publish(tenant, "jobs", job_id=None, status="exploded", progress=-5)
        good = events.publish(tenant, "jobs")
        started = time.monotonic()
        client.wait_event(good["event_id"], timeout_s=30)
        waited = time.monotonic() - started
        time.sleep(0.5)
        _once_each(client, [good["event_id"]], "jobs")
        assert rejected["event_id"] not in {m.get("event_id") for m in client.messages}
    assert logged_cursor(events_table, tenant, "jobs", rejected["event_id"]) is None
    assert waited < 30, f"the valid record waited {waited:.1f} s behind the rejected one"
