"""The quarantine of the stream consumers' poison records: an SQS adapter and the message format.

A poison record is one no redelivery can cure: its data is not a base64 JSON EventBridge envelope
(`undecodable`), its detail names a schema version this code does not know
(`unknown_schema_version`) or fails its kind's model (`invalid`), its tenant is unknown in this
region (`unknown_tenant`) or homed in another (`wrong_region`), or, for the fan-out, its sequence
number does not fit a cursor (`unrepresentable_cursor`). A record that is merely not for a consumer
(a kind it does not handle) is not poison: the consumer skips it.

Each poison record becomes one message of the region's quarantine queue (the manifest's
`quarantine`): the record exactly as Lambda gave it (base64 data, partition key, sequence number,
event id with its shard, arrival), the consumer, the reason and the error, the region and the time;
the consumer and the reason are message attributes too. An operator lists, replays (the data back
onto the stream under its partition key) or discards them with `ddgui quarantine`.

A consumer reports a record whose message could not be sent as failed, so Lambda delivers it again
and nothing is lost. A record redelivered after another one failed may so be quarantined twice, and
one that several consumers refuse is quarantined once by each: a replay puts each record (its
`eventID`) back once.

The only module of gui_core that talks to SQS; consumers receive a `Quarantine` (or a fake with the
same method).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from pydantic import Field

from gui_core.credentials import client_credentials, signing_identity
from gui_core.date_times import iso
from gui_core.metric_names import MetricName, QuarantineMetric
from gui_core.settings import EnvironmentSettings

if TYPE_CHECKING:
    from botocore.client import BaseClient

logger = logging.getLogger("gui_core.quarantine")

Reason = Literal[
    "undecodable",
    "unknown_schema_version",
    "invalid",
    "unknown_tenant",
    "wrong_region",
    "unrepresentable_cursor",
]
REASONS: tuple[Reason, ...] = get_args(Reason)
MESSAGE_VERSION = 1
# SQS takes 1 MiB per message, body and attributes together; the rest is the attributes' room.
MAX_BODY_BYTES = 1_048_576 - 4096
MAX_ERROR_CHARS = 2000


class QuarantineSettings(EnvironmentSettings):
    """Where a consumer quarantines: the manifest's `Queue.env_var` of the quarantine queue."""

    queue_url: str = Field(alias="QUARANTINE_QUEUE_URL", min_length=1)


class Quarantine(Protocol):
    """What a consumer needs: keep one record, or raise (the record is then reported failed)."""

    def keep(self, record: Mapping[str, Any], reason: Reason, error: str = "") -> None: ...


class PoisonRecord(Exception):
    """A record no redelivery can cure: counted under `metric`, quarantined with `reason`."""

    def __init__(self, reason: Reason, metric: MetricName, error: str) -> None:
        super().__init__(error)
        self.reason: Reason = reason
        self.metric = metric
        self.error = error


def keep_counted(
    quarantine: Quarantine, record: Mapping[str, Any], poison: PoisonRecord, counts: Counter[MetricName]
) -> bool:
    """Quarantine a poison record and count it (its own metric and `RecordsQuarantined`); False
    when it could not be kept (counted as a `QuarantineFailures`): the caller reports the record
    failed, so Lambda delivers it again and nothing is lost."""
    try:
        quarantine.keep(record, poison.reason, poison.error)
    except Exception:
        logger.exception(
            "record %s could not be quarantined", (record.get("kinesis") or {}).get("sequenceNumber")
        )
        counts[QuarantineMetric.QUARANTINE_FAILURES] += 1
        return False
    counts[poison.metric] += 1
    counts[QuarantineMetric.RECORDS_QUARANTINED] += 1
    return True


class MessageSender(Protocol):
    """What the quarantine needs of an SQS client."""

    def send_message(
        self,
        *,
        QueueUrl: str,  # noqa: N803 - boto3's names
        MessageBody: str,  # noqa: N803
        MessageAttributes: Mapping[str, Mapping[str, str]],  # noqa: N803
    ) -> Mapping[str, Any]: ...


class QueueQuarantine:
    """Sends each poison record, one message each, to the region's quarantine queue."""

    def __init__(
        self,
        queue_url: str,
        client: MessageSender,
        *,
        function: str,
        region: str,
        clock: Any = time.time,
    ) -> None:
        self.queue_url = queue_url
        self.function = function
        self.region = region
        self._client = client
        self._clock = clock

    def keep(self, record: Mapping[str, Any], reason: Reason, error: str = "") -> None:
        """One message for `record`; raises what SQS raised (nothing was kept then)."""
        body = message_body(
            record, function=self.function, reason=reason, region=self.region, error=error, at=self._clock()
        )
        self._client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=body,
            MessageAttributes=message_attributes(self.function, reason),
        )
        logger.warning("record %s quarantined (%s): %s", record.get("eventID"), reason, error)


