"""events/schemas/ holds the current JSON Schema of every domain event, and the samples fit them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.event_schemas import EVENT_MODELS, SCHEMAS_DIR, render

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events" / "aws"


@pytest.mark.parametrize("detail_type", sorted(EVENT_MODELS))
def test_schema_files_are_current(detail_type: str) -> None:
    """Regenerate with `.venv/bin/python -m local.event_schemas`."""
    assert (SCHEMAS_DIR / f"{detail_type}.json").read_text() == render(detail_type)


def test_every_eventbridge_sample_validates_against_its_model() -> None:
    samples = sorted(EVENTS_DIR.glob("eventbridge_*.json"))
    assert samples
    for path in samples:
        event = json.loads(path.read_text())
        model = EVENT_MODELS[event["detail-type"]]
        model.model_validate(event["detail"])
