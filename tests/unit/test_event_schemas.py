"""events/schemas/ holds the current JSON Schema of every domain event, and the samples fit them."""

from __future__ import annotations

import pytest

from local.event_schemas import EVENT_MODELS, SCHEMAS_DIR, render
from tests.events import eventbridge_samples


@pytest.mark.parametrize("detail_type", sorted(EVENT_MODELS))
def test_schema_files_are_current(detail_type: str) -> None:
    """Regenerate with `.venv/bin/python -m local.event_schemas`."""
    assert (SCHEMAS_DIR / f"{detail_type}.json").read_text() == render(detail_type)


def test_every_eventbridge_sample_validates_against_its_model() -> None:
    samples = eventbridge_samples()
    assert samples
    for detail_type, event in samples.items():
        EVENT_MODELS[detail_type].model_validate(event["detail"])
