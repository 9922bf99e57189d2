"""The local SQS event source mapping (local/queues.py) on moto's queue: batches in Lambda's SQS
shape, partial batch failures, a raising invocation failing its batch, retries, the dead-letter
queue after the mapping's receives, a schedule's per-tenant work items delivered by
`fire_schedule`, and a stop that waits for the invocation a poller is in before moto stops."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from local.queues import dead_letter_queue_name
from local.runtime import LocalBackend
from stacks.manifest import MANIFEST, MIGRATION_QUEUE, QueueSource

from .support import aws

REGION = "eu-west-1"
WORKER = "gui_migrate_worker"


class Worker:
    """A stand-in of the worker: fails the messages whose body says so, raises on `raise`."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.events.append(event)
        if any(json.loads(r["body"]).get("raise") for r in event["Records"]):
            raise RuntimeError("the worker broke")
        failed = [r["messageId"] for r in event["Records"] if json.loads(r["body"]).get("fail")]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}


@pytest.fixture(scope="module")
def worker() -> Worker:
    return Worker()


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, worker: Worker) -> Iterator[LocalBackend]:
    consumer = replace(
        MANIFEST.function(WORKER),
        queue_sources=(QueueSource(MIGRATION_QUEUE.name, batch_size=5, max_receives=2),),
    )
    manifest = replace(MANIFEST.only(WORKER), functions=(consumer,))
    with LocalBackend(
        regions=(REGION,),
        port=0,
        keys_dir=tmp_path_factory.mktemp("keys"),
        seed=False,
        ttl_sweep_s=None,
        bus_poll_s=None,
        manifest=manifest,
        handlers={WORKER: worker},
    ) as started:
        yield started


def send(backend: LocalBackend, *bodies: dict[str, Any]) -> None:
    (poller,) = backend.queue_pollers[REGION]
    sqs = aws(backend, "sqs", REGION)
    for body in bodies:
        sqs.send_message(QueueUrl=poller.queue_url, MessageBody=json.dumps(body))


