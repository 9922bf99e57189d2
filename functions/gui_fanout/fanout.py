"""The fan-out of one Kinesis record: validate, residency, inbox item, replay log, push.

Per record (the data is the EventBridge envelope the rule `gui-events-to-stream` put on the
stream, partition key = tenant):

1. decode and `domain_events.parse`; a kind the GUI does not show is counted and skipped. Data
   that is not an envelope, an unknown schema version or an invalid detail is poison: redelivering
   it cannot fix it and it must not block the shard, so it is counted and quarantined
   (`gui_core.quarantine`: the raw record, for an operator to inspect and replay);
2. a tenant unknown here or homed in another region is counted and quarantined too (nothing of it
   is written here: its data stays home);
3. an inbox kind writes its inbox item, idempotent on an id derived from the event id;
4. per channel of the kind: append to the replay log (idempotent on the event id, cursor = the
   record's sequence number), push to the channel's subscribers unless a first delivery already
   did, remove the connections that answer 410, mark the event pushed.

A record that raises (DynamoDB unavailable, the quarantine queue unreachable...) is reported failed,
and so is every later record of the same tenant in the batch, unprocessed: Lambda retries from the
lowest failed sequence number, so a tenant's events still reach the log and the GUI in order. Other
tenants' records go on; their redelivery after a retry logs and pushes nothing twice (the log's
guard and `pushed` mark), and quarantines a poison one again (a replay puts it back once).

Each decoded record is a CONSUMER span, `process <detail-type>`: a child of the context its detail
carries (`trace`, put there by `gui_core.bus` when the event was published: the span of the REST
request that published it, so one trace runs from the click to the push), linked to the span of the
invocation's batch (the current span when the record is handled); a record without a context is a
child of the batch's span. Undecodable records have no span: they are counted and quarantined.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from opentelemetry.trace import SpanKind

from gui_core import tracing
from gui_core.domain_events import (
    EVENT_ROUTING,
    InvalidEvent,
    UnknownKind,
    UnknownSchemaVersion,
    kinesis_envelope,
    parse,
)
from gui_core.live_graphql import FRAME_OVERHEAD_BYTES
from gui_core.metric_names import FanoutMetric, MetricName, QuarantineMetric
from gui_core.pusher import FRAME_LIMIT_BYTES, PushReport, fit
from gui_core.quarantine import Quarantine, Reason
from gui_core.replay_log import Appended, LiveEvent, encode, to_cursor
from gui_core.tenancy import NotHomedHere, TenantLookup, homed_here
from gui_fanout.transform import GuiEvent, to_gui
from gui_notifications.models import NewNotification

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from gui_core.connections import Subscription

logger = logging.getLogger("gui_fanout")
# How long a batch reuses the subscribers it read for a (tenant, channel) (see FanoutBatch).
SUBSCRIBERS_MAX_AGE_S = 0.5

Outcome = Literal[
    "delivered",
    "invalid",
    "unknown_schema_version",
    "not_for_gui",
    "wrong_region",
    "unrepresentable_cursor",
]


class EventLog(Protocol):
    """What the fan-out needs of `gui_core.replay_log.ReplayLog`."""

    def append(self, event: LiveEvent) -> Appended: ...

    def mark_pushed(self, event: LiveEvent) -> None: ...


class Subscribers(Protocol):
    """What the fan-out needs of `gui_core.connections.ConnectionRegistry`."""

    def subscriptions(self, tenant: str, channel: str) -> list[Subscription]: ...

    def remove(self, tenant: str, connection_id: str) -> None: ...


class Push(Protocol):
    """What the fan-out needs of `gui_core.pusher.Pusher`."""

    def push_each(self, messages: Sequence[tuple[str, bytes]]) -> PushReport: ...


class Inbox(Protocol):
    """What the fan-out needs of `gui_notifications.repository.InboxRepository`."""

    def append(self, tenant: str, notification: NewNotification) -> bool: ...


class _Dropped(Exception):
    """A record that no retry can deliver: counted under `metric`, quarantined when it is poison
    (`reason`), then skipped."""

    def __init__(
        self, outcome: Outcome, metric: FanoutMetric, reason: Reason | None = None, error: str = ""
    ) -> None:
        super().__init__(outcome)
        self.outcome: Outcome = outcome
        self.metric = metric
        self.reason = reason
        self.error = error


class BlockedByEarlierFailure(Exception):
    """An earlier record of the same tenant failed in this batch: this one waits for the retry."""


class Fanout:
    def __init__(
        self,
        *,
        region: str,
        tenants: TenantLookup,
        replay_log: EventLog,
        registry: Subscribers,
        pusher: Push,
        inbox: Inbox,
        quarantine: Quarantine,
        clock: Callable[[], float] = time.time,
        tracer: Tracer | None = None,
    ) -> None:
        self.region = region
        self._tracer = tracer or tracing.tracer("gui_fanout")
        self._tenants = tenants
        self._log = replay_log
        self._registry = registry
        self._pusher = pusher
        self._inbox = inbox
        self._quarantine = quarantine
        self._clock = clock

    def batch(self) -> FanoutBatch:
        """A fresh run for one invocation's batch."""
        return FanoutBatch(self)

    def deliver(self, record: Mapping[str, Any], batch: FanoutBatch) -> Outcome:
        """One record of Lambda's event; raises only on failures a retry may cure (a poison record
        that could not be quarantined is one)."""
        kinesis: Mapping[str, Any] = record.get("kinesis") or {}
        try:
            envelope = self._envelope(kinesis)
        except _Dropped as drop:
            return self._drop(record, drop, batch)
        kind = str(envelope.get("detail-type"))
        raw = envelope.get("detail")
        detail: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        with tracing.span(
            self._tracer,
            f"process {kind}",
            kind=SpanKind.CONSUMER,
            parent=tracing.context_of(detail),
            links=tracing.link_to_current(),
            attributes={
                "messaging.system": "aws_kinesis",
                "messaging.operation.type": "process",
                "messaging.message.id": str(detail.get("event_id") or envelope.get("id") or ""),
                "messaging.kinesis.sequence_number": str(kinesis.get("sequenceNumber")),
                tracing.EVENT_KIND: kind,
                tracing.TENANT: str(detail.get("tenant") or "") or None,
            },
        ) as span:
            outcome = self._deliver(record, envelope, kind, detail, batch)
            span.set_attribute(tracing.OUTCOME, outcome)
            return outcome

    def _deliver(
        self,
        record: Mapping[str, Any],
        envelope: Mapping[str, Any],
        kind: str,
        detail: Mapping[str, Any],
        batch: FanoutBatch,
    ) -> Outcome:
        counts = batch.counts
        try:
            gui, cursor = self._admit(record.get("kinesis") or {}, envelope, kind, detail)
        except _Dropped as drop:
            return self._drop(record, drop, batch)
        if gui.notification is not None:
            written = self._inbox.append(gui.tenant, gui.notification)
            counts[FanoutMetric.INBOX_WRITTEN if written else FanoutMetric.INBOX_REPEATS] += 1
        for channel in gui.channels:
            self._publish(gui, channel, cursor, batch)
        return "delivered"

    def _drop(self, record: Mapping[str, Any], drop: _Dropped, batch: FanoutBatch) -> Outcome:
        """Count a record no retry can deliver; keep it in the quarantine first when it is poison
        (a failure to keep it raises: the record is reported failed and delivered again)."""
        if drop.reason is not None:
            self._quarantine.keep(record, drop.reason, drop.error)
            batch.counts[QuarantineMetric.RECORDS_QUARANTINED] += 1
        batch.counts[drop.metric] += 1
        return drop.outcome

    def subscriptions(self, tenant: str, channel: str) -> list[Subscription]:
        return self._registry.subscriptions(tenant, channel)

    def now(self) -> float:
        return self._clock()

    @staticmethod
    def _envelope(kinesis: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return kinesis_envelope(kinesis)
        except ValueError as exc:
            logger.warning("undecodable record %s: %s", kinesis.get("sequenceNumber"), exc)
            raise _Dropped("invalid", FanoutMetric.INVALID_EVENT, "undecodable", str(exc)) from exc

    def _admit(
        self, kinesis: Mapping[str, Any], envelope: Mapping[str, Any], kind: str, detail: Mapping[str, Any]
    ) -> tuple[GuiEvent, str]:
        """The record's GUI event and cursor, or _Dropped with the reason."""
        try:
            event = parse(kind, detail)
        except UnknownKind as exc:
            raise _Dropped("not_for_gui", FanoutMetric.NOT_FOR_GUI) from exc
        except UnknownSchemaVersion as exc:
            logger.warning("refused: %s", exc)
            raise _Dropped(
                "unknown_schema_version",
                FanoutMetric.UNKNOWN_SCHEMA_VERSION,
                "unknown_schema_version",
                str(exc),
            ) from exc
        except InvalidEvent as exc:
            logger.warning("invalid %s %s: %s", kind, envelope.get("id"), exc.errors)
            raise _Dropped("invalid", FanoutMetric.INVALID_EVENT, "invalid", str(exc)) from exc
        routing = EVENT_ROUTING[kind]
        if not routing.channels and not routing.inbox:
            raise _Dropped("not_for_gui", FanoutMetric.NOT_FOR_GUI)
        gui = to_gui(kind, event, routing)
        try:
            homed_here(self._tenants, gui.tenant, region=self.region, what=f"{kind} {gui.event_id}")
        except NotHomedHere as refused:
            raise _Dropped(
                "wrong_region", FanoutMetric.RESIDENCY_REFUSED, refused.reason, str(refused)
            ) from refused
        try:
            cursor = to_cursor(str(kinesis.get("sequenceNumber")))
        except ValueError as exc:
            logger.warning("sequence number %s does not fit a cursor", kinesis.get("sequenceNumber"))
            raise _Dropped(
                "unrepresentable_cursor",
                FanoutMetric.CURSOR_UNREPRESENTABLE,
                "unrepresentable_cursor",
                str(exc),
            ) from exc
        return gui, cursor

    def _publish(self, gui: GuiEvent, channel: str, cursor: str, batch: FanoutBatch) -> None:
        counts = batch.counts
        appended = self._log.append(
            LiveEvent(gui.tenant, channel, cursor, gui.event_id, gui.kind, gui.at, gui.payload)
        )
        if not appended.new and appended.pushed:
            counts[FanoutMetric.ALREADY_PUSHED] += 1
            return
        logged = appended.event  # a repeat: as first logged (its cursor), pushed now
        report = self._pusher.push_each(frames(logged, batch.subscriptions(logged.tenant, channel)))
        for connection_id in report.gone:
            self._registry.remove(logged.tenant, connection_id)
            batch.forget(logged.tenant, connection_id)
        if report.failed:
            logger.warning("push of %s to %s failed for %s", logged.event_id, channel, report.failed)
        counts[FanoutMetric.PUSHED] += len(report.sent)
        counts[FanoutMetric.GONE] += len(report.gone)
        counts[FanoutMetric.PUSH_FAILED] += len(report.failed)
        self._log.mark_pushed(logged)

    def lag_ms(self, kinesis: Mapping[str, Any]) -> float | None:
        arrival = kinesis.get("approximateArrivalTimestamp")
        if not isinstance(arrival, int | float):
            return None
        return max(0.0, (self._clock() - float(arrival)) * 1000)


def frames(event: LiveEvent, subscriptions: Sequence[Subscription]) -> list[tuple[str, bytes]]:
    """The event's frame for each subscription: the live protocol's message (one encoding for all
    of them), or a GraphQL subscription's `next` message with the fields it selected."""
    live: bytes | None = None
    graphql: dict[str, Any] | None = None
    made: list[tuple[str, bytes]] = []
    for subscription in subscriptions:
        selection = subscription.selection
        if selection is None:
            live = live or encode(fit(event.message()))
            made.append((subscription.connection_id, live))
        else:
            graphql = graphql or fit(event.message(), limit_bytes=FRAME_LIMIT_BYTES - FRAME_OVERHEAD_BYTES)
            made.append((subscription.connection_id, encode(selection.frame(graphql))))
    return made


class FanoutBatch:
    """One invocation's records, in order: the tenants whose record failed, the counts to emit, the
    largest lag seen, and the subscribers of each (tenant, channel) read for the batch.

    Subscribers are read once per (tenant, channel) and `SUBSCRIBERS_MAX_AGE_S`: a busy channel
    costs one query per batch instead of one per event. A connection that subscribes meanwhile
    misses at most that long of live pushes; it resumes from its cursor when it subscribes, and
    the resume reads the log, where every event already is."""

    def __init__(self, fanout: Fanout) -> None:
        self._fanout = fanout
        self.blocked: set[str] = set()
        self.counts: Counter[MetricName] = Counter()
        self.max_lag_ms: float | None = None
        self._subscribers: dict[tuple[str, str], tuple[float, list[Subscription]]] = {}

    def subscriptions(self, tenant: str, channel: str) -> list[Subscription]:
        now = self._fanout.now()
        read = self._subscribers.get((tenant, channel))
        if read is None or now - read[0] > SUBSCRIBERS_MAX_AGE_S:
            read = (now, self._fanout.subscriptions(tenant, channel))
            self._subscribers[(tenant, channel)] = read
            self.counts[FanoutMetric.SUBSCRIBER_READS] += 1
        return read[1]

    def forget(self, tenant: str, connection_id: str) -> None:
        """A connection found gone: not pushed to again in this batch."""
        for (cached_tenant, _), (_, subscriptions) in self._subscribers.items():
            if cached_tenant == tenant:
                subscriptions[:] = [s for s in subscriptions if s.connection_id != connection_id]

    def handle(self, record: Mapping[str, Any]) -> Outcome:
        """One record of Lambda's Kinesis event; raises to report it failed."""
        self.counts[FanoutMetric.RECORDS] += 1
        kinesis = record.get("kinesis") or {}
        lag = self._fanout.lag_ms(kinesis)
        if lag is not None:
            self.max_lag_ms = lag if self.max_lag_ms is None else max(self.max_lag_ms, lag)
        key = str(kinesis.get("partitionKey") or "")
        if key in self.blocked:
            self.counts[FanoutMetric.RECORDS_DEFERRED] += 1
            raise BlockedByEarlierFailure(f"an earlier record of {key!r} failed in this batch")
        try:
            return self._fanout.deliver(record, self)
        except Exception:
            self.blocked.add(key)
            self.counts[FanoutMetric.RECORDS_FAILED] += 1
            logger.exception("record %s of %s failed", kinesis.get("sequenceNumber"), key)
            raise
