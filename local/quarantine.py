"""`ddgui quarantine`: the operator's side of the quarantine of the stream's poison records (the
consumers keep them with `gui_core.quarantine`: one SQS message per record, its raw data and why).

Two places to work on, the same commands:
- the local runtime: `--endpoint-url` (the AWS endpoint `ddgui dev` prints), the manifest's local
  names, the operator's dummy key;
- a deployed region: `--region` and the credentials of the environment (as the AWS CLI finds
  them); the queue's URL and the stream's name come from the stack's outputs (`QuarantineQueueUrl`,
  `EventStreamName` of `DdGui-<region>`), or from `--queue-url` and `--stream-name`.

`list` reads without consuming: each message read is hidden for the listing only (a visibility
timeout, so SQS hands no message out twice and a queue longer than one receive is read whole; a
visibility timeout of 0 would return the same first messages again and again), then made visible
again at once. `replay` puts each record a matching message names back on the stream under its
partition key, in the order of its sequence numbers per partition key, once however many consumers
kept it (or Lambda delivered it twice). Every consumer of the stream sees it again, which is
harmless: they are idempotent on event ids (the replay log's guard, the inbox item's id, the
registry's versions, the facts' (event id, metric)); so every message of it read is deleted, the
other consumers' too, and a consumer that still refuses it quarantines it again. `discard` deletes
the matching messages (data that will never decode, once looked at). Filters: the consumer, the
reason, the tenant (the record's partition key), a limit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gui_core.quarantine import Quarantined
from stacks.naming import stack_name

QUEUE_OUTPUT, STREAM_OUTPUT = "QuarantineQueueUrl", "EventStreamName"
# How long a message read stays hidden from others: the listing's or the replay's time, at most.
LIST_HOLD_S = 60
WORK_HOLD_S = 300
RECEIVE_WAIT_S = 1  # long polling: SQS asks every server, so a receive misses no message


class QuarantineError(Exception):
    """The command cannot run (no such stack or output, no region...)."""


@dataclass(frozen=True)
class Filters:
    function: str | None = None
    reason: str | None = None
    tenant: str | None = None  # the record's partition key (the rule puts the tenant there)
    limit: int | None = None  # messages (list, discard) or records (replay)

    def match(self, message: Quarantined) -> bool:
        return (
            (self.function is None or message.function == self.function)
            and (self.reason is None or message.reason == self.reason)
            and (self.tenant is None or message.partition_key == self.tenant)
        )


@dataclass(frozen=True)
class Target:
    """One region's quarantine queue and stream, and the clients to reach them."""

    region: str
    queue_url: str
    stream_name: str
    sqs: Any
    kinesis: Any


def local_target(endpoint_url: str, region: str) -> Target:
    """The local runtime's queue and stream in `region` (the manifest's local names)."""
    from local.aws import aws_client
    from stacks.manifest import MANIFEST

    if MANIFEST.quarantine is None:
        raise QuarantineError("the app has no quarantine queue")
    sqs = aws_client("sqs", endpoint_url=endpoint_url, region=region)
    try:
        queue_url = str(sqs.get_queue_url(QueueName=MANIFEST.quarantine.local_queue_name())["QueueUrl"])
    except sqs.exceptions.QueueDoesNotExist as exc:
        raise QuarantineError(
            f"no quarantine queue at {endpoint_url} in {region}: is `ddgui dev` running?"
        ) from exc
    return Target(
        region=region,
        queue_url=queue_url,
        stream_name=MANIFEST.stream.local_stream_name(),
        sqs=sqs,
        kinesis=aws_client("kinesis", endpoint_url=endpoint_url, region=region),
    )


def deployed_target(
    region: str,
    *,
    stack: str | None = None,
    queue_url: str | None = None,
    stream_name: str | None = None,
    needs_stream: bool = True,
) -> Target:
    """A deployed region's queue and (for a replay) stream, with the environment's credentials."""
    import boto3

    session = boto3.session.Session(region_name=region)
    if queue_url is None or (needs_stream and stream_name is None):
        outputs = stack_outputs(session.client("cloudformation"), stack or stack_name(region))
        queue_url = queue_url or _output(outputs, QUEUE_OUTPUT, "--queue-url")
        stream_name = stream_name or (
            _output(outputs, STREAM_OUTPUT, "--stream-name") if needs_stream else ""
        )
    return Target(
        region=region,
        queue_url=queue_url,
        stream_name=stream_name or "",
        sqs=session.client("sqs"),
        kinesis=session.client("kinesis"),
    )


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    try:
        (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        raise QuarantineError(f"stack {stack}: {exc}") from exc
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in described.get("Outputs", [])}


