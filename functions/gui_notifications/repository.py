"""DynamoDB layout of the inbox store, behind the methods the routes and the fan-out need.

One table, partition = tenant, sort key `NOTE#<notification id>`; the id starts with its creation
time, so a descending query is newest first. Tenant-wide items (`audience` `*`) and personal items
(`audience` = a subject) share the partition; visibility is decided by the pure rules.

Every item carries `tenant_audience` (`<tenant>#<audience>`), the partition of the store's
`by_audience` index: written by `append` and `save` (a command's full put must not drop it), and set
on the items written before by migration 0001_inbox_audience_key. The reads below do not use the
index yet, and take items with or without it.

Scale assumption: retention (90 days by default) keeps a tenant's inbox to a few thousand items, so
a list reads the partition newest first in pages of `QUERY_PAGE` up to `READ_LIMIT` items and
filters, counts and pages in memory. A larger inbox answers with `counts_complete` false over its
newest `READ_LIMIT` items; a GSI per audience and status counters are the step after that.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gui_core.dynamo import ConditionFailed, Table, item_absent, version_is
from gui_core.errors import Conflict
from gui_notifications.logic import iso
from gui_notifications.models import NewNotification

PREFIX = "NOTE#"
QUERY_PAGE = 500
READ_LIMIT = 5000


AUDIENCE_KEY = "tenant_audience"


def note_sk(notification_id: str) -> str:
    return f"{PREFIX}{notification_id}"


def audience_key(tenant: str, audience: str) -> str:
    """The partition key of the `by_audience` index: `<tenant>#<audience>` (`*`: tenant-wide)."""
    return f"{tenant}#{audience}"


class InboxRepository:
    def __init__(self, table: Table, *, retention_days: int) -> None:
        self._table = table
        self._retention_s = retention_days * 86400

    def get(self, tenant: str, notification_id: str) -> dict[str, Any] | None:
        return self._table.get({"pk": tenant, "sk": note_sk(notification_id)})

    def inbox(self, tenant: str) -> tuple[list[dict[str, Any]], bool]:
        """The tenant's items newest first, at most `READ_LIMIT`; the flag says whether that is all."""
        items: list[dict[str, Any]] = []
        start_key: dict[str, Any] | None = None
        while True:
            page = self._table.query(
                ("pk", tenant),
                sort_prefix=("sk", PREFIX),
                limit=min(QUERY_PAGE, READ_LIMIT - len(items)),
                start_key=start_key,
                forward=False,
                consistent=True,
            )
            items.extend(page.items)
            if page.last_key is None:
                return items, True
            if len(items) >= READ_LIMIT:
                return items, False
            start_key = page.last_key

    def append(self, tenant: str, notification: Mapping[str, Any] | NewNotification) -> bool:
        """Write a new notification; False when one with this id exists (a redelivered event).

        The inbox writer of the fan-out: the conditional put makes it idempotent on the id.
        """
        try:
            self._table.put(self.new_item(tenant, notification), condition=item_absent("sk"))
        except ConditionFailed:
            return False
        return True

    def new_item(self, tenant: str, notification: Mapping[str, Any] | NewNotification) -> dict[str, Any]:
        """The stored item of a new notification (what `append` writes)."""
        note = (
            notification
            if isinstance(notification, NewNotification)
            else NewNotification.model_validate(notification)
        )
        now = datetime.now(UTC)
        created = note.created_at or now
        return {
            "pk": tenant,
            "sk": note_sk(note.id),
            "kind": "notification",
            **note.model_dump(mode="json", exclude={"created_at", "snoozed_until"}),
            AUDIENCE_KEY: audience_key(tenant, note.audience),
            "snoozed_until": iso(note.snoozed_until) if note.snoozed_until else None,
            "version": 1,
            "created_at": iso(created),
            "updated_at": iso(now),
            "acted_by": None,
            # Retention counts from creation, so a late redelivery cannot extend an item's life.
            "expires_at": int(created.timestamp()) + self._retention_s,
        }

    def save(self, updated: dict[str, Any]) -> None:
        """Write an item a command changed, if nobody changed it since it was read. The item is
        written whole, with its audience's key: one read before the migration set it keeps it."""
        item = {**updated, AUDIENCE_KEY: audience_key(str(updated["pk"]), str(updated["audience"]))}
        try:
            self._table.put(item, condition=version_is(int(updated["version"]) - 1))
        except ConditionFailed as exc:
            raise Conflict(
                "The notification changed while the command ran; read it again.",
                id=updated.get("id"),
            ) from exc
