"""Lambda's SQS event source mapping, played locally on moto's queue.

For each function with `queue_sources`, per region, a `QueuePoller` receives up to `batch_size`
messages of the queue (hidden for the queue's visibility timeout while the function runs) and invokes
the function with them in the shape of `events/aws/sqs_migration_work.json`, applying the mapping's
semantics:

- a message the function does not report failed (`batchItemFailures`, ReportBatchItemFailures) is
  deleted; an invocation that raises (or runs past the function's timeout) fails every message of
  the batch, and an identifier that is not in the batch fails the whole batch, as Lambda does;
- a failed message is received again once it is visible: Lambda waits for the visibility timeout
  (30 min for `migration-work`); locally it is made visible again after `retry_s` (1 s), so a local
  run moves;
- a message received `max_receives` times and failed again goes to the queue's dead-letter queue (the
  queue's redrive policy in AWS): locally the queue `<queue>-dlq` and `dead_letters`, a list tests
  read;
- a batch Lambda refused (reserved concurrency, `local.pool.Throttled`) is made visible again later;
  its receive still counts, as it does in AWS (hence a `max_receives` above 1).

`LocalBackend` starts the pollers with the bus relay (`bus_poll_s`); `pump()`
(`LocalBackend.pump_queues`) delivers what waits, on demand. Not played: batching windows, the
mapping's scaling (one batch at a time per queue and region).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.apigw import sample_event
from local.aws import aws_client
from local.background import BackgroundLoop, endpoint_gone
from local.containers import LOCAL_ACCOUNT
from local.pool import Throttled

if TYPE_CHECKING:
    from local.pool import Invoker
    from stacks.manifest import Queue, QueueSource

logger = logging.getLogger("local.queues")

SAMPLE = "sqs_migration_work"
DEFAULT_POLL_S = 0.2
DEFAULT_RETRY_S = 1


def dead_letter_queue_name(queue: Queue) -> str:
    return f"{queue.local_queue_name()}-dlq"


@dataclass(frozen=True)
class DeadLetter:
    function: str
    region: str
    message_id: str
    body: str
    receives: int


class QueuePoller(BackgroundLoop):
    """One function's mapping of one queue in one region."""

    def __init__(
        self,
        invoker: Invoker,
        source: QueueSource,
        queue: Queue,
        *,
        endpoint_url: str,
        poll_s: float = DEFAULT_POLL_S,
        retry_s: int = DEFAULT_RETRY_S,
    ) -> None:
        self.invoker = invoker
        self.fn = invoker.fn
        self.region = invoker.region
        self.source = source
        self.queue = queue
        self.poll_s = poll_s
        self.retry_s = retry_s
        self.dead_letters: list[DeadLetter] = []
        self.invocations = 0
        self._lock = threading.Lock()
        super().__init__(f"ddgui-sqs-{self.region}-{self.fn.name}")
        self._sqs = aws_client("sqs", endpoint_url=endpoint_url, region=self.region)
        self.queue_url: str = self._sqs.get_queue_url(QueueName=queue.local_queue_name())["QueueUrl"]
        self.dead_letter_url: str = self._sqs.create_queue(QueueName=dead_letter_queue_name(queue))[
            "QueueUrl"
        ]
        self.queue_arn = f"arn:aws:sqs:{self.region}:{LOCAL_ACCOUNT}:{queue.local_queue_name()}"

    def pump(self, *, max_batches: int | None = None) -> int:
        """Deliver until the queue gives nothing (failed messages come back after `retry_s`: a pump
        does not wait for them); the number of messages the function took."""
        taken = 0
        batches = 0
        with self._lock:
            while max_batches is None or batches < max_batches:
                done = self._once()
                if done is None:
                    return taken
                taken += done
                batches += 1
        return taken

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self._lock:
                    delivered = self._once()
            except Exception as exc:  # a broken poll must not end the mapping
                if self._stop.is_set() and endpoint_gone(exc):
                    logger.debug("queue poller (%s, %s): the endpoint is gone", self.fn.name, self.region)
                    return
                logger.exception("queue poller error (%s, %s)", self.fn.name, self.region)
                self._stop.wait(1)
                continue
            if delivered is None:
                self._stop.wait(self.poll_s)

    def _once(self) -> int | None:
        """One batch: None when the queue gave nothing, else the messages the function took."""
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, self.source.batch_size),
            VisibilityTimeout=self.queue.visibility_timeout_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return None
        event = {"Records": [self._record(m) for m in messages]}
        self.invocations += 1
        try:
            failed = self._invoke(event)
        except Throttled:
            self._retry(messages)
            return 0
        taken = [m for m in messages if m["MessageId"] not in failed]
        for message in taken:
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self._fail([m for m in messages if m["MessageId"] in failed])
        return len(taken)

    def _invoke(self, event: dict[str, Any]) -> set[str]:
        """The ids of the messages that failed."""
        everything = {record["messageId"] for record in event["Records"]}
        try:
            answer = self.invoker.submit(event).result(timeout=float(self.fn.timeout_s))
        except Throttled:
            raise
        except Exception as exc:
            if self._stop.is_set() and endpoint_gone(exc):  # stopping: moto's server is gone
                logger.debug("%s: the endpoint is gone", self.fn.name)
            else:
                logger.exception("%s failed on a batch of %d message(s)", self.fn.name, len(everything))
            return everything
        failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
        ids = {f.get("itemIdentifier") for f in failures or [] if isinstance(f, dict)}
        if not ids <= everything:
            logger.warning("%s reported an unknown item: the batch failed", self.fn.name)
            return everything
        return {str(i) for i in ids}

    def _fail(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if receives >= self.source.max_receives:
                logger.error(
                    "%s: message %s failed %d time(s): to %s",
                    self.fn.name,
                    message["MessageId"],
                    receives,
                    dead_letter_queue_name(self.queue),
                )
                self.dead_letters.append(
                    DeadLetter(self.fn.name, self.region, message["MessageId"], message["Body"], receives)
                )
                self._sqs.send_message(QueueUrl=self.dead_letter_url, MessageBody=message["Body"])
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                self._retry([message])

    def _retry(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self._sqs.change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=self.retry_s,
            )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = copy.deepcopy(sample_event(SAMPLE)["Records"][0])
        attributes = message.get("Attributes", {})
        record.update(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    key: str(attributes[key])
                    for key in (
                        "ApproximateReceiveCount",
                        "SentTimestamp",
                        "SenderId",
                        "ApproximateFirstReceiveTimestamp",
                    )
                    if key in attributes
                },
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
                "eventSourceARN": self.queue_arn,
                "awsRegion": self.region,
            }
        )
        return record
