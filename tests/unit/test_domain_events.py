"""gui_core.domain_events: every sample parses into its model, each kind is routed to the channels
of docs/gui/live_channels.md, and what cannot be read raises one of three distinct errors."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from gui_core import domain_events
from gui_core.domain_events import (
    EVENT_MODELS,
    EVENT_ROUTING,
    InvalidEvent,
    Routing,
    UnknownKind,
    UnknownSchemaVersion,
    parse,
)
from gui_core.replay_log import CHANNELS
from gui_notifications.models import CATEGORIES, SEVERITIES
from local.apigw import EVENTS_DIR
from tests.events import eventbridge_samples

SAMPLES = eventbridge_samples()

# docs/gui/live_channels.md, "Channels and scopes"
EXPECTED_CHANNELS = {
    "JobRequested": ("jobs",),
    "JobStatusChanged": ("jobs",),
    "JobCancelRequested": (),
    "ArtifactPublished": ("notifications",),
    "ArtifactDeprecated": ("notifications",),
    "GovernanceAlert": ("notifications",),
    "CostAlert": ("notifications",),
    "IncidentOpened": ("notifications",),
    "IncidentResolved": ("notifications",),
    "ReadinessGateChanged": ("readiness",),
    "WaiverGranted": ("readiness", "notifications"),
    "WaiverExpired": ("readiness", "notifications"),
    "PromptPackCalibrationStatus": ("prompt-pack",),
    "ConstraintAdherenceReported": ("prompt-pack",),
    "MetricsReported": (),
}


def test_every_kind_has_a_model_a_route_and_a_sample() -> None:
    assert set(EVENT_MODELS) == set(EVENT_ROUTING) == set(EXPECTED_CHANNELS) == set(SAMPLES)


@pytest.mark.parametrize("kind", sorted(EXPECTED_CHANNELS))
def test_each_kind_is_routed_to_the_documented_channels(kind: str) -> None:
    routing = EVENT_ROUTING[kind]
    assert routing.channels == EXPECTED_CHANNELS[kind]
    assert set(routing.channels) <= set(CHANNELS)
    # the notifications channel carries exactly the kinds that make an inbox item
    assert routing.inbox == ("notifications" in routing.channels)


def test_inbox_vocabulary_is_the_notifications_groups() -> None:
    assert domain_events.CATEGORIES == CATEGORIES
    assert domain_events.SEVERITIES == SEVERITIES
    for routing in EVENT_ROUTING.values():
        if routing.inbox:
            assert routing.category in CATEGORIES
            assert routing.severity in SEVERITIES


def test_an_inbox_routing_must_name_its_category_and_severity() -> None:
    with pytest.raises(ValueError, match="category"):
        Routing(("notifications",), inbox=True)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_sample_parses_into_its_model(kind: str) -> None:
    event = parse(kind, SAMPLES[kind]["detail"])
    assert type(event) is EVENT_MODELS[kind]
    assert event.tenant == "acme"  # type: ignore[attr-defined]
    assert event.event_id == SAMPLES[kind]["detail"]["event_id"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_a_schema_version_other_than_1_is_refused(kind: str) -> None:
    detail = {**SAMPLES[kind]["detail"], "schema_version": "2"}
    with pytest.raises(UnknownSchemaVersion) as caught:
        parse(kind, detail)
    assert caught.value.version == "2"


def test_an_unknown_kind_is_its_own_error() -> None:
    with pytest.raises(UnknownKind):
        parse("SomethingElseHappened", {"tenant": "acme", "schema_version": "1"})


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("GovernanceAlert", {"severity": "apocalyptic"}),
        ("GovernanceAlert", {"title": ""}),
        ("CostAlert", {"budget_usd": 0}),
        ("ReadinessGateChanged", {"status": "maybe"}),
        ("ConstraintAdherenceReported", {"adherence": 1.5}),
        ("WaiverGranted", {"expires_at": "next tuesday"}),
        ("IncidentOpened", {"tenant": ""}),
        ("MetricsReported", {"region": None}),
        ("JobStatusChanged", {"status": "exploded"}),
        ("ArtifactPublished", {"inputs": [{"id": "map-icd10-snomed"}]}),
    ],
)
def test_an_invalid_detail_raises_invalid_event(kind: str, change: dict[str, Any]) -> None:
    detail = {**copy.deepcopy(SAMPLES[kind]["detail"]), **change}
    with pytest.raises(InvalidEvent) as caught:
        parse(kind, detail)
    assert caught.value.errors


def test_the_three_errors_are_distinct() -> None:
    errors = (UnknownKind, UnknownSchemaVersion, InvalidEvent)
    for error in errors:
        assert not any(issubclass(error, other) for other in errors if other is not error)


def test_a_detail_that_is_not_an_object_is_invalid() -> None:
    with pytest.raises(InvalidEvent):
        parse("GovernanceAlert", ["not", "a", "detail"])  # type: ignore[arg-type]


def test_new_kinds_require_the_common_fields() -> None:
    detail = dict(SAMPLES["GovernanceAlert"]["detail"])
    for field in ("tenant", "event_id", "schema_version", "region", "time"):
        with pytest.raises(InvalidEvent):
            parse("GovernanceAlert", {k: v for k, v in detail.items() if k != field})


def test_fields_a_producer_adds_within_a_version_are_ignored() -> None:
    event = parse("CostAlert", {**SAMPLES["CostAlert"]["detail"], "currency_note": "EUR soon"})
    assert not hasattr(event, "currency_note")


def test_the_moved_models_are_the_ones_the_groups_import() -> None:
    from gui_artifacts import models as artifacts
    from gui_jobs import models as jobs

    assert jobs.JobStatusChanged is domain_events.JobStatusChanged
    assert jobs.JobRequested is domain_events.JobRequested
    assert jobs.JobCancelRequested is domain_events.JobCancelRequested
    assert artifacts.ArtifactPublished is domain_events.ArtifactPublished
    assert artifacts.ArtifactDeprecated is domain_events.ArtifactDeprecated
    assert artifacts.SUPPORTED_SCHEMA_VERSIONS == domain_events.SUPPORTED_SCHEMA_VERSIONS


def test_the_sample_kinesis_batch_carries_envelopes_that_parse() -> None:
    path = EVENTS_DIR / "kinesis_stream_batch.json"
    for record in json.loads(path.read_text())["Records"]:
        envelope = json.loads(base64.b64decode(record["kinesis"]["data"]))
        event = parse(envelope["detail-type"], envelope["detail"])
        assert event.tenant == record["kinesis"]["partitionKey"]  # type: ignore[attr-defined]
