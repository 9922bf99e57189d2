"""Contract of the admin group: the audit trail, the tenant's feature flags, and the region's schema
migrations with the tenant's part of each."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from gui_admin.models import AuditPage, MigrationList, TenantDocument
from gui_core.dynamo import Table
from gui_core.migrations.ledger import Ledger
from gui_core.migrations.model import Counts, ItemChange, ItemMigration, Migration, Phase, Status
from local.keys import DevKeys
from local.runtime import LocalBackend
from tests.contract.conftest import Client, aws, problem, table

VIEW = {"name": "V", "module": "coverage"}


def _some_mutations(client: Client, count: int) -> None:
    for i in range(count):
        assert client.call("POST", "/preferences/views", body={**VIEW, "name": f"V{i}"}).status == 201


def test_audit_lists_the_tenants_mutations_newest_first_with_pages(client: Client, admin: Client) -> None:
    _some_mutations(client, 3)
    _some_mutations(admin.as_user("other-user"), 2)
    seen = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        answer = admin.call("GET", "/audit", query=query)
        assert answer.status == 200
        page = AuditPage.model_validate(answer.json())
        seen += page.items
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(seen) == 5
    assert [e.at for e in seen] == sorted((e.at for e in seen), reverse=True)
    assert {e.actor for e in seen} == {client.subject, "other-user"}
    assert all(e.method == "POST" and e.status == 201 for e in seen)


def test_audit_filters_by_actor_and_time(client: Client, admin: Client) -> None:
    _some_mutations(client, 2)
    _some_mutations(admin.as_user("someone-else"), 1)
    mine = admin.call("GET", "/audit", query=f"actor={quote(client.subject)}").json()["items"]
    assert len(mine) == 2
    assert {e["actor"] for e in mine} == {client.subject}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert admin.call("GET", "/audit", query=f"from={quote(future)}").json()["items"] == []
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert len(admin.call("GET", "/audit", query=f"from={quote(past)}").json()["items"]) == 3
    problem(
        admin.call("GET", "/audit", query=f"from={quote(future)}&to={quote(past)}"), 422, "validation_failed"
    )


def test_audit_is_for_admins_of_the_tenant_only(client: Client, admin: Client) -> None:
    _some_mutations(client, 1)
    problem(client.call("GET", "/audit"), 403, "insufficient_scope")
    problem(admin.call("GET", "/audit", query="tenant=someone-else"), 403, "tenant_mismatch")


def test_flags_turn_a_feature_off_and_on(client: Client, admin: Client) -> None:
    read = admin.call("GET", "/admin/tenant")
    assert read.status == 200
    document = TenantDocument.model_validate(read.json())
    assert document.tenant == client.tenant
    assert document.rate_limits["dashboard"] == 100
    etag = read.header("etag")
    problem(
        admin.call("PUT", "/admin/tenant/flags", body={"flags": {"preferences.views": False}}),
        428,
        "precondition_required",
    )
    off = admin.call(
        "PUT", "/admin/tenant/flags", body={"flags": {"preferences.views": False}}, headers={"If-Match": etag}
    )
    assert off.status == 200
    assert off.json()["flags"] == {"preferences.views": False}
    disabled = problem(client.call("GET", "/preferences/views"), 404, "feature_disabled")
    assert disabled["feature"] == "preferences.views"
    assert client.call("GET", "/preferences").status == 200  # the rest of the group stays on
    problem(
        admin.call("PUT", "/admin/tenant/flags", body={"flags": {}}, headers={"If-Match": etag}),
        412,
        "precondition_failed",
    )
    on = admin.call(
        "PUT", "/admin/tenant/flags", body={"flags": {}}, headers={"If-Match": off.header("etag")}
    )
    assert on.status == 200
    assert admin.call("GET", "/admin/tenant").json()["flags"] == {}
    # Other functions keep a tenant record for GUI_TENANT_CACHE_S (30 s) per container, so they
    # see the flag on again within that time (tests/unit/test_tenancy.py covers the expiry).


def test_the_admin_feature_cannot_be_turned_off(admin: Client) -> None:
    etag = admin.call("GET", "/admin/tenant").header("etag")
    problem(
        admin.call(
            "PUT", "/admin/tenant/flags", body={"flags": {"admin": False}}, headers={"If-Match": etag}
        ),
        422,
        "validation_failed",
    )
    problem(
        admin.call(
            "PUT", "/admin/tenant/flags", body={"flags": {"Bad Name": False}}, headers={"If-Match": etag}
        ),
        422,
        "validation_failed",
    )


# --- the region's schema migrations ---------------------------------------------------------------

_migration_numbers = itertools.count(9100)


def _ledger(backend: LocalBackend) -> Ledger:
    """The region's ledger on the local runtime's migrations store, written as gui_migrate writes it."""
    return Ledger(Table(table("migrations"), aws(backend, "dynamodb")))


def _migration(description: str) -> Migration:
    """A migration of the inbox, recorded here only (no registry runs it)."""

    class Recorded(ItemMigration):
        id = f"{next(_migration_numbers)}_contract_{description.split(maxsplit=1)[0].lower()}"
        store = "inbox"
        phase = Phase.EXPAND

        def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
            return None

    Recorded.description = description
    return Recorded()


def _listed(admin: Client, migration: Migration) -> tuple[dict[str, Any], str]:
    """The migration as the admin API lists it, and the whole answer's text."""
    answer = admin.call("GET", "/admin/migrations")
    assert answer.status == 200, answer.body[:500]
    listing = MigrationList.model_validate(answer.json())
    ids = [run.id for run in listing.items]
    assert ids == sorted(ids)  # in the order they apply
    (run,) = [run for run in answer.json()["items"] if run["id"] == migration.id]
    return run, answer.body.decode()


