"""The preferences' GraphQL fields through the real authorizer, gateway and handler, against moto's
server: a write through one door is read through the other, the views' list pages over REST's own
cursors both ways, the entity tags are REST's (a stale `if_match` is REST's 412), a body is checked
by REST's model (422 with REST's pointers), the admin's fields need the admin scope, a field the
token may not read is an error of that field only, and a mutation is audited."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from local.runtime import LocalBackend
from tests.contract.conftest import Client, aws, group_backend, provision, table

# With the migrations' deploy step, as a deploy runs it: the views' list keys are done at start.
FUNCTIONS = ("gui_graphql", "gui_preferences", "gui_migrate", "gui_migrate_worker")
_numbers = itertools.count()

PREFERENCES = "{ preferences { etag body { version overrides { theme density } effective { theme } } } }"
REPLACE = (
    "mutation($v: JSON!, $m: String) { replace_preferences(values: $v, if_match: $m) "
    "{ etag body { version overrides { theme density } } } }"
)
VIEW_FIELDS = "id name module owner version visibility filters"


@pytest.fixture(scope="module")
def preferences_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    with group_backend(tmp_path_factory, *FUNCTIONS) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(preferences_backend: LocalBackend) -> Any:
    return aws(preferences_backend, "dynamodb")


@pytest.fixture
def user(preferences_backend: LocalBackend, ddb: Any) -> Client:
    assert preferences_backend.keys is not None
    n = next(_numbers)
    provision(ddb, f"gqlp-{n}")
    return Client(preferences_backend, preferences_backend.keys, f"gqlp-{n}", f"user-{n}")


@pytest.fixture
def admin(user: Client) -> Client:
    return user.as_user(f"{user.subject}-admin", roles=("admin",))


def graphql(client: Client, query: str, variables: dict[str, Any] | None = None) -> Any:
    answer = client.call("POST", "/graphql", body={"query": query, "variables": variables})
    assert answer.status == 200, answer.body[:500]
    return answer.json()


def _error(body: dict[str, Any], field: str) -> dict[str, Any]:
    (error,) = body["errors"]
    assert error["path"] == [field]
    assert body["data"] == {field: None}
    extensions: dict[str, Any] = error["extensions"]
    return extensions


def test_a_graphql_write_is_read_through_rest_and_a_rest_write_through_graphql(user: Client) -> None:
    read = graphql(user, PREFERENCES)["data"]["preferences"]
    rest = user.call("GET", "/preferences")
    assert read["etag"] == rest.header("etag") == '"p0.t0"'
    assert read["body"]["version"] == rest.json()["version"] == 0

    written = graphql(user, REPLACE, {"v": {"theme": "dark"}, "m": read["etag"]})["data"]
    replaced = written["replace_preferences"]
    assert replaced["body"]["overrides"]["theme"] == "dark"
    rest = user.call("GET", "/preferences")
    assert rest.json()["overrides"]["theme"] == "dark"
    assert rest.json()["version"] == replaced["body"]["version"] == 1
    assert rest.header("etag") == replaced["etag"]

    put = user.call(
        "PUT", "/preferences", body={"density": "compact"}, headers={"If-Match": replaced["etag"]}
    )
    assert put.status == 200, put.body[:500]
    again = graphql(user, PREFERENCES)["data"]["preferences"]
    assert again["etag"] == put.header("etag")
    assert again["body"]["overrides"] == {"theme": None, "density": "compact"}


def test_a_stale_if_match_is_rests_412_and_none_rests_428_on_the_field(user: Client) -> None:
    etag = graphql(user, PREFERENCES)["data"]["preferences"]["etag"]
    assert graphql(user, REPLACE, {"v": {"theme": "dark"}, "m": etag})["data"]["replace_preferences"]
    stale = _error(graphql(user, REPLACE, {"v": {"theme": "light"}, "m": etag}), "replace_preferences")
    assert (stale["code"], stale["status"]) == ("precondition_failed", 412)
    missing = _error(graphql(user, REPLACE, {"v": {"theme": "light"}}), "replace_preferences")
    assert (missing["code"], missing["status"]) == ("precondition_required", 428)
    assert user.call("GET", "/preferences").json()["version"] == 1  # nothing written


@pytest.mark.parametrize(
    ("values", "pointer"),
    [
        ({"theme": "purple"}, "/theme"),
        ({"unknown": 1}, "/unknown"),
        ({"default_filters": {"nowhere": {}}}, "/default_filters/nowhere/[key]"),
    ],
)
def test_a_bad_body_is_rests_422_with_its_pointers(
    user: Client, values: dict[str, Any], pointer: str
) -> None:
    rest = user.call("PUT", "/preferences", body=values, headers={"If-Match": '"p0.t0"'})
    assert rest.status == 422
    error = _error(graphql(user, REPLACE, {"v": values, "m": '"p0.t0"'}), "replace_preferences")
    assert (error["code"], error["status"]) == ("validation_failed", 422)
    assert pointer in [e["pointer"] for e in error["errors"]]
    assert [e["pointer"] for e in error["errors"]] == [e["pointer"] for e in rest.json()["errors"]]


def test_views_cross_the_doors_and_the_list_pages_over_rests_cursors(user: Client) -> None:
    made = [
        graphql(
            user,
            f"mutation($v: JSON!) {{ create_view(view: $v) {{ etag body {{ {VIEW_FIELDS} }} }} }}",
            {"v": {"name": f"g{n}", "module": "coverage", "filters": {"status": ["active"]}}},
        )["data"]["create_view"]
        for n in range(2)
    ]
    assert made[0]["etag"] == '"v1"'
    rest_made = [
        user.call("POST", "/preferences/views", body={"name": f"r{n}", "module": "coverage"}).json()
        for n in range(2)
    ]
    ids = [v["body"]["id"] for v in made] + [v["id"] for v in rest_made]
    # Each door reads the other's views.
    rest_view = user.call("GET", f"/preferences/views/{made[0]['body']['id']}")
    assert rest_view.json()["filters"] == {"status": ["active"]}
    assert rest_view.header("etag") == made[0]["etag"]
    read = graphql(user, "query($id: String!) { view(id: $id) { etag body { name } } }", {"id": ids[2]})
    assert read["data"]["view"] == {"etag": '"v1"', "body": {"name": "r0"}}

    whole = user.call("GET", "/preferences/views", query="module=coverage&owner=me&limit=10").json()
    assert [v["id"] for v in whole["items"]] == ids
    # GraphQL's first page, then REST's next with the same filters ...
    first = graphql(
        user,
        '{ views(first: 1, module: "coverage", owner: me) '
        "{ nodes { id } pageInfo { hasNextPage endCursor } } }",
    )["data"]["views"]
    assert [n["id"] for n in first["nodes"]] == ids[:1]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = user.call(
        "GET",
        "/preferences/views",
        query=f"module=coverage&owner=me&limit=2&cursor={first['pageInfo']['endCursor']}",
    )
    assert rest.status == 200, rest.body[:500]
    assert [v["id"] for v in rest.json()["items"]] == ids[1:3]
    # ... and GraphQL's continuing REST's.
    last = graphql(
        user,
        'query($c: String) { views(first: 5, after: $c, module: "coverage", owner: me) '
        "{ nodes { id } pageInfo { hasNextPage endCursor } } }",
        {"c": rest.json()["next_cursor"]},
    )["data"]["views"]
    assert [n["id"] for n in last["nodes"]] == ids[3:]
    assert last["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    # A cursor of another filter is REST's 400 invalid_cursor, on its field.
    other = graphql(
        user, "query($c: String) { views(after: $c) { nodes { id } } }", {"c": first["pageInfo"]["endCursor"]}
    )
    assert _error(other, "views")["code"] == "invalid_cursor"


def test_a_view_is_replaced_and_deleted_with_its_tag(user: Client) -> None:
    created = user.call("POST", "/preferences/views", body={"name": "mine", "module": "jobs"})
    view_id, etag = created.json()["id"], created.header("etag")
    replace = (
        "mutation($id: String!, $v: JSON!, $m: String) "
        "{ replace_view(id: $id, view: $v, if_match: $m) { etag body { name version } } }"
    )
    body = {"name": "renamed", "module": "jobs"}
    replaced = graphql(user, replace, {"id": view_id, "v": body, "m": etag})["data"]["replace_view"]
    assert replaced == {"etag": '"v2"', "body": {"name": "renamed", "version": 2}}
    assert user.call("GET", f"/preferences/views/{view_id}").json()["name"] == "renamed"
    stale = _error(graphql(user, replace, {"id": view_id, "v": body, "m": etag}), "replace_view")
    assert (stale["code"], stale["status"]) == ("precondition_failed", 412)
    bad = _error(graphql(user, replace, {"id": view_id, "v": {"module": "jobs"}}), "replace_view")
    assert (bad["code"], [e["pointer"] for e in bad["errors"]]) == ("validation_failed", ["/name"])

    delete = "mutation($id: String!, $m: String) { delete_view(id: $id, if_match: $m) }"
    refused = _error(graphql(user, delete, {"id": view_id, "m": etag}), "delete_view")
    assert refused["status"] == 412
    assert graphql(user, delete, {"id": view_id, "m": replaced["etag"]})["data"] == {"delete_view": True}
    assert user.call("GET", f"/preferences/views/{view_id}").status == 404
    missing = _error(graphql(user, '{ view(id: "nope") { etag } }'), "view")
    assert (missing["code"], missing["status"]) == ("not_found", 404)


def test_the_tenant_policy_needs_the_admin_scope_as_in_rest(user: Client, admin: Client) -> None:
    policy = "{ tenant_policy { etag body { version locked_keys } } }"
    refused = _error(graphql(user, policy), "tenant_policy")
    assert refused == {"code": "insufficient_scope", "status": 403, "required_scope": "gui:admin"}
    assert user.call("GET", "/preferences/tenant").status == 403

    read = graphql(admin, policy)["data"]["tenant_policy"]
    assert read == {"etag": '"t0"', "body": {"version": 0, "locked_keys": []}}
    replace = (
        "mutation($p: JSON!, $m: String) { replace_tenant_policy(policy: $p, if_match: $m) "
        "{ etag body { version locked_keys defaults { theme } } } }"
    )
    written = graphql(
        admin, replace, {"p": {"defaults": {"theme": "dark"}, "locked_keys": ["theme"]}, "m": read["etag"]}
    )["data"]["replace_tenant_policy"]
    assert written["etag"] == '"t1"'
    rest = admin.call("GET", "/preferences/tenant")
    assert (rest.header("etag"), rest.json()["locked_keys"]) == ('"t1"', ["theme"])
    # The lock holds at both doors.
    locked = _error(graphql(user, REPLACE, {"v": {"theme": "light"}, "m": '"p0.t1"'}), "replace_preferences")
    assert (locked["code"], locked["status"]) == ("preference_locked", 403)
    stale = _error(graphql(admin, replace, {"p": {}, "m": read["etag"]}), "replace_tenant_policy")
    assert stale["status"] == 412

    # An admin resets a user's preferences; a user may not.
    assert (
        user.call("PUT", "/preferences", body={"density": "compact"}, headers={"If-Match": '"p0.t1"'}).status
        == 200
    )
    reset = "mutation($s: String!) { reset_user_preferences(subject: $s) }"
    denied = _error(graphql(user, reset, {"s": user.subject}), "reset_user_preferences")
    assert denied["required_scope"] == "gui:admin"
    assert graphql(admin, reset, {"s": user.subject})["data"] == {"reset_user_preferences": True}
    after = user.call("GET", "/preferences").json()
    assert (after["version"], after["overrides"]["density"]) == (0, None)


def test_a_token_without_the_scope_gets_an_error_on_the_field_only(user: Client) -> None:
    other = user.as_user(user.subject, "gui:dashboard")
    answer = graphql(other, "{ preferences { etag } views(first: 1) { nodes { id } } }")
    assert answer["data"] == {"preferences": None, "views": None}
    assert [e["path"] for e in answer["errors"]] == [["preferences"], ["views"]]
    for error in answer["errors"]:
        assert error["extensions"] == {
            "code": "insufficient_scope",
            "status": 403,
            "required_scope": "gui:preferences",
        }


def test_a_disabled_views_feature_is_an_error_of_the_views_fields_only(user: Client, ddb: Any) -> None:
    provision(ddb, user.tenant, flags={"preferences.views": False})
    answer = graphql(user, "{ preferences { etag } views { nodes { id } } }")
    assert answer["data"]["preferences"] == {"etag": '"p0.t0"'}
    assert answer["data"]["views"] is None
    (error,) = answer["errors"]
    assert (error["extensions"]["code"], error["extensions"]["status"]) == ("feature_disabled", 404)
    assert user.call("GET", "/preferences/views").status == 404


def test_a_mutation_is_audited(user: Client, ddb: Any) -> None:
    created = graphql(user, 'mutation { create_view(view: {name: "audited", module: "cost"}) { etag } }')
    assert created["data"]["create_view"] == {"etag": '"v1"'}
    audit = ddb.query(
        TableName=table("audit"),
        KeyConditionExpression="pk = :t",
        ExpressionAttributeValues={":t": {"S": user.tenant}},
        ConsistentRead=True,
    )["Items"]
    assert "/service/gui/graphql#create_view" in [i["endpoint"]["S"] for i in audit]