def _output(outputs: Mapping[str, str], key: str, flag: str) -> str:
    if key not in outputs:
        raise QuarantineError(f"the stack has no output {key}: deploy this version, or give {flag}")
    return outputs[key]


def region_of(given: str | None, *, local: bool) -> str:
    """`--region`, else the environment's (AWS_REGION, AWS_DEFAULT_REGION), else the manifest's first
    region locally."""
    region = given or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    if local:
        from stacks.manifest import DEFAULT_REGIONS

        return DEFAULT_REGIONS[0]
    raise QuarantineError("which region? give --region (or set AWS_REGION)")


# -- reading ------------------------------------------------------------------------------------


@dataclass
class _Read:
    messages: list[Quarantined] = field(default_factory=list)  # every quarantine message read
    held: list[str] = field(default_factory=list)  # receipts of the others (not ours, read twice)
    selected: list[Quarantined] = field(default_factory=list)  # those the filters chose


def _read(target: Target, filters: Filters, *, hold_s: int, per_record: bool = False) -> _Read:
    """Receive messages, hiding each for `hold_s`, until the queue gives no more or the filters'
    limit of messages (`per_record`: of records) is reached."""
    read = _Read()
    seen: set[str] = set()
    records: set[str] = set()

    def full() -> bool:
        count = len(records) if per_record else len(read.selected)
        return filters.limit is not None and count >= filters.limit

    while not full():
        messages = target.sqs.receive_message(
            QueueUrl=target.queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=hold_s,
            WaitTimeSeconds=RECEIVE_WAIT_S,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            if message["MessageId"] in seen:  # read again: the hold ran out meanwhile
                read.held.append(str(message["ReceiptHandle"]))
                continue
            seen.add(message["MessageId"])
            try:
                quarantined = Quarantined.of(message)
            except ValueError:
                read.held.append(str(message["ReceiptHandle"]))
                continue
            read.messages.append(quarantined)
            if not filters.match(quarantined):
                continue
            if per_record and (quarantined.record_id in records or not full()):
                records.add(quarantined.record_id)
                read.selected.append(quarantined)
            elif not per_record and not full():
                read.selected.append(quarantined)
    return read


def _release(target: Target, receipts: Iterable[str]) -> None:
    """Make messages read visible again at once."""
    pending = list(dict.fromkeys(receipts))
    for start in range(0, len(pending), 10):
        target.sqs.change_message_visibility_batch(
            QueueUrl=target.queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
                for n, receipt in enumerate(pending[start : start + 10])
            ],
        )


def _delete(target: Target, messages: Iterable[Quarantined]) -> None:
    pending = list(messages)
    for start in range(0, len(pending), 10):
        answer = target.sqs.delete_message_batch(
            QueueUrl=target.queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m.receipt_handle}
                for n, m in enumerate(pending[start : start + 10])
            ],
        )
        if answer.get("Failed"):
            raise QuarantineError(f"messages not deleted: {answer['Failed']}")


# -- the commands -------------------------------------------------------------------------------


def list_quarantined(target: Target, filters: Filters) -> list[Quarantined]:
    """The messages matching `filters`, oldest first; none consumed."""
    read = _read(target, filters, hold_s=LIST_HOLD_S)
    _release(target, [*read.held, *(m.receipt_handle for m in read.messages)])
    return sorted(read.selected, key=lambda m: (m.quarantined_at, m.message_id))


@dataclass
class Done:
    record: Quarantined  # the first message of the record
    messages: list[Quarantined]  # every message of it read (each consumer that kept it, redeliveries)
    sequence_number: str | None = None  # a replayed record's new one on the stream (None: dry run)


@dataclass
class Report:
    done: list[Done] = field(default_factory=list)
    skipped: list[tuple[Quarantined, str]] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(len(d.messages) for d in self.done)