def test_migrations_list_each_run_with_the_tenants_own_part_only(
    backend: LocalBackend, client: Client, admin: Client
) -> None:
    ledger = _ledger(backend)
    migration = _migration("Backfilled for the contract")
    other = f"{client.tenant}-other"
    ledger.record(migration)
    started = ledger.start(
        migration,
        tenants=[client.tenant, other],
        mode="queued",
        started_by="deploy arn:aws:lambda:eu-west-1:123456789012:function:DdGui-eu-west-1-GuiMigrate:7",
        code_version="7 (abc1234)",
        from_status=Status.PENDING,
    )
    assert started is not None
    for tenant, counts in ((client.tenant, Counts(5, 4, 1)), (other, Counts(700, 700, 0))):
        first = ledger.advance(ledger.checkpoint(migration.id, tenant), {"pk": tenant, "sk": "n#1"}, counts)
        assert first is not None
        assert ledger.finish_tenant(first, Counts(1, 1, 0))
    assert ledger.complete(migration.id)

    run, body = _listed(admin, migration)
    assert run["description"] == "Backfilled for the contract"
    assert (run["phase"], run["target"], run["version"]) == ("expand", "store:inbox", 1)
    assert (run["status"], run["mode"], run["error"]) == ("done", "queued", None)
    assert run["started_at"]
    assert run["finished_at"]
    assert run["planned_at"]
    assert run["duration_s"] is not None
    assert run["code_version"] == "7 (abc1234)"
    # What started it, not whose credentials or which account's function.
    assert run["started_by"] == "deploy"
    assert "123456789012" not in body
    # The tenant's own part, in full.
    part = run["tenant"]
    assert (part["status"], part["pages"]) == ("done", 2)
    assert part["counts"] == {"scanned": 6, "changed": 5, "skipped": 1}
    assert part["updated_at"]
    # Nothing of the other tenant's: not its id, nor the region's totals its items add to.
    assert other not in body
    assert "700" not in json.dumps(run)
    assert "tenants" not in run
    assert "counts" not in run


def test_a_failure_in_another_tenants_part_names_neither_that_tenant_nor_its_error(
    backend: LocalBackend, client: Client, admin: Client, keys: DevKeys
) -> None:
    ledger = _ledger(backend)
    migration = _migration("Failing for the contract")
    other = f"{client.tenant}-other"
    ledger.record(migration)
    assert ledger.start(
        migration,
        tenants=[client.tenant, other],
        mode="inline",
        started_by="arn:aws:sts::123456789012:assumed-role/Ops/ada@ops.example via arn:aws:lambda:x",
        code_version="8",
        from_status=Status.PENDING,
    )
    ledger.fail(migration, ledger.checkpoint(migration.id, other), f"item {other}#n#9 has no audience")

    run, body = _listed(admin, migration)
    assert (run["status"], run["started_by"]) == ("failed", "operator")
    assert run["error"]["in_your_tenant"] is False
    assert run["error"]["message"] is None
    assert run["error"]["version"] == 1
    assert run["error"]["at"]
    assert run["tenant"] == {
        "status": "pending",
        "pages": 0,
        "counts": {"scanned": 0, "changed": 0, "skipped": 0},
        "updated_at": None,
        "error": None,
    }
    assert other not in body
    assert "ada@ops" not in body

    # The other tenant's admin sees its own failure, message and all.
    theirs = Client(backend, keys, other, f"{client.subject}-other-admin", roles=("admin",))
    run, body = _listed(theirs, migration)
    assert run["error"]["in_your_tenant"] is True
    assert run["error"]["message"] == f"item {other}#n#9 has no audience"
    assert (run["tenant"]["status"], run["tenant"]["error"]) == (
        "failed",
        f"item {other}#n#9 has no audience",
    )
    assert client.tenant not in body.replace(other, "<their own id>")


def test_migrations_are_for_admins_of_the_tenant_only(client: Client, admin: Client) -> None:
    problem(client.call("GET", "/admin/migrations"), 403, "insufficient_scope")
    problem(admin.call("GET", "/admin/migrations", query="tenant=someone-else"), 403, "tenant_mismatch")
    problem(admin.call("GET", "/admin/migrations", token=None), 401, "unauthorized")