def message_attributes(function: str, reason: Reason) -> dict[str, dict[str, str]]:
    return {
        "function": {"DataType": "String", "StringValue": function},
        "reason": {"DataType": "String", "StringValue": reason},
    }


def message_body(
    record: Mapping[str, Any], *, function: str, reason: Reason, region: str, error: str, at: float
) -> str:
    """The message of one poison record (JSON, ASCII only, as SQS takes any of it). A record too
    big for a message keeps everything but its data, whose size and SHA-256 stand in for it: the
    stream still holds the data for its retention period, at the record's sequence number."""
    document: dict[str, Any] = {
        "v": MESSAGE_VERSION,
        "function": function,
        "reason": reason,
        "error": error[:MAX_ERROR_CHARS],
        "region": region,
        "quarantined_at": iso(datetime.fromtimestamp(at, UTC)),
        "record": dict(record),
    }
    body = json.dumps(document, separators=(",", ":"), default=str)
    if len(body) <= MAX_BODY_BYTES:
        return body
    kinesis = dict(record.get("kinesis") or {})
    data = str(kinesis.get("data") or "")
    kinesis["data"] = None
    document["record"] = {**record, "kinesis": kinesis}
    document["data_omitted"] = {
        "base64_chars": len(data),
        "sha256": hashlib.sha256(data.encode()).hexdigest(),
    }
    return json.dumps(document, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Quarantined:
    """One message of the quarantine queue, as the operator's tools read it."""

    message_id: str
    receipt_handle: str
    function: str
    reason: str
    error: str
    region: str
    quarantined_at: str
    record: Mapping[str, Any]
    data_omitted: bool = False

    @classmethod
    def of(cls, message: Mapping[str, Any]) -> Quarantined:
        """From an SQS `ReceiveMessage` message; ValueError when the body is not one of ours."""
        try:
            document = json.loads(message["Body"])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"not a quarantine message: {exc}") from exc
        record = document.get("record") if isinstance(document, dict) else None
        if not isinstance(record, dict) or document.get("v") != MESSAGE_VERSION:
            raise ValueError("not a quarantine message of this version, with its record")
        return cls(
            message_id=str(message.get("MessageId", "")),
            receipt_handle=str(message.get("ReceiptHandle", "")),
            function=str(document.get("function", "")),
            reason=str(document.get("reason", "")),
            error=str(document.get("error", "")),
            region=str(document.get("region", "")),
            quarantined_at=str(document.get("quarantined_at", "")),
            record=record,
            data_omitted="data_omitted" in document,
        )

    @property
    def kinesis(self) -> Mapping[str, Any]:
        found = self.record.get("kinesis")
        return found if isinstance(found, Mapping) else {}

    @property
    def record_id(self) -> str:
        """The record's identity in its stream (`<shard id>:<sequence number>`): the messages of one
        record (several consumers, a redelivery) share it."""
        return str(self.record.get("eventID") or self.kinesis.get("sequenceNumber") or self.message_id)

    @property
    def partition_key(self) -> str:
        return str(self.kinesis.get("partitionKey") or "")

    @property
    def sequence_number(self) -> str:
        return str(self.kinesis.get("sequenceNumber") or "")

    def data(self) -> bytes:
        """The record's data as it was put on the stream; ValueError when the message lacks it."""
        if self.data_omitted:
            raise ValueError("the record was too big for a message: read it from the stream")
        try:
            return base64.b64decode(str(self.kinesis["data"]), validate=True)
        except (KeyError, binascii.Error) as exc:
            raise ValueError(f"the record's data is not base64: {exc}") from exc

    def envelope(self) -> Mapping[str, Any] | None:
        """The EventBridge envelope the data carries, if it is one (an undecodable record's is not)."""
        try:
            document = json.loads(self.data())
        except ValueError:
            return None
        return document if isinstance(document, dict) else None


def sqs_client(region: str) -> BaseClient:
    """One client per region, endpoint and signing identity (gui_core.credentials); few retries
    and short timeouts: a record waits on it. The endpoint comes from AWS_ENDPOINT_URL when set."""
    return _sqs_client(region, os.environ.get("AWS_ENDPOINT_URL") or None, signing_identity())


@cache
def _sqs_client(region: str, endpoint_url: str | None, signer: str | None) -> BaseClient:
    del signer  # a part of the cache key only
    import boto3  # only the consumers that quarantine pay for it
    from botocore.config import Config

    return boto3.client(
        "sqs",
        **client_credentials(),
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5),
    )
