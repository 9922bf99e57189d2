"""Contract of every preferences endpoint: schemas, auth, scopes, tenancy, preconditions, conflicts,
validation and audit, through the real authorizer and handler."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gui_preferences.models import PreferencesDocument, TenantPolicyDocument, View, ViewPage
from stacks.manifest import MANIFEST
from tests.contract.conftest import Client, problem, table

PREFERENCE_ROUTES = [(r.method, r.path, r.scope) for r in MANIFEST.function("gui_preferences").routes]
ETAG = re.compile(r'^"p\d+\.t\d+"$')
VIEW = {
    "name": "Active coverage",
    "module": "coverage",
    "filters": {"status": ["active"]},
    "sort": [{"field": "updated", "direction": "desc"}],
    "columns": ["title", "status"],
    "visibility": "private",
}


def _concrete(path: str) -> str:
    return path.replace("{view_id}", "v-1").replace("{subject}", "someone").removeprefix("/service/gui")


def _body_for(method: str, path: str) -> Any:
    if method not in {"PUT", "POST"}:
        return None
    if "views" in path:
        return VIEW
    if path.endswith("/tenant"):
        return {"defaults": {}, "locked_keys": []}
    return {"theme": "dark"}


# -- authentication and authorization on every route -------------------------------------------


@pytest.mark.parametrize(("method", "path", "scope"), PREFERENCE_ROUTES)
def test_every_route_needs_a_token(client: Client, method: str, path: str, scope: str) -> None:
    answer = client.call(method, _concrete(path), body=_body_for(method, path), token=None)
    problem(answer, 401, "unauthorized")


@pytest.mark.parametrize(("method", "path", "scope"), PREFERENCE_ROUTES)
@pytest.mark.parametrize("token", ["Bearer garbage", "Bearer a.b.c", "Basic dXNlcjpwYXNz"])
def test_every_route_refuses_an_invalid_token(
    client: Client, method: str, path: str, scope: str, token: str
) -> None:
    answer = client.call(method, _concrete(path), body=_body_for(method, path), token=token)
    problem(answer, 401, "unauthorized")


@pytest.mark.parametrize(("method", "path", "scope"), PREFERENCE_ROUTES)
def test_every_route_needs_its_scope(client: Client, method: str, path: str, scope: str) -> None:
    others = tuple(s for s in ("gui:dashboard", "gui:preferences", "gui:admin") if s != scope)
    caller = client.as_user(client.subject, *others)
    answer = caller.call(method, _concrete(path), body=_body_for(method, path))
    body = problem(answer, 403, "insufficient_scope")
    assert body["required_scope"] == scope


def test_token_from_another_key_is_refused(client: Client) -> None:
    from local.keys import DevKeys

    stranger = DevKeys.ephemeral().mint(
        tenant=client.tenant, subject=client.subject, scopes=["gui:preferences"]
    )
    problem(client.call("GET", "/preferences", token=f"Bearer {stranger}"), 401, "unauthorized")


def test_expired_token_is_refused(client: Client) -> None:
    old = client.keys.mint(
        tenant=client.tenant,
        subject=client.subject,
        scopes=["gui:preferences"],
        issued_at=1_700_000_000,
        ttl_s=60,
    )
    problem(client.call("GET", "/preferences", token=f"Bearer {old}"), 401, "unauthorized")


def test_naming_another_tenant_is_403(client: Client) -> None:
    problem(client.call("GET", "/preferences", query="tenant=someone-else"), 403, "tenant_mismatch")
    assert client.call("GET", "/preferences", query=f"tenant={client.tenant}").status == 200


def test_unknown_route_is_a_404_problem(client: Client) -> None:
    problem(client.call("GET", "/preferences/nothing/here"), 404, "route_not_found")


# -- preferences ------------------------------------------------------------------------------


def test_get_returns_effective_preferences_with_an_etag(client: Client) -> None:
    answer = client.call("GET", "/preferences")
    assert answer.status == 200
    document = PreferencesDocument.model_validate(answer.json())
    assert (document.tenant, document.subject, document.version) == (client.tenant, client.subject, 0)
    assert document.effective.theme == "system"
    assert answer.header("etag") == '"p0.t0"'
    assert answer.header("x-content-type-options") == "nosniff"


def test_put_needs_if_match(client: Client) -> None:
    problem(client.call("PUT", "/preferences", body={"theme": "dark"}), 428, "precondition_required")
    assert client.call("GET", "/preferences").json()["effective"]["theme"] == "system"


def test_put_with_the_current_etag_replaces_and_a_stale_one_is_412(client: Client) -> None:
    etag = client.call("GET", "/preferences").header("etag")
    first = client.call(
        "PUT",
        "/preferences",
        body={"theme": "dark", "pinned_dashboards": ["ops"]},
        headers={"If-Match": etag},
    )
    assert first.status == 200
    new_etag = first.header("etag")
    assert new_etag
    assert ETAG.match(new_etag)
    assert new_etag != etag
    assert PreferencesDocument.model_validate(first.json()).effective.theme == "dark"
    problem(
        client.call("PUT", "/preferences", body={"theme": "light"}, headers={"If-Match": etag}),
        412,
        "precondition_failed",
    )
    # PUT replaces: what is not sent falls back to the defaults
    second = client.call("PUT", "/preferences", body={"density": "compact"}, headers={"If-Match": new_etag})
    assert second.status == 200
    effective = second.json()["effective"]
    assert (effective["theme"], effective["density"], effective["pinned_dashboards"]) == (
        "system",
        "compact",
        [],
    )
    assert client.call("GET", "/preferences").json()["version"] == 2


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"theme": "purple"}, "/theme"),
        ({"locale": "english"}, "/locale"),
        ({"unknown": 1}, "/unknown"),
        ({"pinned_dashboards": ["a", "a"]}, "/pinned_dashboards"),
        ({"default_filters": {"nowhere": {}}}, "/default_filters/nowhere/[key]"),
        ({"default_filters": {"coverage": {"Bad Name": 1}}}, "/default_filters/coverage/Bad Name/[key]"),
    ],
)
def test_invalid_preferences_are_422_with_field_errors(client: Client, body: dict, pointer: str) -> None:
    answer = client.call("PUT", "/preferences", body=body, headers={"If-Match": '"p0.t0"'})
    document = problem(answer, 422, "validation_failed")
    assert pointer in [e["pointer"] for e in document["errors"]], document["errors"]
    assert client.call("GET", "/preferences").json()["version"] == 0  # nothing written


def test_malformed_json_is_400_and_writes_nothing(client: Client) -> None:
    problem(
        client.call("PUT", "/preferences", raw=b'{"theme": ', headers={"If-Match": '"p0.t0"'}),
        400,
        "malformed_json",
    )
    assert client.call("GET", "/preferences").json()["version"] == 0


def test_tenant_defaults_merge_and_locked_keys_are_refused(client: Client, admin: Client) -> None:
    policy = {
        "defaults": {
            "theme": "light",
            "density": "compact",
            "default_filters": {"coverage": {"status": ["active"]}},
        },
        "locked_keys": ["density"],
    }
    assert admin.call("PUT", "/preferences/tenant", body=policy, headers={"If-Match": "*"}).status == 200
    read = client.call("GET", "/preferences")
    document = read.json()
    assert document["effective"]["theme"] == "light"
    assert document["effective"]["default_filters"] == {"coverage": {"status": ["active"]}}
    assert document["locked_keys"] == ["density"]
    etag = read.header("etag")
    locked = problem(
        client.call("PUT", "/preferences", body={"density": "comfortable"}, headers={"If-Match": etag}),
        403,
        "preference_locked",
    )
    assert locked["key"] == "density"
    ok = client.call(
        "PUT",
        "/preferences",
        body={"theme": "dark", "default_filters": {"coverage": {"owner": "me"}}},
        headers={"If-Match": etag},
    )
    assert ok.status == 200
    assert ok.json()["effective"]["default_filters"] == {"coverage": {"status": ["active"], "owner": "me"}}
    assert ok.json()["effective"]["density"] == "compact"


def test_a_tenant_policy_change_makes_the_users_etag_stale(client: Client, admin: Client) -> None:
    etag = client.call("GET", "/preferences").header("etag")
    assert (
        admin.call(
            "PUT", "/preferences/tenant", body={"defaults": {"theme": "dark"}}, headers={"If-Match": '"t0"'}
        ).status
        == 200
    )
    problem(
        client.call("PUT", "/preferences", body={"locale": "de-DE"}, headers={"If-Match": etag}),
        412,
        "precondition_failed",
    )


def test_tenant_policy_round_trip_and_preconditions(admin: Client) -> None:
    read = admin.call("GET", "/preferences/tenant")
    assert read.status == 200
    assert read.header("etag") == '"t0"'
    TenantPolicyDocument.model_validate(read.json())
    problem(admin.call("PUT", "/preferences/tenant", body={"defaults": {}}), 428, "precondition_required")
    write = admin.call(
        "PUT",
        "/preferences/tenant",
        body={"defaults": {"locale": "fr-FR"}, "locked_keys": ["locale"]},
        headers={"If-Match": '"t0"'},
    )
    assert write.status == 200
    assert write.header("etag") == '"t1"'
    assert write.json()["updated_by"] == admin.subject
    problem(
        admin.call("PUT", "/preferences/tenant", body={"defaults": {}}, headers={"If-Match": '"t0"'}),
        412,
        "precondition_failed",
    )
    bad = problem(
        admin.call(
            "PUT", "/preferences/tenant", body={"locked_keys": ["nonsense"]}, headers={"If-Match": '"t1"'}
        ),
        422,
        "validation_failed",
    )
    assert "nonsense" in str(bad["errors"])


def test_admin_reset_removes_a_users_overrides(client: Client, admin: Client) -> None:
    assert (
        client.call("PUT", "/preferences", body={"theme": "dark"}, headers={"If-Match": '"p0.t0"'}).status
        == 200
    )
    assert admin.call("DELETE", f"/preferences/users/{client.subject}").status == 204
    after = client.call("GET", "/preferences")
    assert after.json()["effective"]["theme"] == "system"
    assert after.json()["version"] == 0
    # the user can start again after a reset
    assert (
        client.call(
            "PUT", "/preferences", body={"theme": "light"}, headers={"If-Match": after.header("etag")}
        ).status
        == 200
    )


# -- saved views ------------------------------------------------------------------------------


def test_view_create_read_list(client: Client) -> None:
    created = client.call("POST", "/preferences/views", body=VIEW)
    assert created.status == 201
    view = View.model_validate(created.json())
    assert view.owner == client.subject
    assert view.version == 1
    assert created.header("location") == f"/service/gui/preferences/views/{view.id}"
    assert created.header("etag") == '"v1"'
    read = client.call("GET", f"/preferences/views/{view.id}")
    assert read.status == 200
    assert read.json() == created.json()
    page = ViewPage.model_validate(client.call("GET", "/preferences/views").json())
    assert [v.id for v in page.items] == [view.id]
    assert page.next_cursor is None


def test_view_names_are_unique_per_user_and_module(client: Client) -> None:
    assert client.call("POST", "/preferences/views", body=VIEW).status == 201
    same = problem(
        client.call("POST", "/preferences/views", body={**VIEW, "name": VIEW["name"].upper()}),
        409,
        "view_name_taken",
    )
    assert same["field"] == "name"
    assert client.call("POST", "/preferences/views", body={**VIEW, "module": "mapping"}).status == 201
    assert client.as_user("colleague").call("POST", "/preferences/views", body=VIEW).status == 201
    assert len(client.call("GET", "/preferences/views").json()["items"]) == 2


def test_private_views_are_hidden_and_shared_ones_read_only_for_others(client: Client) -> None:
    private = client.call("POST", "/preferences/views", body=VIEW).json()
    shared = client.call(
        "POST", "/preferences/views", body={**VIEW, "name": "Team", "visibility": "tenant"}
    ).json()
    colleague = client.as_user("colleague")
    listed = [v["id"] for v in colleague.call("GET", "/preferences/views").json()["items"]]
    assert listed == [shared["id"]]
    problem(colleague.call("GET", f"/preferences/views/{private['id']}"), 404, "not_found")
    assert colleague.call("GET", f"/preferences/views/{shared['id']}").status == 200
    problem(
        colleague.call("PUT", f"/preferences/views/{shared['id']}", body={**VIEW, "name": "Mine now"}),
        403,
        "not_owner",
    )
    problem(colleague.call("DELETE", f"/preferences/views/{shared['id']}"), 403, "not_owner")
    assert client.call("GET", f"/preferences/views/{shared['id']}").json()["name"] == "Team"


def test_another_tenant_never_sees_or_touches_a_view(client: Client, backend: Any, keys: Any) -> None:
    view = client.call("POST", "/preferences/views", body={**VIEW, "visibility": "tenant"}).json()
    outsider = Client(
        backend,
        keys,
        tenant=f"{client.tenant}-other",
        subject=client.subject,
        scopes=("gui:preferences", "gui:admin"),
    )
    for method in ("GET", "PUT", "DELETE"):
        body = VIEW if method == "PUT" else None
        problem(outsider.call(method, f"/preferences/views/{view['id']}", body=body), 404, "not_found")
    assert outsider.call("GET", "/preferences/views").json()["items"] == []
    assert client.call("GET", f"/preferences/views/{view['id']}").json()["version"] == 1


def test_view_replace_rename_and_preconditions(client: Client) -> None:
    first = client.call("POST", "/preferences/views", body=VIEW).json()
    second = client.call("POST", "/preferences/views", body={**VIEW, "name": "Second"}).json()
    renamed = client.call(
        "PUT",
        f"/preferences/views/{first['id']}",
        body={**VIEW, "name": "Renamed", "columns": ["title"]},
        headers={"If-Match": '"v1"'},
    )
    assert renamed.status == 200
    assert renamed.header("etag") == '"v2"'
    assert (renamed.json()["name"], renamed.json()["columns"], renamed.json()["created_at"]) == (
        "Renamed",
        ["title"],
        first["created_at"],
    )
    # the old name is free again, the new one is taken
    assert client.call("POST", "/preferences/views", body=VIEW).status == 201
    problem(
        client.call("PUT", f"/preferences/views/{second['id']}", body={**VIEW, "name": "renamed"}),
        409,
        "view_name_taken",
    )
    problem(
        client.call("PUT", f"/preferences/views/{first['id']}", body=VIEW, headers={"If-Match": '"v1"'}),
        412,
        "precondition_failed",
    )
    problem(
        client.call("PUT", f"/preferences/views/{first['id']}", body={**VIEW, "module": "astrology"}),
        422,
        "validation_failed",
    )


def test_view_delete_by_owner_and_by_admin(client: Client, admin: Client) -> None:
    mine = client.call("POST", "/preferences/views", body=VIEW).json()
    shared = client.call(
        "POST", "/preferences/views", body={**VIEW, "name": "Shared", "visibility": "tenant"}
    ).json()
    assert client.call("DELETE", f"/preferences/views/{mine['id']}").status == 204
    problem(client.call("GET", f"/preferences/views/{mine['id']}"), 404, "not_found")
    problem(client.call("DELETE", f"/preferences/views/{mine['id']}"), 404, "not_found")
    assert client.call("POST", "/preferences/views", body=VIEW).status == 201  # name free again
    assert admin.call("DELETE", f"/preferences/views/{shared['id']}").status == 204


def test_view_list_pages_with_cursor_and_filters(client: Client) -> None:
    created = [
        client.call("POST", "/preferences/views", body={**VIEW, "name": f"View {i}"}).json()["id"]
        for i in range(5)
    ]
    client.call("POST", "/preferences/views", body={**VIEW, "name": "Jobs view", "module": "jobs"})
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "module=coverage&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.call("GET", "/preferences/views", query=query).json()
        pages += 1
        seen += [v["id"] for v in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == created
    assert pages == 3
    problem(client.call("GET", "/preferences/views", query="cursor=not-a-cursor"), 400, "invalid_cursor")
    problem(client.call("GET", "/preferences/views", query="limit=0"), 422, "validation_failed")
    # Another user's views are listed by nobody but their owner: `owner` other than `me` is refused.
    refused = problem(client.call("GET", "/preferences/views", query="owner=bob"), 422, "validation_failed")
    assert [e["pointer"] for e in refused["errors"]] == ["/owner"], refused


def test_a_cursor_of_another_tenant_is_refused(client: Client, backend: Any, keys: Any) -> None:
    for i in range(3):
        client.call("POST", "/preferences/views", body={**VIEW, "name": f"V{i}"})
    cursor = client.call("GET", "/preferences/views", query="limit=1").json()["next_cursor"]
    assert cursor
    outsider = Client(backend, keys, tenant=f"{client.tenant}-other", subject="spy")
    problem(outsider.call("GET", "/preferences/views", query=f"cursor={cursor}"), 400, "invalid_cursor")


# -- audit ------------------------------------------------------------------------------------


def test_every_mutation_is_audited_with_its_outcome(client: Client, dynamodb: Any) -> None:
    client.call("PUT", "/preferences", body={"theme": "dark"}, headers={"If-Match": '"p0.t0"'})
    client.call("PUT", "/preferences", body={"theme": "dark"}, headers={"If-Match": '"p0.t0"'})  # stale: 412
    client.call("POST", "/preferences/views", body=VIEW)
    client.call("GET", "/preferences")  # not a mutation
    items = dynamodb.query(
        TableName=table("audit"),
        KeyConditionExpression="pk = :t",
        ExpressionAttributeValues={":t": {"S": client.tenant}},
    )["Items"]
    records = sorted(items, key=lambda i: i["sk"]["S"])
    assert [(r["method"]["S"], r["endpoint"]["S"], int(r["status"]["N"])) for r in records] == [
        ("PUT", "/service/gui/preferences", 200),
        ("PUT", "/service/gui/preferences", 412),
        ("POST", "/service/gui/preferences/views", 201),
    ]
    for record in records:
        assert record["actor"]["S"] == client.subject
        assert re.fullmatch(r"[0-9a-f]{64}", record["payload_sha256"]["S"])
        assert record["request_id"]["S"]
        assert float(record["latency_ms"]["N"]) >= 0
    assert records[1]["code"]["S"] == "precondition_failed"
