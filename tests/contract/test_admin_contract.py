"""Contract of the admin group: the audit trail and the tenant's feature flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from gui_admin.models import AuditPage, TenantDocument
from tests.contract.conftest import Client, problem

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
