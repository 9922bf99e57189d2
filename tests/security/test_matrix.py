"""The security matrix: every route of every REST function x every way a caller must be refused.

The routes come from the manifest (what API Gateway exposes), and the first test proves that list
is exactly each app's own route table, so a route added to an app but not to the manifest (or the
reverse) fails here, and a new route joins every case below without being named.

Each refusal is asserted by its exact status and problem `code`, as a problem document holding
nothing but the refusal, and by what it left in the stores.
"""

from __future__ import annotations

import time
import uuid
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import pytest
from fastapi.routing import iter_route_contexts

from gui_core.rate_limit import DEFAULT_LIMITS
from gui_core.rbac import ALL_SCOPES
from gui_jobs.logic import TERMINAL as JOB_TERMINAL
from local.keys import DevKeys
from stacks.manifest import Function, Route
from tests.security.support import (
    ALL_STORES,
    CASES,
    DATA_STORES,
    FIELD_SCOPES,
    GUARD_STORES,
    HOME,
    OTHER,
    QUERIES,
    ROUTE_IDS,
    ROUTED_FUNCTIONS,
    ROUTES,
    SECURITY_HEADERS,
    Caller,
    assert_no_marker,
    build_app,
    hs256_with_public_key,
    owned_parameters,
    partition,
    problem,
    provision,
    route_path,
    send,
    shape,
    snapshot,
    table,
    unique,
    unsigned_token,
    valid_claims,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.runtime import LocalBackend

# -- the route tables ---------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ROUTED_FUNCTIONS, ids=[fn.name for fn in ROUTED_FUNCTIONS])
def test_the_manifest_lists_exactly_the_routes_of_each_app_and_each_is_guarded(fn: Function) -> None:
    """Compared by shape: API Gateway names a path parameter once per resource level (`/jobs/{id}`
    for both `/jobs/{verb}` and `/jobs/{job_id}` of the app), so the names may differ."""
    app = build_app(fn)
    served: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for context in iter_route_contexts(app.routes):
        for method in context.methods or ():
            dependencies = [getattr(d.dependency, "__name__", "") for d in context.dependencies]
            served[(method, shape(context.path))] = (context.path, dependencies)
    declared = {(route.method, shape(route.full_path)): route.full_path for route in fn.routes}
    only_app = sorted(f"{m} {path}" for (m, shape), (path, _) in served.items() if (m, shape) not in declared)
    only_manifest = sorted(f"{m} {path}" for (m, shape), path in declared.items() if (m, shape) not in served)
    assert not only_app, f"routes missing from the manifest: {only_app}"
    assert not only_manifest, f"manifest routes no app serves: {only_manifest}"
    unguarded = sorted(
        path for path, deps in served.values() if not any(d.startswith("guard_") for d in deps)
    )
    assert not unguarded, f"routes not made with gui_core.guard.group_router: {unguarded}"
    assert all(route.scope or route.field_scopes for route in fn.routes), "every route demands a scope"


def test_every_function_with_routes_is_in_the_matrix() -> None:
    assert {fn.name for _, fn in ROUTES} == {fn.name for fn in ROUTED_FUNCTIONS}
    assert len(ROUTES) == len(set(ROUTE_IDS)) >= 13


# -- tokens the gateway must refuse ----------------------------------------------------------


def _expired(keys: DevKeys, caller: Caller) -> str:
    issued = int(time.time()) - 7200
    return keys.mint(
        tenant=caller.tenant, subject=caller.subject, roles=("admin",), issued_at=issued, ttl_s=3600
    )


def _not_yet_valid(keys: DevKeys, caller: Caller) -> str:
    return keys.mint(
        tenant=caller.tenant, subject=caller.subject, roles=("admin",), not_before=int(time.time()) + 3600
    )


def _issued_in_the_future(keys: DevKeys, caller: Caller) -> str:
    now = int(time.time())
    return keys.mint(
        tenant=caller.tenant, subject=caller.subject, roles=("admin",), issued_at=now + 3600, not_before=now
    )


def _claims(keys: DevKeys, caller: Caller) -> dict[str, Any]:
    return {**valid_claims(keys, tenant=caller.tenant, subject=caller.subject), "roles": ["admin"]}


def _garbled(keys: DevKeys, caller: Caller) -> str:
    header, _, signature = caller.token().split(".")
    return f"{header}.!!not*base64url!!.{signature}"


@cache
def _another_key() -> DevKeys:
    return DevKeys.ephemeral()


def _unknown_kid(caller: Caller) -> str:
    """Signed by a key the authorizer does not know, under that key's own id."""
    return _another_key().mint(tenant=caller.tenant, subject=caller.subject, roles=("admin",))


def _forged(keys: DevKeys, caller: Caller) -> str:
    """A well-formed RS256 token naming the trusted key id, signed by another key."""
    return _another_key().mint(
        tenant=caller.tenant, subject=caller.subject, roles=("admin",), headers={"kid": keys.kid}
    )


TOKENS: dict[str, Callable[[DevKeys, Caller], str | None]] = {
    "no token": lambda keys, caller: None,
    "not a bearer token": lambda keys, caller: caller.token(),  # the token without "Bearer "
    "empty bearer": lambda keys, caller: "Bearer ",
    "garbled": lambda keys, caller: f"Bearer {_garbled(keys, caller)}",
    "expired": lambda keys, caller: f"Bearer {_expired(keys, caller)}",
    "not yet valid": lambda keys, caller: f"Bearer {_not_yet_valid(keys, caller)}",
    "issued in the future": lambda keys, caller: f"Bearer {_issued_in_the_future(keys, caller)}",
    "wrong issuer": lambda keys, caller: f"Bearer {caller.token(iss='https://idp.evil.example/')}",
    "wrong audience": lambda keys, caller: f"Bearer {caller.token(aud='another-api')}",
    "alg none": lambda keys, caller: f"Bearer {unsigned_token(keys, _claims(keys, caller))}",
    "HS256 signed with the public key": lambda keys, caller: (
        f"Bearer {hs256_with_public_key(keys, _claims(keys, caller))}"
    ),
    "unknown kid": lambda keys, caller: f"Bearer {_unknown_kid(caller)}",
    "signed by another key": lambda keys, caller: f"Bearer {_forged(keys, caller)}",
    "no tenant claim": lambda keys, caller: f"Bearer {caller.token(tenant='')}",
}


@pytest.fixture(scope="module")
def provisioned(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> Caller:
    """An admin of a provisioned tenant: had a token of theirs slipped through, they would succeed."""
    tenant = unique("sec-tokens")
    provision(dynamodb, tenant)
    return Caller(backend, keys, tenant, unique("admin"), roles=("admin",))


@pytest.mark.parametrize("token_case", list(TOKENS))
@pytest.mark.parametrize(("route", "fn"), ROUTES, ids=ROUTE_IDS)
def test_the_gateway_refuses_a_bad_token_on_every_route(
    route: Route, fn: Function, token_case: str, provisioned: Caller, keys: DevKeys, dynamodb: Any
) -> None:
    CASES["matrix"] += 1
    answer = send(provisioned, route, authorization=TOKENS[token_case](keys, provisioned))
    document = problem(answer, 401, "unauthorized")
    assert document["status"] == 401
    # A request that reached the function would have left a rate-limit counter (every request) or
    # an audit record (every mutation); the other stores are checked by the cases below.
    for store in sorted(GUARD_STORES):
        assert partition(dynamodb, store, provisioned.tenant) == [], f"a refused token left items in {store}"


# -- a token without the route's scope ----------------------------------------------------------


@pytest.fixture(scope="module")
def scoped_tenant(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> Caller:
    tenant = unique("sec-scope")
    provision(dynamodb, tenant)
    return Caller(backend, keys, tenant, unique("user"), roles=())


@pytest.mark.parametrize(("route", "fn"), ROUTES, ids=ROUTE_IDS)
def test_a_token_without_the_routes_scope_gets_403(
    route: Route, fn: Function, scoped_tenant: Caller, dynamodb: Any
) -> None:
    CASES["matrix"] += 1
    scope = FIELD_SCOPES[(route.method, route.full_path)] if route.field_scopes else route.scope
    assert scope is not None
    others = tuple(sorted(ALL_SCOPES - {scope}))
    caller = Caller(
        scoped_tenant.backend, scoped_tenant.keys, scoped_tenant.tenant, unique("user"), others, ()
    )
    stores = [name for name in ALL_STORES if name not in GUARD_STORES]
    before = snapshot(dynamodb, caller.tenant, stores)
    answer = send(caller, route)
    if route.field_scopes:  # GraphQL: the field is an error with REST's problem code, the rest stands
        assert answer.status == 200, answer.body
        (error,) = answer.json()["errors"]
        assert error["extensions"] == {"code": "insufficient_scope", "status": 403, "required_scope": scope}
    else:
        document = problem(answer, 403, "insufficient_scope", allowed={"required_scope"})
        assert document["required_scope"] == scope
    assert snapshot(dynamodb, caller.tenant, stores) == before


# -- a tenant this region does not know --------------------------------------------------------


@pytest.mark.parametrize(("route", "fn"), ROUTES, ids=ROUTE_IDS)
def test_a_token_of_a_tenant_not_provisioned_here_gets_403(
    route: Route, fn: Function, backend: LocalBackend, keys: DevKeys, dynamodb: Any
) -> None:
    """A valid token naming a tenant with no record in this region: refused before any counter or
    data is touched (only the audit trail records a refused mutation)."""
    CASES["matrix"] += 1
    stranger = Caller(backend, keys, unique("sec-stranger"), unique("admin"), roles=("admin",))
    problem(send(stranger, route), 403, "tenant_unknown")
    for store in DATA_STORES:
        if store != "audit":
            assert partition(dynamodb, store, stranger.tenant) == [], f"left items in {store}"


# -- resources of each kind the routes' parameters name --------------------------------------------


def _view(caller: Caller, dynamodb: Any, label: str) -> str:
    created = caller.call("POST", "/service/gui/preferences/views", body={"name": label, "module": "jobs"})
    assert created.status == 201, created.body
    return str(created.json()["id"])


def _job(caller: Caller, dynamodb: Any, label: str) -> str:
    created = caller.call("POST", "/service/gui/jobs/reindex", body={"index": "search"})
    assert created.status == 201, created.body
    return str(created.json()["id"])


def _notification(caller: Caller, dynamodb: Any, label: str) -> str:
    """Notifications come from domain events, not from the API: written as the inbox writer does."""
    from gui_core.dynamo import Table
    from gui_notifications.repository import InboxRepository

    inbox = InboxRepository(Table(table("inbox"), dynamodb), retention_days=90)
    note_id = f"n{int(time.time() * 1000):012x}{uuid.uuid4().hex[:8]}"
    note = {"id": note_id, "category": "job", "severity": "info", "title": label, "audience": "*"}
    assert inbox.append(caller.tenant, note)
    return note_id


def _artifact(caller: Caller, dynamodb: Any, label: str) -> str:
    """Artifacts come from producers' events: the first of the local runtime's demo events (an
    artifact with no inputs) goes through the registry feed the event consumer runs."""
    from datetime import UTC, datetime

    from gui_artifacts.registry_feed import RegistryFeed
    from gui_artifacts.repository import ArtifactsRepository
    from gui_core.dynamo import Table
    from gui_core.tenancy import Tenant
    from local.demo import DemoTenant, DemoUser
    from local.demo_artifacts import demo_artifact_events

    class HomedHere:
        def get(self, tenant_id: str) -> Tenant:
            return Tenant(tenant_id, tenant_id, HOME)

    users = (
        DemoUser(caller.subject, roles=("admin",)),
        DemoUser(f"{caller.subject}-op", roles=("operator",)),
    )
    demo = DemoTenant(caller.tenant, label, HOME, "standard", "en-GB", users=users)
    event = demo_artifact_events(demo, datetime.now(UTC))[0]
    feed = RegistryFeed(HOME, HomedHere(), ArtifactsRepository(Table(table("artifacts"), dynamodb)))
    assert feed.handle(event) == "applied"
    return str(event["detail"]["artifact_id"])


# kind -> how a caller gets one in its own tenant (`label` is a name or title it may carry).
RESOURCES: dict[str, Callable[[Caller, Any, str], str]] = {
    "view": _view,
    "job": _job,
    "notification": _notification,
    "artifact": _artifact,
}


def _resource(kind: str, caller: Caller, dynamodb: Any, label: str) -> str:
    assert kind in RESOURCES, f"add to RESOURCES how to create a {kind!r}"
    return RESOURCES[kind](caller, dynamodb, label)


# -- another tenant's token ---------------------------------------------------------------------


class Victim:
    """Tenant A with data in every store the routes reach, one resource of each kind the routes'
    parameters name, and the strings that must never leak."""

    def __init__(
        self, admin: Caller, resources: dict[str, str], markers: list[str], stored: dict[str, Any]
    ) -> None:
        self.admin = admin
        self.resources = resources  # kind -> id
        self.markers = markers
        self.stored = stored  # every store's items of the tenant, once they stopped changing


@pytest.fixture(scope="module")
def victim(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> Victim:
    tenant = unique("sec-victim")
    provision(dynamodb, tenant)
    admin = Caller(backend, keys, tenant, unique("owner"), roles=("admin",))
    secret = unique("victim-secret")
    prefs = "/service/gui/preferences"
    policy = {"defaults": {"pinned_dashboards": [secret[:60]]}, "locked_keys": []}
    assert admin.call("PUT", f"{prefs}/tenant", body=policy, headers={"If-Match": "*"}).status == 200
    assert admin.call("PUT", prefs, body={"theme": "dark"}, headers={"If-Match": "*"}).status == 200
    private = admin.call("POST", f"{prefs}/views", body={"name": secret, "module": "coverage"})
    assert private.status == 201, private.body
    shared = {"name": f"{secret}-shared", "module": "coverage", "visibility": "tenant"}
    assert admin.call("POST", f"{prefs}/views", body=shared).status == 201
    flags = admin.call(
        "PUT", "/service/gui/admin/tenant/flags", body={"flags": {"search": False}}, headers={"If-Match": "*"}
    )
    assert flags.status == 200, flags.body
    kinds = {kind for route, _ in ROUTES for kind in owned_parameters(route).values()}
    resources = {kind: _resource(kind, admin, dynamodb, f"{secret}-{kind}") for kind in sorted(kinds)}
    resources["view"] = private.json()["id"]  # the private one: visible to its owner only
    return Victim(admin, resources, [tenant, secret, admin.subject], _settle(dynamodb, tenant))


def _jobs_ended(stores: dict[str, Any]) -> bool:
    return all(
        item.get("status", {}).get("S") in JOB_TERMINAL
        for item in stores.get("jobs", [])
        if item.get("kind", {}).get("S") == "job"
    )


def _settle(dynamodb: Any, tenant: str, *, quiet_s: float = 3.0, timeout_s: float = 90.0) -> dict[str, Any]:
    """Wait until the tenant's jobs have ended and then nothing changes in its stores for `quiet_s`:
    a job started above is run by the local executor (a few steps, then a notification), and A's
    data must be still before B aims at it, or the comparison would see the executor's changes. The
    end of the jobs is the condition (a loaded machine may deliver a step later than any quiet
    period); the quiet period covers what follows the last step (the fan-out's inbox item)."""
    deadline = time.monotonic() + timeout_s
    last, quiet_since = snapshot(dynamodb, tenant, ALL_STORES), time.monotonic()
    while not _jobs_ended(last) or time.monotonic() - quiet_since < quiet_s:
        assert time.monotonic() < deadline, f"the stores of {tenant} kept changing for {timeout_s:.0f} s"
        time.sleep(0.25)
        current = snapshot(dynamodb, tenant, ALL_STORES)
        if current != last:
            last, quiet_since = current, time.monotonic()
    return last


@pytest.mark.parametrize(("route", "fn"), ROUTES, ids=ROUTE_IDS)
def test_another_tenants_token_neither_sees_nor_changes_the_tenants_data(
    route: Route, fn: Function, victim: Victim, tenant_admin: Caller, dynamodb: Any
) -> None:
    """Tenant B (every scope) aims each route at tenant A's resources: an id of A's answers 404 as a
    missing one would; any other route serves B's own partition. A's items stay as they were."""
    CASES["matrix"] += 1
    owned = owned_parameters(route)
    values = {name: victim.resources[kind] for name, kind in owned.items()}
    answer = send(tenant_admin, route, **values)
    if owned:
        problem(answer, 404, "not_found")
    else:
        assert 200 <= answer.status < 300, (answer.status, answer.body[:300])
        json_answer = "json" in (answer.header("content-type") or "")  # not the SSE route's
        if (
            json_answer
            and answer.body
            and isinstance(document := answer.json(), dict)
            and "tenant" in document
        ):
            assert document["tenant"] == tenant_admin.tenant
    assert_no_marker(answer, victim.markers)
    assert snapshot(dynamodb, victim.admin.tenant, ALL_STORES) == victim.stored


# -- a tenant homed in the other region ------------------------------------------------------------


@pytest.fixture
def foreign(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> Caller:
    """A tenant whose record is in this region's store but whose home is the other region (one per
    test, so what a route wrote is told apart from what another wrote)."""
    tenant = unique("sec-foreign")
    provision(dynamodb, tenant, home_region=OTHER)
    return Caller(backend, keys, tenant, unique("admin"), roles=("admin",))


@pytest.mark.parametrize(("route", "fn"), ROUTES, ids=ROUTE_IDS)
def test_a_tenant_homed_in_the_other_region_is_sent_there_and_nothing_is_written(
    route: Route, fn: Function, foreign: Caller, backend: LocalBackend, dynamodb_in: Any
) -> None:
    CASES["matrix"] += 1
    path = route_path(route, {"tenant": foreign.tenant})
    answer = send(foreign, route)
    document = problem(answer, 421, "wrong_region", allowed={"home_region"})
    assert document["home_region"] == OTHER
    query = urlencode(parse_qsl(QUERIES.get((route.method, route.full_path), "")))  # kept, re-encoded
    location = f"{backend.base_urls[OTHER]}{path}" + (f"?{query}" if query else "")
    assert answer.header("location") == location, answer.headers
    for region in (HOME, OTHER):
        for store in DATA_STORES:
            items = partition(dynamodb_in(region), store, foreign.tenant)
            assert items == [], f"{route.method} {path} wrote {len(items)} item(s) to {store} in {region}"


# -- the control: a valid token of the home tenant reaches every route ---------------------------


# Routes whose own rules refuse the control's request (its resource is fresh): the route's own
# answer still shows the request went through every check.
CONTROL_REFUSALS: dict[tuple[str, str], tuple[int, str, set[str]]] = {
    ("PATCH", "/service/gui/jobs/{id}/retry"): (409, "invalid_transition", {"job_status"}),  # queued
}


# Kinds no route changes: the control seeds one per module instead of one per route (artifacts
# are a graph of events, slow to apply).
READ_ONLY_KINDS = frozenset({"artifact"})


class Control:
    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.seeded: dict[str, str] = {}

    def resource(self, kind: str, dynamodb: Any) -> str:
        if kind not in READ_ONLY_KINDS:
            return _resource(kind, self.caller, dynamodb, unique("mine"))
        if kind not in self.seeded:
            self.seeded[kind] = _resource(kind, self.caller, dynamodb, unique("mine"))
        return self.seeded[kind]


@pytest.fixture(scope="module")
def control(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> Control:
    tenant = unique("sec-control")
    provision(dynamodb, tenant, rate_limits=dict.fromkeys(DEFAULT_LIMITS, 10_000))
    return Control(Caller(backend, keys, tenant, unique("admin"), ("gui:license:restricted",), ("admin",)))


@pytest.mark.parametrize(("route", "fn"), ROUTES, ids=ROUTE_IDS)
def test_a_valid_token_reaches_every_route_through_the_guard(
    route: Route, fn: Function, control: Control, dynamodb: Any
) -> None:
    """Without this the refusals above could come from a broken route rather than from the checks."""
    CASES["matrix"] += 1
    values = {name: control.resource(kind, dynamodb) for name, kind in owned_parameters(route).items()}
    answer = send(control.caller, route, **values)
    expected = CONTROL_REFUSALS.get((route.method, route.full_path))
    if expected is None:
        assert 200 <= answer.status < 300, (answer.status, answer.body[:300])
    else:
        status, code, extensions = expected
        problem(answer, status, code, allowed=extensions)
    assert answer.header("x-ratelimit-limit"), "the guard's rate limiter did not run"
    for header in SECURITY_HEADERS:
        assert answer.header(header), f"missing {header}"
