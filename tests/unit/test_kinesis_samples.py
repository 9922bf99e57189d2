"""The Kinesis batch of every domain event sample: current with its sources, and delivered by the
fan-out as a whole (each kind to its channels, the kinds without one counted, none failed)."""

from __future__ import annotations

import base64
import json
from types import ModuleType

import pytest

from gui_core.domain_events import EVENT_ROUTING
from local.kinesis_samples import TARGET, render
from tests.unit.fanout_support import Backend, handler_on, invoke, metrics_of, subscribed_backend


@pytest.fixture
def backend() -> Backend:
    return subscribed_backend()


@pytest.fixture
def function(monkeypatch: pytest.MonkeyPatch, backend: Backend) -> ModuleType:
    return handler_on(monkeypatch, backend)


def test_the_every_source_batch_is_current() -> None:
    assert TARGET.read_text() == render(), "run .venv/bin/python -m local.kinesis_samples"


def test_the_batch_holds_every_kind_of_the_routing_table() -> None:
    kinds = [
        json.loads(base64.b64decode(r["kinesis"]["data"]))["detail-type"]
        for r in json.loads(TARGET.read_text())["Records"]
    ]
    assert sorted(kinds) == sorted(EVENT_ROUTING)


def test_the_fanout_delivers_the_whole_batch(
    function: ModuleType,
    backend: Backend,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert invoke(function, json.loads(TARGET.read_text())) == []
    for kind, routing in EVENT_ROUTING.items():
        for channel in routing.channels:
            assert kind in {item["kind"] for item in backend.logged("acme", channel)}, (kind, channel)
    figures = metrics_of(capsys.readouterr().out)
    unrouted = sum(1 for routing in EVENT_ROUTING.values() if not routing.channels and not routing.inbox)
    assert figures["Records"] == len(EVENT_ROUTING)
    assert figures.get("NotForGui", 0) == unrouted
    assert "RecordsFailed" not in figures
