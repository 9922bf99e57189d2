"""EventBridge delivery for the manifest's rules, on moto.

moto's bus matches event patterns and delivers to SQS targets faithfully, but it cannot deliver to
Kinesis (PutEvents fails) or invoke a Lambda without Docker. So each manifest rule gets a mirror
rule on moto's bus with the same pattern and an SQS queue as its target, and this relay moves what
lands in each queue to the rule's real target: the Kinesis stream (partition key from the rule's
path) or the function's container. Functions publish with the real PutEvents call and the real
pattern decides who gets what. A delivery that fails stays in its queue and comes back after the
visibility timeout, like EventBridge's retries; after `max_receives` it goes to `dead_letters`.

Local subscribers (the demo executor) receive every domain event of the detail types they name.

EventBridge puts a matching event on the stream at once. With `stream_wait_s`, the mirrors of the
rules that target the stream are each read by a thread of their own with SQS long polling (moto
answers the moment PutEvents lands a message), so an event reaches the stream without waiting for
the relay's next round (`poll_s`, which the other mirrors keep); without it (0), they are polled
with the others. After each put on the stream the relay calls its `stream_listeners` (the local
mappings' `notify`: an enhanced fan-out mapping reads at once, as Kinesis would push the record).

moto keeps one state per process, so backends started by one process (test suites do) share the
bus. Each relay's mirror rules and queues carry its own suffix and are deleted when it stops: a
relay sees only what was published while it ran, never another backend's backlog, and two live
relays each receive every event once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local.apigw import LOCAL_ACCOUNT
from local.aws import aws_client
from local.background import STOP_JOIN_S, endpoint_gone, join
from local.pool import Throttled
from stacks.manifest import Manifest, Rule

if TYPE_CHECKING:
    from local.pool import Invoker

logger = logging.getLogger("local.bus")

SUBSCRIBERS_RULE = "local-subscribers"
DOMAIN_SOURCE_PREFIX = "domaindetermine."
VISIBILITY_TIMEOUT_S = 2


@dataclass
class _Mirror:
    rule: Rule | None  # None: the local subscribers' queue
    name: str
    queue_url: str


@dataclass
class Subscription:
    detail_types: tuple[str, ...]
    callback: Callable[[dict[str, Any]], None]


@dataclass
class BusRelay:
    """One region's bus deliveries. `pump()` delivers what is waiting; `start()` pumps in a thread."""

    manifest: Manifest
    endpoint_url: str
    region: str
    containers: Mapping[str, Invoker]
    poll_s: float = 0.2
    max_receives: int = 5
    # SQS long polling of the stream rules' mirrors, seconds (1-20; 0: polled every `poll_s`).
    stream_wait_s: int = 0
    stream_listeners: list[Callable[[], None]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    _mirrors: list[_Mirror] = field(default_factory=list)
    _subscriptions: list[Subscription] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _listeners: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Receives of a message that Lambda refused for concurrency, by message id: not attempts.
    _throttled: Counter[str] = field(default_factory=Counter)
    instance: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        if not 0 <= self.stream_wait_s <= 20:
            raise ValueError("SQS long-polls 0 to 20 s")
        self._events = aws_client("events", endpoint_url=self.endpoint_url, region=self.region)
        self._sqs = aws_client("sqs", endpoint_url=self.endpoint_url, region=self.region)
        self._kinesis = aws_client("kinesis", endpoint_url=self.endpoint_url, region=self.region)
        self.bus_name = self.manifest.bus.local_bus_name()
        for rule in self.manifest.rules:  # the pattern the stack gives the rule (moto matches `exists`)
            self._mirrors.append(self._mirror(rule, rule.name, rule.event_pattern()))
        subscribers = {"source": [{"prefix": DOMAIN_SOURCE_PREFIX}]}
        self._mirrors.append(self._mirror(None, SUBSCRIBERS_RULE, subscribers))

    def mirror_name(self, rule_name: str) -> str:
        """The name of this relay's mirror of `rule_name` (rule and queue)."""
        return f"{rule_name}-{self.instance}"

    def _mirror(self, rule: Rule | None, rule_name: str, pattern: Mapping[str, object]) -> _Mirror:
        name = self.mirror_name(rule_name)
        queue_name = f"ddgui-bus-{name}"
        queue_url: str = self._sqs.create_queue(
            QueueName=queue_name, Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S)}
        )["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self._events.put_rule(Name=name, EventBusName=self.bus_name, EventPattern=json.dumps(pattern))
        self._events.put_targets(Rule=name, EventBusName=self.bus_name, Targets=[{"Id": "relay", "Arn": arn}])
        return _Mirror(rule, name, queue_url)

    # -- use ---------------------------------------------------------------------------------

    def subscribe(self, detail_types: tuple[str, ...], callback: Callable[[dict[str, Any]], None]) -> None:
        with self._lock:
            self._subscriptions.append(Subscription(tuple(detail_types), callback))

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Put one event on the region's bus, as a producer would."""
        answer = self._events.put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self.bus_name,
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"the bus refused the event: {answer['Entries']}")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"ddgui-bus-{self.region}", daemon=True)
        self._thread.start()
        for mirror in self._listened():
            listener = threading.Thread(
                target=self._listen,
                args=(mirror,),
                name=f"ddgui-bus-{self.region}-{mirror.name}",
                daemon=True,
            )
            self._listeners.append(listener)
            listener.start()

    def _listened(self) -> list[_Mirror]:
        """The mirrors read by a long-polling thread of their own: the stream rules', with
        `stream_wait_s`."""
        if not self.stream_wait_s:
            return []
        return [m for m in self._mirrors if m.rule is not None and m.rule.stream is not None]

    def request_stop(self) -> None:
        """Ask the relay to stop delivering (it ends the delivery it is in); `stop` waits for it."""
        self._stop.set()

    def stop(self, timeout_s: float = STOP_JOIN_S) -> bool:
        """Stop delivering (waiting up to `timeout_s` for the thread) and delete this relay's mirrors
        (what they still hold is dropped with them, as a stopped backend's state is); True when the
        thread has ended."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        ended = join(self._thread, timeout_s)
        if ended:
            self._thread = None
        # A listener ends its long poll (at most `stream_wait_s`) and the delivery it is in.
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            if not join(listener, deadline - time.monotonic()):
                ended = False
        mirrors, self._mirrors = self._mirrors, []
        for mirror in mirrors:
            try:
                self._events.remove_targets(Rule=mirror.name, EventBusName=self.bus_name, Ids=["relay"])
                self._events.delete_rule(Name=mirror.name, EventBusName=self.bus_name)
                self._sqs.delete_queue(QueueUrl=mirror.queue_url)
            except Exception:  # the endpoint may be gone already (its own moto server stopped first)
                logger.debug("could not delete mirror %s", mirror.name, exc_info=True)
        return ended

    def pump(self) -> int:
        """Deliver every event waiting now; the number delivered."""
        delivered = 0
        for mirror in self._mirrors:
            delivered += self._drain(mirror)
        return delivered

    # -- delivery ----------------------------------------------------------------------------

    def _loop(self) -> None:
        listened = self._listened()
        polled = [m for m in self._mirrors if m not in listened]
        while not self._stop.is_set():
            try:
                if sum(self._drain(mirror) for mirror in polled) == 0:
                    self._stop.wait(self.poll_s)
            except Exception as exc:  # a broken delivery must not end the relay
                if self._stop.is_set() and endpoint_gone(exc):
                    logger.debug("bus relay (%s): the endpoint is gone", self.region)
                    return
                logger.exception("bus relay error")
                self._stop.wait(1)

    def _listen(self, mirror: _Mirror) -> None:
        """One stream rule's mirror, long-polled until the relay stops."""
        while not self._stop.is_set():
            try:
                self._drain(mirror, wait_s=self.stream_wait_s)
            except Exception as exc:  # a broken delivery must not end the listener
                if self._stop.is_set():
                    logger.debug("bus listener (%s) stopping: %s", mirror.name, exc)
                    return
                logger.exception("bus listener error (%s)", mirror.name)
                self._stop.wait(1)

    def _drain(self, mirror: _Mirror, *, wait_s: int = 0) -> int:
        """Deliver what `mirror` holds; with `wait_s`, wait up to that long for a first message (SQS
        long polling) and return after the first empty answer."""
        delivered = 0
        # A stopped relay must not take another message: its containers are closing, and moto's
        # state (queues included) is shared by every backend of the process.
        while not self._stop.is_set():
            answer = self._sqs.receive_message(
                QueueUrl=mirror.queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["ApproximateReceiveCount"],
                WaitTimeSeconds=wait_s,
            )
            messages = answer.get("Messages", [])
            if not messages:
                return delivered
            for message in messages:
                if self._stop.is_set():
                    return delivered  # not deleted: visible again to a live relay after the timeout
                envelope = {"account": LOCAL_ACCOUNT, **json.loads(message["Body"])}
                message_id = message["MessageId"]
                try:
                    self._deliver(mirror.rule, envelope)
                except Throttled:
                    # Lambda refused the invocation (reserved concurrency in use): retried until
                    # the event's maximum age, and not a failed attempt.
                    self._throttled[message_id] += 1
                    continue  # visible again after the timeout
                except Exception as exc:
                    if self._stop.is_set() and endpoint_gone(exc):
                        return delivered  # stopping: moto's server is gone
                    receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                    attempts = receives - self._throttled[message_id]
                    logger.exception("delivery of %s failed (attempt %d)", envelope.get("id"), attempts)
                    if attempts < self.max_receives:
                        continue  # visible again after the timeout: retried
                    self.dead_letters.append(envelope)
                self._throttled.pop(message_id, None)
                self._sqs.delete_message(QueueUrl=mirror.queue_url, ReceiptHandle=message["ReceiptHandle"])
                delivered += 1
        return delivered

    def _deliver(self, rule: Rule | None, envelope: dict[str, Any]) -> None:
        if rule is None:
            with self._lock:
                subscriptions = list(self._subscriptions)
            for subscription in subscriptions:
                if envelope.get("detail-type") in subscription.detail_types:
                    subscription.callback(envelope)
        elif rule.stream is not None:
            self._kinesis.put_record(
                StreamName=self.manifest.stream.local_stream_name(),
                Data=json.dumps(envelope).encode(),
                PartitionKey=str(_json_path(envelope, rule.partition_key_path)),
            )
            for listener in list(self.stream_listeners):
                listener()
        elif rule.function is not None:
            container = self.containers[rule.function]
            container.invoke(envelope)


def _json_path(document: Mapping[str, Any], path: str) -> Any:
    """`$.detail.tenant` -> document["detail"]["tenant"] (the subset EventBridge's paths use here)."""
    value: Any = document
    for part in path.removeprefix("$.").split("."):
        value = value[part]
    return value