def drain(backend: LocalBackend, worker: Worker, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        backend.pump_queues()
        time.sleep(0.2)


def test_messages_arrive_in_lambdas_sqs_shape_and_are_deleted_once_taken(
    backend: LocalBackend, worker: Worker
) -> None:
    worker.events.clear()
    send(backend, {"n": 1}, {"n": 2}, {"n": 3})

    taken = backend.pump_queues()

    assert taken == 3
    records = [r for e in worker.events for r in e["Records"]]
    assert sorted(json.loads(r["body"])["n"] for r in records) == [1, 2, 3]
    assert all(len(e["Records"]) <= 5 for e in worker.events)
    record = records[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(f":{MIGRATION_QUEUE.local_queue_name()}")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert backend.pump_queues() == 0  # deleted


def test_a_failed_message_comes_back_and_after_its_receives_goes_to_the_dead_letter_queue(
    backend: LocalBackend, worker: Worker
) -> None:
    worker.events.clear()
    (poller,) = backend.queue_pollers[REGION]
    before = len(poller.dead_letters)
    send(backend, {"n": 10}, {"n": 11, "fail": True})

    drain(backend, worker, seconds=3.5)

    bodies = [json.loads(r["body"]) for e in worker.events for r in e["Records"]]
    assert bodies.count({"n": 10}) == 1  # taken once: the partial failure failed only its neighbour
    assert bodies.count({"n": 11, "fail": True}) == 2  # received twice (max_receives), then dead
    (dead,) = poller.dead_letters[before:]
    assert (json.loads(dead.body), dead.receives) == ({"n": 11, "fail": True}, 2)
    dlq = aws(backend, "sqs", REGION).get_queue_url(QueueName=dead_letter_queue_name(MIGRATION_QUEUE))
    kept = aws(backend, "sqs", REGION).receive_message(QueueUrl=dlq["QueueUrl"], MaxNumberOfMessages=10)
    assert [json.loads(m["Body"]) for m in kept.get("Messages", [])] == [{"n": 11, "fail": True}]


def test_an_invocation_that_raises_fails_its_whole_batch(backend: LocalBackend, worker: Worker) -> None:
    worker.events.clear()
    send(backend, {"n": 20, "raise": True})

    drain(backend, worker, seconds=3.5)

    assert len(worker.events) == 2  # delivered again, then dead-lettered
    (poller,) = backend.queue_pollers[REGION]
    assert json.loads(poller.dead_letters[-1].body) == {"n": 20, "raise": True}


class FannedOut:
    """A stand-in of a schedule's function that fans its work out per tenant: its scheduled run
    queues a work item per tenant, its queue's mapping brings each back."""

    def __init__(self) -> None:
        self.backend: LocalBackend | None = None
        self.taken: list[str] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if "Records" in event:
            self.taken += [json.loads(r["body"])["tenant"] for r in event["Records"]]
            return {"batchItemFailures": []}
        assert self.backend is not None
        (poller,) = self.backend.queue_pollers[REGION]
        for tenant in ("acme", "beta", "gamma"):
            aws(self.backend, "sqs", REGION).send_message(
                QueueUrl=poller.queue_url, MessageBody=json.dumps({"tenant": tenant})
            )
        return {"tenants": 3, "queued": 3}


def test_firing_a_schedule_that_fans_out_delivers_its_work_items_before_it_returns(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`fire_schedule` of a function sending to one of the manifest's `work_queues` (the telemetry
    aggregation) returns once the queue's mapping took the items its run queued, as the mapping
    would soon after in AWS; with `drain=False` they wait for the mapping."""
    fanned = FannedOut()
    with LocalBackend(
        regions=(REGION,),
        port=0,
        keys_dir=tmp_path_factory.mktemp("keys"),
        seed=False,
        ttl_sweep_s=None,
        bus_poll_s=None,
        manifest=MANIFEST.only("gui_telemetry"),
        handlers={"gui_telemetry": fanned},
    ) as backend:
        fanned.backend = backend
        (poller,) = backend.queue_pollers[REGION]
        assert poller.queue.name == "telemetry-work"
        assert backend.fire_schedule("telemetry-aggregate", REGION) == {"tenants": 3, "queued": 3}
        assert sorted(fanned.taken) == ["acme", "beta", "gamma"]
        assert backend.pump_queues() == 0

        fanned.taken.clear()
        backend.fire_schedule("telemetry-aggregate", REGION, drain=False)
        assert fanned.taken == []
        assert backend.pump_queues() == 3
        assert sorted(fanned.taken) == ["acme", "beta", "gamma"]


HOLD_S = 7.0  # longer than a stop used to wait for a poller's thread (5 s) before stopping moto


def test_a_stop_waits_for_the_invocation_a_poller_is_in_before_moto_stops(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A poller mid-invocation when the backend stops (`ddgui dev` stopped just after a schedule
    queued its work items): the stop waits for it, and for its delete of the message, before moto's
    server stops; the function's calls still reach the endpoint, and nothing is logged as an error
    (a join that gave up after 5 s left the poller calling a stopped endpoint: a traceback)."""
    taken = threading.Event()
    calls: list[object] = []
    started: list[LocalBackend] = []

    def slow_worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
        taken.set()
        time.sleep(HOLD_S)
        try:
            aws(started[0], "sqs", REGION).list_queues()
            calls.append("answered")
        except Exception as exc:  # the endpoint was gone
            calls.append(exc)
        return {"batchItemFailures": []}

    backend = LocalBackend(
        regions=(REGION,),
        port=0,
        keys_dir=tmp_path_factory.mktemp("keys"),
        seed=False,
        ttl_sweep_s=None,
        manifest=MANIFEST.only(WORKER),
        handlers={WORKER: slow_worker},
        migrate=False,
    ).start()
    try:
        started.append(backend)
        send(backend, {"n": 30})
        assert taken.wait(30)
    finally:
        backend.stop()

    assert calls == ["answered"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
