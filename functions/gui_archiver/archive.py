"""What the archiver keeps of a stream record, and where.

An item that DynamoDB's TTL removed becomes one JSON document in the region's data bucket at
`archive/<store>/<tenant>/<yyyy>/<mm>/<dd>/<event id>.json`. The key depends on the record only (its
event id and the time of the removal), so a batch delivered again writes the same objects again:
archiving is idempotent without a lookup. Every other record (an INSERT, a MODIFY, a REMOVE made by
a caller) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from gui_core.dynamo import from_dynamo

ARCHIVE_PREFIX = "archive"
TTL_PRINCIPAL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
TENANT_SEPARATOR = "#"  # a partition key is the tenant, or the tenant then `#` and more


class ObjectWriter(Protocol):
    def put_json(self, key: str, document: Any) -> None: ...


class ArchiveError(ValueError):
    """A TTL removal that cannot be archived as it is; the record is reported as failed."""


@dataclass(frozen=True)
class Archived:
    key: str
    store: str
    tenant: str
    unknown_store: bool  # the table is not one the function was told about; its name stands in


def is_ttl_removal(record: Mapping[str, Any]) -> bool:
    """DynamoDB marks the REMOVE records its TTL process makes with its own service identity."""
    identity = record.get("userIdentity") or {}
    return record.get("eventName") == "REMOVE" and all(identity.get(k) == v for k, v in TTL_PRINCIPAL.items())


def table_name(stream_arn: str) -> str:
    """`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>` -> `<name>`."""
    resource = stream_arn.split(":", 5)[-1]
    parts = resource.split("/")
    if len(parts) < 2 or parts[0] != "table" or not parts[1]:
        raise ArchiveError(f"not a DynamoDB stream ARN: {stream_arn!r}")
    return parts[1]


def tenant_of(keys: Mapping[str, Any]) -> str:
    partition = keys.get("pk")
    if not isinstance(partition, str) or not partition:
        raise ArchiveError("the record's keys have no string `pk`")
    return partition.split(TENANT_SEPARATOR, 1)[0]


def _segment(value: str) -> str:
    # Percent-encoded so that no tenant or store name can reach another prefix with a `/`.
    return quote(value, safe="")


def plain_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """A stream image's attributes as plain JSON values. Lambda's event carries binary (`B`, `BS`)
    as base64 text, which boto3's deserializer refuses (it wants bytes): it stays that text here."""
    return from_dynamo({name: _binary_as_text(value) for name, value in image.items()})


def _binary_as_text(value: Mapping[str, Any]) -> dict[str, Any]:
    (kind, member), *_ = value.items()
    if kind == "B":
        return {"S": member}
    if kind == "BS":
        return {"SS": member}
    if kind == "M":
        return {"M": {name: _binary_as_text(v) for name, v in member.items()}}
    if kind == "L":
        return {"L": [_binary_as_text(v) for v in member]}
    return dict(value)


def archive_key(*, store: str, tenant: str, removed_at: datetime, record_id: str) -> str:
    day = removed_at.strftime("%Y/%m/%d")
    return f"{ARCHIVE_PREFIX}/{_segment(store)}/{_segment(tenant)}/{day}/{_segment(record_id)}.json"


class Archiver:
    """Archives TTL removals through an `ObjectWriter` (the S3 adapter, or a fake in tests)."""

    def __init__(
        self,
        objects: ObjectWriter,
        *,
        stream_stores: Mapping[str, str],
        kept: Mapping[str, str] | None = None,
    ) -> None:
        """`kept`: {store: sort key prefix} of the stores whose other items (the inbox's counters'
        guards) expire without an archive."""
        self._objects = objects
        self._store_by_table = {table: store for store, table in stream_stores.items()}
        self._kept = dict(kept or {})

    def store_for(self, stream_arn: str) -> tuple[str, bool]:
        """The store a stream belongs to, and whether it was unknown (its table name is used then:
        failing the record instead would end with the item lost once the stream trims it)."""
        table = table_name(stream_arn)
        store = self._store_by_table.get(table)
        return (store, False) if store is not None else (table, True)

    def archive(self, record: Mapping[str, Any]) -> Archived | None:
        """Write one TTL removal to the archive; None when the record is not a TTL removal."""
        if not is_ttl_removal(record):
            return None
        change = record.get("dynamodb") or {}
        old_image = change.get("OldImage")
        if not old_image:
            raise ArchiveError("a TTL removal without its old image: the stream must carry OLD_IMAGE")
        created = change.get("ApproximateCreationDateTime")
        if not isinstance(created, int | float):
            raise ArchiveError("a TTL removal without ApproximateCreationDateTime")
        record_id = record.get("eventID") or change.get("SequenceNumber")
        if not record_id:
            raise ArchiveError("a TTL removal with neither eventID nor SequenceNumber")

        store, unknown = self.store_for(str(record.get("eventSourceARN") or ""))
        keys = plain_image(change.get("Keys") or {})
        prefix = self._kept.get(store)
        if prefix is not None and not str(keys.get("sk", "")).startswith(prefix):
            return None
        item = plain_image(old_image)
        tenant = tenant_of(keys or item)
        removed_at = datetime.fromtimestamp(float(created), UTC)
        key = archive_key(store=store, tenant=tenant, removed_at=removed_at, record_id=str(record_id))
        # Everything here comes from the record, nothing from the moment of archiving, so writing a
        # redelivered record again stores the same document.
        self._objects.put_json(
            key,
            {
                "store": store,
                "tenant": tenant,
                "event_id": record.get("eventID"),
                "sequence_number": change.get("SequenceNumber"),
                "removed_at": removed_at.isoformat(timespec="seconds"),
                "region": record.get("awsRegion"),
                "keys": keys,
                "item": item,
                # The image as the stream carried it: every attribute with its DynamoDB type, what
                # a restore writes back (`item` is the readable form: binary there is base64 text).
                "image": old_image,
            },
        )
        return Archived(key=key, store=store, tenant=tenant, unknown_store=unknown)
