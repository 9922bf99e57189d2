"""The local schedules (EventBridge `Scheduled Event`s into a pool) and the Kinesis mapping filter
that both the stacks and the local poller apply."""

from __future__ import annotations

import json
import threading
from typing import Any

from local.apigw import sample_event
from local.scheduler import Scheduler, scheduled_event
from stacks.manifest import MANIFEST, KinesisSource, Schedule
from stacks.source_filters import kinesis_accepts, lambda_filters

SCHEDULE = Schedule("telemetry-aggregate", function="gui_telemetry", every_s=300, purpose="test")


class _Pool:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.called = threading.Event()

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        self.called.set()
        return {"ok": len(self.events)}


def test_a_scheduled_event_has_the_shape_eventbridge_sends() -> None:
    event = scheduled_event(SCHEDULE, "us-east-1")
    sample = sample_event("scheduled_event")
    assert set(event) == set(sample)
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["region"] == "us-east-1"
    assert event["detail"] == {}
    assert event["resources"][0].endswith(":rule/ddgui-telemetry-aggregate")
    assert event["id"] != scheduled_event(SCHEDULE, "us-east-1")["id"]


def test_fire_invokes_the_schedules_function_and_answers() -> None:
    pool = _Pool()
    scheduler = Scheduler((SCHEDULE,), {"gui_telemetry": pool}, "eu-west-1", every_s=None)
    assert scheduler.fire("telemetry-aggregate") == {"ok": 1}
    assert scheduler.fired == {"telemetry-aggregate": 1}
    scheduler.start()  # no interval: no thread, nothing more fired
    assert len(pool.events) == 1


def test_the_loop_fires_at_once_and_stops() -> None:
    pool = _Pool()
    scheduler = Scheduler((SCHEDULE,), {"gui_telemetry": pool}, "eu-west-1", every_s=3600)
    scheduler.start()
    assert pool.called.wait(5)
    scheduler.stop()
    assert scheduler.fired["telemetry-aggregate"] == 1


def test_every_manifest_schedule_names_a_function_of_the_manifest() -> None:
    names = {fn.name for fn in MANIFEST.functions}
    assert MANIFEST.schedules
    assert all(schedule.function in names for schedule in MANIFEST.schedules)
    assert MANIFEST.only("gui_search").schedules == ()


def _envelope(detail_type: str) -> bytes:
    return json.dumps(
        {"detail-type": detail_type, "source": "domaindetermine.mapping", "detail": {}}
    ).encode()


def test_the_kinesis_filter_passes_only_the_named_detail_types() -> None:
    source = KinesisSource("gui-events", detail_types=("ArtifactPublished", "ArtifactDeprecated"))
    assert kinesis_accepts(source, _envelope("ArtifactPublished"))
    assert kinesis_accepts(source, _envelope("ArtifactDeprecated"))
    assert not kinesis_accepts(source, _envelope("JobStatusChanged"))
    assert not kinesis_accepts(source, b"not json")
    assert not kinesis_accepts(source, b"[1, 2]")
    (criteria,) = lambda_filters(source)
    assert json.loads(criteria["pattern"]) == {
        "data": {"detail-type": ["ArtifactPublished", "ArtifactDeprecated"]}
    }


def test_a_kinesis_source_without_detail_types_passes_everything() -> None:
    source = KinesisSource("gui-events")
    assert kinesis_accepts(source, b"not json")
    assert lambda_filters(source) == []
