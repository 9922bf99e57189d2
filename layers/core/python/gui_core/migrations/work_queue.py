"""The SQS adapter of a work queue: one message per work item, the migrations' (migration, tenant)
and the schedules' per-tenant ones (`gui_core.tenant_work`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

BATCH = 10  # SQS's most per SendMessageBatch


class Message(Protocol):
    """A work item as the queue carries it."""

    def body(self) -> str: ...


class BatchSender(Protocol):
    """What the queue needs of an SQS client."""

    def send_message_batch(
        self,
        *,
        QueueUrl: str,  # noqa: N803 - boto3's names
        Entries: Sequence[Mapping[str, Any]],  # noqa: N803
    ) -> Mapping[str, Any]: ...


class SqsWorkQueue:
    def __init__(self, queue_url: str, client: BatchSender) -> None:
        self.queue_url = queue_url
        self._client = client

    def send(self, items: Sequence[Message]) -> None:
        """Every item, ten a call; raises when SQS refused any (the caller's run fails, and its
        ledger still says which tenants are done)."""
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            answer = self._client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(n), "MessageBody": item.body()} for n, item in enumerate(chunk)],
            )
            failed = answer.get("Failed") or []
            if failed:
                raise RuntimeError(f"work items not queued: {failed}")
