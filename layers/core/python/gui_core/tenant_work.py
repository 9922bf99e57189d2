"""Region-wide batch work fanned out per tenant, on SQS and Lambda's queue mapping.

A schedule invokes the function of a kind of work (the telemetry aggregation, the search index
drift check) once a cycle; it queues one work item per tenant homed in the region (`dispatch`) on
the kind's queue, and the queue's mapping brings them back to the same function, one tenant an
invocation, at most the mapping's `max_concurrency` at once (`TenantWorker`). So the whole region is
done within a cycle however many tenants it has, one tenant's failure stays its own, and progress is
the queue's: items waiting, taken, and the age of the oldest one.

A work item carries its cycle's end (`not_after`): one taken later is dropped and counted
(`WorkItemsExpired`, an alarm), since the next cycle has queued the tenant again; so a backlog never
grows past about one cycle. A tenant whose work fails is logged and counted under the kind's own
failure metric (an alarm) and its item consumed: the next cycle tries again, and a failure never
holds up the queue. A message that is no work item of this kind fails, and after the mapping's
receives goes to the queue's dead-letter queue (`DlqDepth`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from gui_core.metric_names import MetricName, TenantWorkMetric

logger = logging.getLogger("gui_core.tenant_work")

WORK_ITEM_VERSION = 1


@dataclass(frozen=True)
class TenantWork:
    """One tenant's part of one cycle of a kind of work, as a message of the kind's queue."""

    kind: str
    tenant: str
    cycle: str  # when the cycle began (UTC, ISO 8601)
    not_after: int  # epoch seconds: the cycle's end, past which the item is dropped

    def body(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "tenant": self.tenant,
                "cycle": self.cycle,
                "not_after": self.not_after,
                "v": WORK_ITEM_VERSION,
            },
            sort_keys=True,
        )

    @classmethod
    def of(cls, body: str) -> TenantWork:
        document = json.loads(body)
        if not isinstance(document, dict) or document.get("v") != WORK_ITEM_VERSION:
            raise ValueError("not a tenant work item of this version")
        return cls(
            kind=str(document["kind"]),
            tenant=str(document["tenant"]),
            cycle=str(document["cycle"]),
            not_after=int(document["not_after"]),
        )


class Queue(Protocol):
    def send(self, items: Sequence[TenantWork]) -> None: ...


def dispatch(
    kind: str, tenants: Sequence[str], queue: Queue, *, now: datetime, cycle_s: int
) -> list[TenantWork]:
    """One work item per tenant for the cycle beginning `now`, queued; the items."""
    began = now.astimezone(UTC).replace(microsecond=0)
    items = [
        TenantWork(kind, tenant, began.strftime("%Y-%m-%dT%H:%M:%SZ"), int(began.timestamp()) + cycle_s)
        for tenant in tenants
    ]
    queue.send(items)
    return items


class Outcome(StrEnum):
    DONE = "done"
    EXPIRED = "expired"  # its cycle ended before it was taken: dropped
    FAILED = "failed"  # the tenant's work raised: counted, consumed


@dataclass
class TenantWorker:
    """Takes a kind's work items: each tenant's `work`, its failure counted as `failure_metric`."""

    kind: str
    work: Callable[[str], None]
    count: Callable[[MetricName, float], None]
    failure_metric: MetricName
    clock: Callable[[], float] = time.time

    def take(self, body: str) -> Outcome:
        """One message's work item. Raises for a message that is none of this kind's (it fails, and
        goes to the dead-letter queue after the mapping's receives)."""
        item = TenantWork.of(body)
        if item.kind != self.kind:
            raise ValueError(f"a {item.kind} work item on the {self.kind} queue")
        late = self.clock() - item.not_after
        if late > 0:
            logger.warning(
                "work item of %s for cycle %s dropped %d s after the cycle ended",
                item.tenant,
                item.cycle,
                math.ceil(late),
            )
            self.count(TenantWorkMetric.EXPIRED, 1)
            return Outcome.EXPIRED
        try:
            self.work(item.tenant)
        except Exception:
            logger.exception("%s of tenant %s failed (cycle %s)", self.kind, item.tenant, item.cycle)
            self.count(self.failure_metric, 1)
            return Outcome.FAILED
        self.count(TenantWorkMetric.DONE, 1)
        return Outcome.DONE

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """An SQS batch of the queue's mapping: each message's item, partial failures reported."""
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
        from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

        def take(record: SQSRecord) -> str:
            return self.take(record.body).value

        return dict(
            process_partial_response(event=event, record_handler=take, processor=processor, context=context)
        )


def is_queue_batch(event: dict[str, Any]) -> bool:
    """Whether the function was invoked by a queue's mapping (else: by its schedule)."""
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and records[0].get("eventSource") == "aws:sqs"
