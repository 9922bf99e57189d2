"""The admin's GraphQL fields through the real authorizer, gateway and handler, against moto's server:
each answers what its REST twin answers (the tenant with its ETag, the audit trail, the migrations),
the audit trail pages over REST's own cursors both ways, the flags are replaced at REST's ETag (a
stale `if_match` is REST's 412) and checked by REST's body model, a change through GraphQL is read
through REST and audited, and a token without `gui:admin` gets an error on the admin's fields only."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from gui_core.dynamo import Table
from gui_core.migrations.ledger import Ledger
from gui_core.migrations.model import Counts, ItemChange, ItemMigration, Migration, Phase, Status
from local.runtime import LocalBackend
from tests.contract.conftest import Client, aws, group_backend, provision, table

FUNCTIONS = ("gui_graphql", "gui_admin")
_numbers = itertools.count()
_migration_numbers = itertools.count(9300)

TENANT_FIELDS = "tenant name home_region plan flags rate_limits license_tag version"
TENANT = f"{{ tenant {{ etag body {{ {TENANT_FIELDS} }} }} }}"
REPLACE = (
    "mutation($f: JSON!, $m: String) { replace_tenant_flags(flags: $f, if_match: $m) "
    f"{{ etag body {{ {TENANT_FIELDS} }} }} }}"
)
ENTRY_FIELDS = "at actor method endpoint path status code payload_sha256 latency_ms request_id trace_id"
AUDIT = (
    "query($first: Int, $after: String, $from: String, $to: String, $actor: String) "
    "{ audit(first: $first, after: $after, from: $from, to: $to, actor: $actor) "
    f"{{ nodes {{ {ENTRY_FIELDS} }} edges {{ node {{ request_id }} }} "
    "pageInfo { hasNextPage endCursor } } }"
)
MIGRATIONS = (
    "{ migrations { items { id description phase target version status mode planned_at started_at "
    "finished_at duration_s started_by code_version error { at version in_your_tenant message } "
    "tenant { status pages counts { scanned changed skipped } updated_at error } } } }"
)


@pytest.fixture(scope="module")
def admin_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    with group_backend(tmp_path_factory, *FUNCTIONS) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(admin_backend: LocalBackend) -> Any:
    return aws(admin_backend, "dynamodb")


@pytest.fixture
def user(admin_backend: LocalBackend, ddb: Any) -> Client:
    assert admin_backend.keys is not None
    n = next(_numbers)
    provision(ddb, f"gqla-{n}")
    return Client(admin_backend, admin_backend.keys, f"gqla-{n}", f"user-{n}")


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


def _put_flags(admin: Client, flags: dict[str, bool], if_match: str = "*") -> Any:
    answer = admin.call("PUT", "/admin/tenant/flags", body={"flags": flags}, headers={"If-Match": if_match})
    assert answer.status == 200, answer.body[:500]
    return answer


def _audit(client: Client, **variables: Any) -> dict[str, Any]:
    page: dict[str, Any] = graphql(client, AUDIT, variables)["data"]["audit"]
    return page


# -- the tenant and its flags -------------------------------------------------------------------


def test_the_tenant_and_its_flags_cross_the_doors_with_rests_etags(admin: Client) -> None:
    read = graphql(admin, TENANT)["data"]["tenant"]
    rest = admin.call("GET", "/admin/tenant")
    assert rest.status == 200, rest.body[:500]
    assert read == {"etag": rest.header("etag"), "body": rest.json()}
    assert (read["etag"], read["body"]["tenant"]) == ('"r0"', admin.tenant)

    flags = {"search": False, "realtime": True}
    replaced = graphql(admin, REPLACE, {"f": flags, "m": read["etag"]})["data"]["replace_tenant_flags"]
    assert replaced["body"]["flags"] == flags
    assert (replaced["etag"], replaced["body"]["version"]) == ('"r1"', 1)
    rest = admin.call("GET", "/admin/tenant")
    assert {"etag": rest.header("etag"), "body": rest.json()} == replaced

    # REST's change at GraphQL's tag, read through GraphQL.
    put = _put_flags(admin, {"search": True}, if_match=replaced["etag"])
    again = graphql(admin, TENANT)["data"]["tenant"]
    assert again == {"etag": put.header("etag"), "body": put.json()}
    assert (again["etag"], again["body"]["flags"]) == ('"r2"', {"search": True})


def test_a_stale_if_match_is_rests_412_and_none_rests_428_on_the_field(admin: Client) -> None:
    etag = graphql(admin, TENANT)["data"]["tenant"]["etag"]
    assert graphql(admin, REPLACE, {"f": {"search": False}, "m": etag})["data"]["replace_tenant_flags"]
    stale = _error(graphql(admin, REPLACE, {"f": {"realtime": False}, "m": etag}), "replace_tenant_flags")
    assert (stale["code"], stale["status"]) == ("precondition_failed", 412)
    rest = admin.call(
        "PUT", "/admin/tenant/flags", body={"flags": {"realtime": False}}, headers={"If-Match": etag}
    )
    assert (rest.status, rest.json()["code"]) == (412, "precondition_failed")
    missing = _error(graphql(admin, REPLACE, {"f": {"realtime": False}}), "replace_tenant_flags")
    assert (missing["code"], missing["status"]) == ("precondition_required", 428)
    # Nothing written; a `*` replaces whatever is there, as in REST.
    assert admin.call("GET", "/admin/tenant").json()["flags"] == {"search": False}
    star = graphql(admin, REPLACE, {"f": {}, "m": "*"})["data"]["replace_tenant_flags"]
    assert (star["etag"], star["body"]["flags"]) == ('"r2"', {})


@pytest.mark.parametrize(
    ("flags", "pointer"),
    [
        ({"admin": False}, "/flags/admin"),
        ({"Bad Name": False}, "/flags/Bad Name/[key]"),
        ({"search": "yes"}, "/flags/search"),
    ],
)
def test_bad_flags_are_rests_422_with_its_pointers(
    admin: Client, flags: dict[str, Any], pointer: str
) -> None:
    rest = admin.call("PUT", "/admin/tenant/flags", body={"flags": flags}, headers={"If-Match": '"r0"'})
    assert rest.status == 422, rest.body[:500]
    error = _error(graphql(admin, REPLACE, {"f": flags, "m": '"r0"'}), "replace_tenant_flags")
    assert (error["code"], error["status"]) == ("validation_failed", 422)
    assert pointer in [e["pointer"] for e in error["errors"]]
    assert [e["pointer"] for e in error["errors"]] == [e["pointer"] for e in rest.json()["errors"]]
    assert admin.call("GET", "/admin/tenant").json()["version"] == 0  # nothing written


# -- the audit trail ----------------------------------------------------------------------------


def test_the_audit_trail_is_rests_and_pages_over_its_cursors_both_ways(user: Client, admin: Client) -> None:
    other = user.as_user(f"{user.subject}-other-admin", roles=("admin",))
    for n in range(3):
        _put_flags(admin, {f"f{n}": False})
    _put_flags(other, {"f9": True})
    graphql(admin, REPLACE, {"f": {"f3": False}, "m": "*"})  # audited too: a mutation
    rest = admin.call("GET", "/audit", query="limit=50").json()
    whole = _audit(admin)
    assert whole["nodes"] == rest["items"]
    assert len(whole["nodes"]) == 5
    assert [e["node"]["request_id"] for e in whole["edges"]] == [n["request_id"] for n in whole["nodes"]]
    assert whole["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    mine = [n["request_id"] for n in whole["nodes"] if n["actor"] == admin.subject]
    assert len(mine) == 4

    # GraphQL's first page of one actor's, then REST's next with the same filter ...
    first = _audit(admin, first=1, actor=admin.subject)
    assert [n["request_id"] for n in first["nodes"]] == mine[:1]
    assert first["pageInfo"]["hasNextPage"] is True
    cursor = first["pageInfo"]["endCursor"]
    page = admin.call("GET", "/audit", query=f"actor={quote(admin.subject)}&limit=2&cursor={cursor}")
    assert page.status == 200, page.body[:500]
    assert [e["request_id"] for e in page.json()["items"]] == mine[1:3]
    # ... and GraphQL's continuing REST's.
    last = _audit(admin, first=5, after=page.json()["next_cursor"], actor=admin.subject)
    assert [n["request_id"] for n in last["nodes"]] == mine[3:]
    assert last["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    # A cursor of another filter is REST's 400 invalid_cursor, on its field.
    refused = _error(graphql(admin, AUDIT, {"after": cursor}), "audit")
    assert (refused["code"], refused["status"]) == ("invalid_cursor", 400)
    assert admin.call("GET", "/audit", query=f"cursor={cursor}").status == 400


def test_the_audit_trails_times_are_parsed_and_checked_as_rests(admin: Client) -> None:
    _put_flags(admin, {"search": False})
    since = "2020-01-01T00:00:00Z"
    rest = admin.call("GET", "/audit", query=f"from={quote(since)}").json()["items"]
    assert [n["request_id"] for n in _audit(admin, **{"from": since})["nodes"]] == [
        e["request_id"] for e in rest
    ]
    assert len(rest) == 1
    assert _audit(admin, **{"from": "2999-01-01T00:00:00"})["nodes"] == []  # no offset: UTC
    for query, variables in (
        ("from=yesterday", {"from": "yesterday"}),
        (
            "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        ),
    ):
        rest_error = admin.call("GET", "/audit", query=query)
        assert rest_error.status == 422, rest_error.body[:500]
        error = _error(graphql(admin, AUDIT, variables), "audit")
        assert (error["code"], error["status"]) == ("validation_failed", 422)
        assert [e["pointer"] for e in error["errors"]] == [e["pointer"] for e in rest_error.json()["errors"]]


def test_the_audit_pages_size_has_rests_bounds(admin: Client) -> None:
    """`first` is 1 to 200, as `GET /audit`'s `limit` (the other lists' 100 would refuse its pages)."""
    assert "nodes" in _audit(admin, first=200)
    assert admin.call("GET", "/audit", query="limit=201").status == 422
    error = _error(graphql(admin, AUDIT, {"first": 201}), "audit")
    assert (error["code"], error["status"]) == ("validation_failed", 422)


# -- the migrations -----------------------------------------------------------------------------


def _migration() -> Migration:
    """A migration of the inbox, recorded here only (no registry runs it)."""

    class Recorded(ItemMigration):
        id = f"{next(_migration_numbers)}_graphql_contract"
        description = "Recorded for the GraphQL contract"
        store = "inbox"
        phase = Phase.EXPAND

        def upgrade(self, item: Any) -> ItemChange | None:
            return None

    return Recorded()


def test_the_migrations_are_rests_with_the_tenants_own_part(
    admin_backend: LocalBackend, admin: Client
) -> None:
    ledger = Ledger(Table(table("migrations"), aws(admin_backend, "dynamodb")))
    migration = _migration()
    ledger.record(migration)
    other = f"{admin.tenant}-other"
    assert ledger.start(
        migration,
        tenants=[admin.tenant, other],
        mode="queued",
        started_by="deploy",
        code_version="9 (abc1234)",
        from_status=Status.PENDING,
    )
    part = ledger.checkpoint(migration.id, admin.tenant)
    first = ledger.advance(part, {"pk": admin.tenant, "sk": "n#1"}, Counts(3, 2, 1))
    assert first is not None
    assert ledger.finish_tenant(first, Counts(1, 1, 0))
    ledger.fail(migration, ledger.checkpoint(migration.id, other), f"item of {other} has no audience")

    rest = admin.call("GET", "/admin/migrations")
    assert rest.status == 200, rest.body[:500]
    read = graphql(admin, MIGRATIONS)["data"]["migrations"]
    assert read == rest.json()
    (run,) = [r for r in read["items"] if r["id"] == migration.id]
    assert (run["status"], run["tenant"]["status"], run["tenant"]["pages"]) == ("failed", "done", 2)
    assert run["error"]["in_your_tenant"] is False
    assert run["error"]["message"] is None  # another tenant's error is not told


# -- scopes and the audit of a change -----------------------------------------------------------


def test_a_token_without_the_admin_scope_gets_an_error_on_the_admins_fields_only(user: Client) -> None:
    answer = graphql(
        user, "{ tenant { etag } audit { nodes { at } } migrations { items { id } } preferences { etag } }"
    )
    assert answer["data"] == {
        "tenant": None,
        "audit": None,
        "migrations": None,
        "preferences": {"etag": '"p0.t0"'},
    }
    assert [e["path"] for e in answer["errors"]] == [["tenant"], ["audit"], ["migrations"]]
    for error in answer["errors"]:
        assert error["extensions"] == {
            "code": "insufficient_scope",
            "status": 403,
            "required_scope": "gui:admin",
        }
    denied = _error(graphql(user, REPLACE, {"f": {"search": False}, "m": "*"}), "replace_tenant_flags")
    assert (denied["code"], denied["status"]) == ("insufficient_scope", 403)
    assert user.call("GET", "/admin/tenant").status == 403
    admin = user.as_user(f"{user.subject}-admin", roles=("admin",))
    assert admin.call("GET", "/admin/tenant").json()["flags"] == {}  # nothing written


def test_a_flags_change_through_graphql_is_seen_by_rest_and_audited(admin: Client, ddb: Any) -> None:
    changed = graphql(admin, REPLACE, {"f": {"realtime": False}, "m": '"r0"'})["data"]["replace_tenant_flags"]
    assert changed["body"]["flags"] == {"realtime": False}
    rest = admin.call("GET", "/admin/tenant")
    assert (rest.header("etag"), rest.json()["flags"]) == (changed["etag"], {"realtime": False})

    (entry,) = admin.call("GET", "/audit").json()["items"]
    assert (entry["endpoint"], entry["method"], entry["actor"]) == (
        "/service/gui/graphql#replace_tenant_flags",
        "POST",
        admin.subject,
    )
    assert _audit(admin)["nodes"] == [entry]
    stored = ddb.query(
        TableName=table("audit"),
        KeyConditionExpression="pk = :t",
        ExpressionAttributeValues={":t": {"S": admin.tenant}},
        ConsistentRead=True,
    )["Items"]
    assert [i["endpoint"]["S"] for i in stored] == ["/service/gui/graphql#replace_tenant_flags"]
