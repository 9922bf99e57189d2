"""JSON Schema of every domain event detail this backend produces or consumes, kept in
`events/schemas/` for producers in other services. The pydantic models of `gui_core.domain_events`
are the source; `python -m local.event_schemas` rewrites the files and a test fails when they are stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from gui_core.domain_events import EVENT_MODELS

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "events" / "schemas"


def event_schema(detail_type: str) -> dict[str, object]:
    schema = EVENT_MODELS[detail_type].model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"{detail_type} (EventBridge detail)"
    return schema


def render(detail_type: str) -> str:
    return json.dumps(event_schema(detail_type), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path = SCHEMAS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for detail_type in EVENT_MODELS:
        path = directory / f"{detail_type}.json"
        path.write_text(render(detail_type))
        written.append(path)
    return written


if __name__ == "__main__":
    write_all()
