"""gui_core.quarantine: the message a poison record becomes (its raw record, the consumer, the
reason, the region, the time; the consumer and the reason as attributes), read back as the
operator's tools read it, and the settings a consumer needs."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from gui_core.quarantine import (
    MAX_BODY_BYTES,
    REASONS,
    Quarantined,
    QuarantineSettings,
    QueueQuarantine,
)
from tests.events import kinesis_record

RECORD = kinesis_record()
URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/ddgui-quarantine"
NOW = 1_795_774_600.25  # 2026-11-27T10:16:40.250Z


class Sent:
    """An SQS client that keeps what it was sent."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send_message(
        self,
        *,
        QueueUrl: str,  # noqa: N803
        MessageBody: str,  # noqa: N803
        MessageAttributes: Mapping[str, Mapping[str, str]],  # noqa: N803
    ) -> Mapping[str, Any]:
        self.messages.append(
            {"QueueUrl": QueueUrl, "Body": MessageBody, "MessageAttributes": MessageAttributes}
        )
        return {"MessageId": f"m-{len(self.messages)}"}


def as_received(sent: Mapping[str, Any], n: int = 1) -> dict[str, Any]:
    return {"MessageId": f"m-{n}", "ReceiptHandle": f"r-{n}", **sent}


def test_a_kept_record_is_one_message_with_its_raw_record_reason_and_origin() -> None:
    client = Sent()
    quarantine = QueueQuarantine(URL, client, function="gui_fanout", region="eu-west-1", clock=lambda: NOW)

    quarantine.keep(RECORD, "unknown_schema_version", "schema_version '2' is not one of ['1']")

    (sent,) = client.messages
    assert sent["QueueUrl"] == URL
    assert sent["MessageAttributes"] == {
        "function": {"DataType": "String", "StringValue": "gui_fanout"},
        "reason": {"DataType": "String", "StringValue": "unknown_schema_version"},
    }
    body = json.loads(sent["Body"])
    assert body == {
        "v": 1,
        "function": "gui_fanout",
        "reason": "unknown_schema_version",
        "error": "schema_version '2' is not one of ['1']",
        "region": "eu-west-1",
        "quarantined_at": "2026-11-27T10:16:40.250+00:00",
        "record": RECORD,
    }
    assert sent["Body"].isascii()
    read = Quarantined.of(as_received(sent))
    assert read.record == RECORD
    assert (read.function, read.reason, read.region) == ("gui_fanout", "unknown_schema_version", "eu-west-1")
    assert read.record_id == RECORD["eventID"]
    assert read.partition_key == RECORD["kinesis"]["partitionKey"]
    assert read.data() == base64.b64decode(RECORD["kinesis"]["data"])
    assert read.envelope() == json.loads(base64.b64decode(RECORD["kinesis"]["data"]))
    assert (read.message_id, read.receipt_handle) == ("m-1", "r-1")


def test_a_record_too_big_for_a_message_keeps_all_but_its_data() -> None:
    big = copy.deepcopy(RECORD)
    big["kinesis"]["data"] = base64.b64encode(b"x" * MAX_BODY_BYTES).decode()
    client = Sent()
    QueueQuarantine(URL, client, function="gui_fanout", region="eu-west-1").keep(
        big, "undecodable", "too big"
    )

    (sent,) = client.messages
    assert len(sent["Body"]) <= MAX_BODY_BYTES
    body = json.loads(sent["Body"])
    assert body["record"]["kinesis"]["data"] is None
    assert body["record"]["eventID"] == big["eventID"]
    assert body["data_omitted"]["base64_chars"] == len(big["kinesis"]["data"])
    read = Quarantined.of(as_received(sent))
    assert read.data_omitted
    with pytest.raises(ValueError, match="read it from the stream"):
        read.data()


def test_an_undecodable_records_data_is_kept_as_given() -> None:
    garbage = copy.deepcopy(RECORD)
    garbage["kinesis"]["data"] = base64.b64encode(b"\xff\xfe not json").decode()
    client = Sent()
    QueueQuarantine(URL, client, function="gui_telemetry_facts", region="eu-west-1").keep(
        garbage, "undecodable"
    )

    read = Quarantined.of(as_received(client.messages[0]))
    assert read.data() == b"\xff\xfe not json"
    assert read.envelope() is None


@pytest.mark.parametrize("body", ["not json", json.dumps({"v": 2, "record": {}}), json.dumps({"v": 1})])
def test_a_message_that_is_not_ours_is_refused(body: str) -> None:
    with pytest.raises(ValueError, match="not a quarantine message"):
        Quarantined.of({"MessageId": "m", "ReceiptHandle": "r", "Body": body})


def test_the_reasons() -> None:
    assert set(REASONS) == {
        "undecodable",
        "unknown_schema_version",
        "invalid",
        "unknown_tenant",
        "wrong_region",
        "unrepresentable_cursor",
    }


def test_a_consumer_without_the_queue_url_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUARANTINE_QUEUE_URL", raising=False)
    with pytest.raises(ValidationError, match="QUARANTINE_QUEUE_URL"):
        QuarantineSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("QUARANTINE_QUEUE_URL", URL)
    assert QuarantineSettings().queue_url == URL  # type: ignore[call-arg]
