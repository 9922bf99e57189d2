"""The admin's use cases called as a door other than REST would call them (gui_admin.use_cases), over
the real stores on tables in memory: replacing the flags needs the tenant's ETag, keeps the admin
feature on, tells the guard's cache of the tenant, and the audit trail's bounds are checked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gui_admin.logic import etag
from gui_admin.models import AuditQuery, FlagsInput
from gui_admin.repository import AuditTrail, TenantRecords
from gui_admin.use_cases import AdminPorts, get_tenant, list_audit, put_flags
from gui_core.context import RequestContext
from gui_core.cursors import CursorPlace, Cursors, Pages, StaticCursorKeys
from gui_core.errors import PreconditionFailed, PreconditionRequired, ValidationFailed
from gui_core.migrations.ledger import Ledger
from gui_core.tenancy import TENANT_SK, TenantDirectory
from local.memory_table import MemoryTable

CALLER = RequestContext("acme", "ada@acme", frozenset({"gui:admin"}), (), "eu-west-1", "r", None, None, 0)


def admin_ports() -> tuple[AdminPorts, TenantDirectory]:
    tenants = MemoryTable()
    tenants.put({"pk": "acme", "sk": TENANT_SK, "home_region": "eu-west-1", "flags": {}, "version": 3})
    directory = TenantDirectory(tenants)  # type: ignore[arg-type]
    ports = AdminPorts(
        audit=AuditTrail(MemoryTable()),  # type: ignore[arg-type]
        tenants=TenantRecords(tenants),  # type: ignore[arg-type]
        tenant_cache=directory,
        ledger=Ledger(MemoryTable()),  # type: ignore[arg-type]
    )
    return ports, directory


def test_flags_change_at_the_etag_read_and_the_guard_forgets_its_copy() -> None:
    ports, directory = admin_ports()
    read = get_tenant(ports, CALLER)
    assert directory.get("acme").flags == {}  # type: ignore[union-attr]  # the guard's copy
    changed = put_flags(ports, CALLER, FlagsInput(flags={"search": False}), etag(read.version))
    assert (changed.flags, changed.version) == ({"search": False}, 4)
    assert directory.get("acme").flags == {"search": False}  # type: ignore[union-attr]  # read again
    assert get_tenant(ports, CALLER) == changed


def test_flags_need_the_current_etag_or_a_star() -> None:
    ports, _ = admin_ports()
    with pytest.raises(PreconditionRequired):
        put_flags(ports, CALLER, FlagsInput(flags={"search": False}), None)
    with pytest.raises(PreconditionFailed):
        put_flags(ports, CALLER, FlagsInput(flags={"search": False}), etag(2))
    assert put_flags(ports, CALLER, FlagsInput(flags={"search": False}), "*").version == 4
    # A write that lost the race to another admin's is refused by the store, at the version read.
    assert not ports.tenants.replace({"pk": "acme", "sk": TENANT_SK, "home_region": "eu-west-1"}, version=3)


def test_the_admin_feature_cannot_be_turned_off() -> None:
    ports, _ = admin_ports()
    with pytest.raises(ValidationFailed):
        put_flags(ports, CALLER, FlagsInput(flags={"admin": False}), "*")
    assert get_tenant(ports, CALLER).version == 3


def test_an_audit_range_that_ends_before_it_starts_is_refused() -> None:
    ports, _ = admin_ports()
    pages = Pages(Cursors(StaticCursorKeys(b"k" * 32)), CursorPlace("GET /service/gui/audit", "acme", ()))
    later, earlier = datetime(2026, 12, 2, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(ValidationFailed):
        list_audit(ports, CALLER, AuditQuery(requested_from=later, requested_to=earlier), pages)
    assert (
        list_audit(ports, CALLER, AuditQuery(requested_from=earlier, requested_to=later), pages).items == []
    )
