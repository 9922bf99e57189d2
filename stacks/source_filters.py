"""DynamoDB stream sources of the manifest's functions: their filters and what the function is told.

Read by the CDK (event source mappings) and by the local runtime (which delivers the records itself),
so a filter is written once. Standard library only, like the manifest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from stacks.manifest_model import Function, KinesisSource, Manifest, StreamSource

# The records DynamoDB's TTL process makes: REMOVE, by the DynamoDB service itself. A caller's
# DeleteItem carries no userIdentity, so it never matches.
TTL_REMOVAL_PATTERN: dict[str, Any] = {
    "eventName": ["REMOVE"],
    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
}
STREAM_STORES_ENV = "GUI_STREAM_STORES"


def filter_patterns(source: StreamSource) -> list[dict[str, Any]]:
    """The event filter patterns of a source's mapping; none: every record."""
    return [TTL_REMOVAL_PATTERN] if source.ttl_removals_only else []


def kinesis_filter_patterns(source: KinesisSource) -> list[dict[str, Any]]:
    """The filter patterns of a Kinesis source's mapping. Lambda matches `data` as JSON when the
    record's data is JSON (the EventBridge envelopes are): `{"data": {"detail-type": [...]}}`."""
    return [{"data": {"detail-type": list(source.detail_types)}}] if source.detail_types else []


def lambda_filters(source: StreamSource | KinesisSource) -> list[dict[str, str]]:
    """`FilterCriteria.Filters` of an event source mapping: each pattern as a JSON string."""
    patterns = (
        filter_patterns(source) if isinstance(source, StreamSource) else kinesis_filter_patterns(source)
    )
    return [{"pattern": json.dumps(pattern, sort_keys=True)} for pattern in patterns]


def matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Whether a record matches an event filter pattern of the subset used here: nested objects
    whose leaves are lists of exact values (Lambda's equality filters)."""
    for name, expected in pattern.items():
        value = record.get(name)
        if isinstance(expected, Mapping):
            if not isinstance(value, Mapping) or not matches(expected, value):
                return False
        elif isinstance(expected, Sequence) and not isinstance(expected, str):
            if value not in expected:
                return False
        else:
            raise TypeError(f"unsupported filter pattern value for {name!r}: {expected!r}")
    return True


def accepts(source: StreamSource, record: Mapping[str, Any]) -> bool:
    """Whether a source's mapping hands `record` to its function (any pattern matches, or none set)."""
    patterns = filter_patterns(source)
    return not patterns or any(matches(pattern, record) for pattern in patterns)


def kinesis_accepts(source: KinesisSource, data: bytes) -> bool:
    """Whether a Kinesis source's mapping hands a record with this data to its function. Data that
    is not a JSON object matches no `data` pattern, as in Lambda."""
    patterns = kinesis_filter_patterns(source)
    if not patterns:
        return True
    try:
        document = json.loads(data)
    except ValueError:
        return False
    return isinstance(document, dict) and any(matches(p, {"data": document}) for p in patterns)


def stream_environment(manifest: Manifest, fn: Function, table_names: Mapping[str, str]) -> dict[str, str]:
    """What a function fed by store streams learns: {store: table name} of those stores, since a
    stream record names its table only (in its ARN), and a deployed table's name is generated."""
    if not fn.stream_sources:
        return {}
    stores = {source.store: table_names[source.store] for source in fn.stream_sources}
    for store in stores:
        if not manifest.store(store).stream:
            raise ValueError(f"{fn.name} reads the stream of store {store!r}, which declares none")
    return {STREAM_STORES_ENV: json.dumps(stores, sort_keys=True)}
