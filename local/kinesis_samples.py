"""`events/aws/kinesis_stream_every_source.json`: one Lambda Kinesis batch carrying every domain
event sample (`events/aws/eventbridge_*.json`), as the rule `gui-events-to-stream` puts them on the
stream and the fan-out's event source mapping delivers them.

Built from the EventBridge samples and the record shape of `kinesis_stream_batch.json`, so the
two never disagree; `python -m local.kinesis_samples` rewrites it and a test fails when it is stale.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events" / "aws"
TARGET = EVENTS_DIR / "kinesis_stream_every_source.json"
FIRST_SEQUENCE = 49590338271490256608559692540925702759324208523137600000  # real ones have 56 digits
ARRIVAL = 1795774600.0


def every_source_batch() -> dict[str, Any]:
    template = json.loads((EVENTS_DIR / "kinesis_stream_batch.json").read_text())["Records"][0]
    records = []
    for index, path in enumerate(sorted(EVENTS_DIR.glob("eventbridge_*.json"))):
        envelope = json.loads(path.read_text())
        sequence = str(FIRST_SEQUENCE + index)
        record = copy.deepcopy(template)
        record["kinesis"].update(
            {
                "partitionKey": envelope["detail"]["tenant"],
                "sequenceNumber": sequence,
                "data": base64.b64encode(json.dumps(envelope, separators=(",", ":")).encode()).decode(),
                "approximateArrivalTimestamp": ARRIVAL + index / 10,
            }
        )
        record["eventID"] = f"shardId-000000000000:{sequence}"
        records.append(record)
    return {"Records": records}


def render() -> str:
    return json.dumps(every_source_batch(), indent=2) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
