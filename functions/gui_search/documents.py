"""Search documents: the normalized form of an artifact registry record that the index stores.

Odd types are coerced or dropped, never raised on, so that one malformed record cannot stop an
indexer's batch; the stored document stands for the record (an indexer compares versions and
content hashes against it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

ARTIFACT_KINDS = ("coverage", "mapping", "overlay", "readiness", "prompt_pack", "ingestion", "governance")
MAX_TAG_CHARS = 256  # longer "tags" are dropped by document_of

_TEXT_KEYS = ("kind", "title", "summary", "owner", "license_tag", "governance_status", "licensing_notes")
# Public registry fields kept so that a stored document can stand for the record (an indexer compares
# versions and content hashes against it); not searched.
_KEPT_KEYS = ("diff_hash", "previous_diff_hash", "deprecation_reason", "replaced_by")
_LONG_TEXT_KEYS = ("source_text", "source_uri")
_DATE_KEYS = ("published_at", "updated_at", "created_at", "deprecated_at")


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bool, int, float)):
        text = str(value)
    else:  # None, containers, bytes, arbitrary objects: dropped
        return None
    return text.strip() or None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            return None
    return number if number is not None and abs(number) < 2**63 else None


def instant(value: Any) -> datetime | None:
    """A datetime or ISO string as an aware UTC datetime (naive ones are UTC); None otherwise."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def _iso(value: Any) -> str | None:
    moment = instant(value)
    return moment.isoformat(timespec="milliseconds") if moment else None


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple, set, frozenset)):
        return []
    items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
    tags: list[str] = []
    for item in items:
        tag = _text(item)
        if tag and len(tag) <= MAX_TAG_CHARS and tag not in tags:
            tags.append(tag)
    return tags


def document_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The normalized search document of an artifact registry record or an ArtifactPublished
    detail (`id` or `artifact_id`). Odd types are coerced or dropped, never raised on: text fields
    become a stripped string or None, `tags` a list of distinct strings, `version` an int (0 when
    missing), timestamps UTC ISO strings with milliseconds or None, `deprecated` a bool (status
    `deprecated` or a `deprecated_at`), `input_count` the number of `inputs` (None if unknown).
    Also kept, not searched: diff_hash, previous_diff_hash, deprecation_reason, replaced_by.
    Idempotent: document_of(document_of(r)) == document_of(r)."""
    if not isinstance(record, Mapping):
        record = {}
    doc: dict[str, Any] = {"id": _text(record.get("id")) or _text(record.get("artifact_id"))}
    for key in _TEXT_KEYS + _LONG_TEXT_KEYS + _KEPT_KEYS:
        doc[key] = _text(record.get(key))
    doc["tags"] = _tags(record.get("tags"))
    doc["version"] = _int(record.get("version")) or 0
    for key in _DATE_KEYS:
        doc[key] = _iso(record.get(key))
    doc["deprecated"] = (
        doc["governance_status"] == "deprecated"
        or doc["deprecated_at"] is not None
        or record.get("deprecated") is True
    )
    inputs = record.get("inputs")
    if isinstance(inputs, (list, tuple)):
        doc["input_count"] = len(inputs)
    else:
        doc["input_count"] = _int(record.get("input_count", record.get("in_degree")))
    return doc


def sort_instant(doc: Mapping[str, Any]) -> datetime | None:
    """The date the index filters and sorts on: updated_at, else published_at, else created_at."""
    for key in ("updated_at", "published_at", "created_at"):
        moment = instant(doc.get(key))
        if moment is not None:
            return moment
    return None
