"""The sample events of `events/aws/` as the tests take them. One loader reads a sample by name,
`local.apigw.sample_event` (the local gateway's too, as Powertools' tests use `load_event`); these
are the shapes several tests start from, built on it."""

from __future__ import annotations

from typing import Any

from local.apigw import EVENTS_DIR, sample_event


def eventbridge_samples() -> dict[str, dict[str, Any]]:
    """Every EventBridge sample (`eventbridge_*.json`) by its detail-type, each a fresh copy."""
    samples = (sample_event(path.stem) for path in sorted(EVENTS_DIR.glob("eventbridge_*.json")))
    return {event["detail-type"]: event for event in samples}


def kinesis_record(name: str = "kinesis_stream_batch") -> dict[str, Any]:
    """The first record of a sample Kinesis batch."""
    record: dict[str, Any] = sample_event(name)["Records"][0]
    return record
