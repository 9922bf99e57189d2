from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gui_core.dynamo import Condition
from gui_core.migrations.model import ItemChange, ItemMigration, Phase

ATTRIBUTE = "tenant_audience"
TENANT_WIDE = "*"  # gui_notifications.models.TENANT_WIDE


def audience_key(tenant: str, audience: str) -> str:
    """`<tenant>#<audience>`, as `gui_notifications.repository.audience_key` writes it (a unit test
    keeps the two equal)."""
    return f"{tenant}#{audience}"


class InboxAudienceKey(ItemMigration):
    """Expand step of the paged inbox (issue 14): every notification carries its audience's key,
    the partition of the inbox's `by_audience` index. New items get it from their writers; this sets
    it on the items written before them. Readers do not use it yet: issue 14's readers will, once
    this migration is done everywhere (their release requires it, as a contract step)."""

    id = "0001_inbox_audience_key"
    description = (
        "Inbox notifications get tenant_audience = <tenant>#<audience>, the partition key of the "
        "by_audience index."
    )
    phase = Phase.EXPAND
    store = "inbox"
    sort_prefix = "NOTE#"  # gui_notifications.repository.PREFIX

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        if ATTRIBUTE in item:
            return None
        return ItemChange(
            values={ATTRIBUTE: audience_key(str(item["pk"]), str(item.get("audience") or TENANT_WIDE))},
            condition=Condition("attribute_not_exists(#audience_key)", names={"#audience_key": ATTRIBUTE}),
        )
