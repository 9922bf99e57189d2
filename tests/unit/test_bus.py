"""EventPublisher: the envelope it puts on the bus, the detail fields every domain event carries,
and a refused entry raising."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gui_core.bus import EventPublisher, PublishFailed
from tests.fakes import FakeEvents


def test_publish_puts_one_entry_with_the_common_detail_fields() -> None:
    client = FakeEvents()
    publisher = EventPublisher(
        "bus", client, region="eu-west-1", clock=lambda: "2026-11-27T10:00:00.000+00:00"
    )  # type: ignore[arg-type]
    sent = publisher.publish(
        "domaindetermine.jobs", "JobRequested", {"tenant": "acme", "job_id": "j1"}, trace_id="Root=1"
    )
    (entry,) = client.entries
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"], entry["TraceHeader"]) == (
        "domaindetermine.jobs",
        "JobRequested",
        "bus",
        "Root=1",
    )
    detail = json.loads(entry["Detail"])
    assert detail == sent
    assert {k: detail[k] for k in ("tenant", "schema_version", "region", "time")} == {
        "tenant": "acme",
        "schema_version": "1",
        "region": "eu-west-1",
        "time": "2026-11-27T10:00:00.000+00:00",
    }
    assert detail["event_id"]


def test_a_refused_entry_raises() -> None:
    publisher = EventPublisher("bus", FakeEvents(failing=True), region="eu-west-1")  # type: ignore[arg-type]
    with pytest.raises(PublishFailed, match="Throttled"):
        publisher.publish("domaindetermine.jobs", "JobRequested", {"tenant": "acme"})


@pytest.mark.parametrize(("source", "detail"), [("jobs", {"tenant": "a"}), ("domaindetermine.jobs", {})])
def test_source_and_tenant_are_required(source: str, detail: dict[str, Any]) -> None:
    publisher = EventPublisher("bus", FakeEvents(), region="eu-west-1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        publisher.publish(source, "X", detail)
