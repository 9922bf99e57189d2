"""The dashboard's rollups kept as the stores change: the jobs, inbox and artifacts stores' DynamoDB
streams (new and old images) feed `apply_records`, which sets each changed record's contribution
as of its stream position, a batch at a time (`gui_dashboard.rollup_store.RollupStore.apply_batch`:
each bucket written once per transaction, not once per record).

Records of other items of those stores (idempotency records, list keys, counters) are passed by.
A record that cannot be read, or a write that fails, stops the batch there: the first record not
applied and those after it are reported as failed, so Lambda delivers them again in order (a
record's later changes never overtake it; those applied already change nothing when redelivered).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gui_core.dynamo import from_dynamo
from gui_dashboard.rollup_store import BatchStopped, Change, RollupStore
from gui_dashboard.rollups import ARTIFACTS, INBOX, JOBS

# The items of each store that are records the dashboard counts (its repository reads these).
RECORD_PREFIXES = {JOBS: "JOB#", INBOX: "NOTE#n", ARTIFACTS: "ART#"}


def table_of(stream_arn: str) -> str:
    """`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>` -> `<name>`."""
    parts = stream_arn.split(":", 5)[-1].split("/")
    if len(parts) < 2 or parts[0] != "table" or not parts[1]:
        raise ValueError(f"not a DynamoDB stream ARN: {stream_arn!r}")
    return parts[1]


def _image(change: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    image = change.get(name)
    if not image:
        return None
    return from_dynamo({k: v for k, v in image.items() if next(iter(v)) not in {"B", "BS"}})


def apply_records(
    records: Sequence[Mapping[str, Any]], rollups: RollupStore, stores: Mapping[str, str]
) -> list[dict[str, str]]:
    """Apply a batch's records in order; the `batchItemFailures` of the first not applied and after.
    `stores`: {table name: store}."""
    changes: list[Change] = []
    positions: list[int] = []  # of each change's record in the batch
    stopped = len(records)
    for position, record in enumerate(records):
        change = record.get("dynamodb", {})
        try:
            store = stores.get(table_of(str(record.get("eventSourceARN", ""))))
            keys = from_dynamo(change.get("Keys", {}))
            tenant, sk = str(keys.get("pk", "")), str(keys.get("sk", ""))
            if store is None or not tenant or not sk.startswith(RECORD_PREFIXES[store]):
                continue
            image = None if record.get("eventName") == "REMOVE" else _image(change, "NewImage")
            changes.append(Change(tenant, store, sk, image, str(change["SequenceNumber"])))
        except Exception:
            stopped = position
            break
        positions.append(position)
    try:
        rollups.apply_batch(changes)
    except BatchStopped as exc:
        if exc.first_unapplied < len(positions):
            stopped = positions[exc.first_unapplied]
    return [{"itemIdentifier": str(r.get("dynamodb", {}).get("SequenceNumber"))} for r in records[stopped:]]