def replay(target: Target, filters: Filters, *, dry_run: bool = False) -> Report:
    """Each record a message matching `filters` names, back on the stream once, then every message
    of it read deleted (whichever consumer kept it: every consumer sees the record again)."""
    read = _read(target, filters, hold_s=WORK_HOLD_S, per_record=True)
    chosen = {m.record_id for m in read.selected}
    report = Report()
    finished: set[str] = set()  # message ids put back and deleted
    try:
        for messages in _by_record(m for m in read.messages if m.record_id in chosen):
            first = next(m for m in messages if filters.match(m))
            why = _why_not(first, target)
            if why is not None:
                report.skipped.append((first, why))
            elif dry_run:
                report.done.append(Done(first, messages))
            else:
                put = target.kinesis.put_record(
                    StreamName=target.stream_name, Data=first.data(), PartitionKey=first.partition_key
                )
                report.done.append(Done(first, messages, str(put["SequenceNumber"])))
                _delete(target, messages)
                finished |= {m.message_id for m in messages}
    finally:
        _release(
            target, [*read.held, *(m.receipt_handle for m in read.messages if m.message_id not in finished)]
        )
    return report


def discard(target: Target, filters: Filters, *, dry_run: bool = False) -> Report:
    """Delete the messages matching `filters` (after `list`: records no replay can cure)."""
    read = _read(target, filters, hold_s=WORK_HOLD_S)
    report = Report(done=[Done(m, [m]) for m in read.selected])
    deleted: set[str] = set()
    try:
        if not dry_run:
            _delete(target, read.selected)
            deleted = {m.message_id for m in read.selected}
    finally:
        _release(
            target, [*read.held, *(m.receipt_handle for m in read.messages if m.message_id not in deleted)]
        )
    return report


def _by_record(messages: Iterable[Quarantined]) -> list[list[Quarantined]]:
    """The messages grouped per record, the records in sequence order per partition key."""
    groups: dict[str, list[Quarantined]] = {}
    for message in messages:
        groups.setdefault(message.record_id, []).append(message)

    def order(group: list[Quarantined]) -> tuple[str, int, str]:
        sequence = group[0].sequence_number
        return (group[0].partition_key, int(sequence) if sequence.isdigit() else 0, group[0].record_id)

    return sorted(groups.values(), key=order)


def _why_not(message: Quarantined, target: Target) -> str | None:
    """Why a record cannot go back on this stream, if it cannot."""
    if message.region and message.region != target.region:
        return f"kept in {message.region}, not {target.region}: replay it there"
    if not message.partition_key:
        return "the record has no partition key"
    try:
        message.data()
    except ValueError as exc:
        return str(exc)
    return None


# -- rendering ----------------------------------------------------------------------------------


def describe(message: Quarantined) -> str:
    """One line: when, who, why, which record, what it carries."""
    envelope = message.envelope() if not message.data_omitted else None
    detail = envelope.get("detail") if envelope else None
    event_id = detail.get("event_id") if isinstance(detail, Mapping) else None
    carries = f"{envelope.get('detail-type')} {event_id or ''}".strip() if envelope else "(not an envelope)"
    return (
        f"{message.quarantined_at}  {message.function:<20} {message.reason:<22} {message.record_id}  "
        f"key={message.partition_key}  {carries}  {message.error[:160]}"
    )


def as_json(message: Quarantined) -> str:
    """The whole message as one JSON line, the envelope decoded when the data is one."""
    document: dict[str, Any] = {
        "message_id": message.message_id,
        "function": message.function,
        "reason": message.reason,
        "error": message.error,
        "region": message.region,
        "quarantined_at": message.quarantined_at,
        "record": message.record,
        "envelope": None if message.data_omitted else message.envelope(),
    }
    return json.dumps(document, sort_keys=True)


def print_report(report: Report, *, verb: str, dry_run: bool, out: Callable[[str], None]) -> None:
    for done in report.done:
        by = ", ".join(sorted({f"{m.function}/{m.reason}" for m in done.messages}))
        done_verb = f"would {verb}" if dry_run else f"{verb}ed"
        line = f"{done_verb} {done.record.record_id} key={done.record.partition_key}"
        if done.sequence_number:
            line += f" -> sequence number {done.sequence_number}"
        out(f"{line}  ({len(done.messages)} message(s): {by})")
    for message, why in report.skipped:
        out(f"skipped {message.record_id} ({message.function}/{message.reason}): {why}")
