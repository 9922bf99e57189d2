"""Helpers of the security suite: a caller of the local gateways, hand-made tokens, store probes,
the problem-document assertion and the case counters the suite prints at the end."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib
import json
import os
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from unittest import mock
from urllib.parse import quote

from gui_core.dynamo import to_dynamo
from gui_core.errors import PROBLEM_CONTENT_TYPE, problem_type
from gui_core.settings import ApiSettings
from local.apigw import HttpRequest
from stacks.manifest import MANIFEST, Function, Route

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from fastapi import FastAPI

    from local.gateway import HttpResponse
    from local.keys import DevKeys
    from local.runtime import LocalBackend

HOME = "eu-west-1"  # the region every test calls, unless it says otherwise
OTHER = "us-east-1"
REGIONS = (HOME, OTHER)

# Run counts by kind, printed by the conftest's terminal summary ("security matrix: N cases").
CASES: Counter[str] = Counter()
FUZZED_OPERATIONS: set[str] = set()  # operations schemathesis sent cases to
FAILED_OPERATIONS: set[str] = set()  # ... and those where one of them failed
EXCUSED_BY_RULE: Counter[str] = Counter()  # cases a named rule of the fuzzing excused (test_fuzz.RULES)

# What a problem answer may hold: the RFC 9457 members, our code and ids; a test names the
# extensions that explain its refusal (`problem(..., allowed=...)`). Anything else would be data.
PROBLEM_MEMBERS = frozenset({"type", "title", "status", "code", "detail", "instance", "request_id"})
SECURITY_HEADERS = (
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "content-security-policy",
    "referrer-policy",
    "cache-control",
)


def unique(prefix: str) -> str:
    """A name no other test (nor another suite sharing moto's state in this process) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def table(store: str) -> str:
    return MANIFEST.store(store).local_table_name()


def provision(dynamodb: Any, tenant: str, *, home_region: str = HOME, **attributes: Any) -> None:
    """Write a tenant record into one region's tenants store, as provisioning would."""
    item = {
        "pk": tenant,
        "sk": "tenant",
        "name": tenant,
        "home_region": home_region,
        "plan": "standard",
        "flags": {},
        "rate_limits": {},
        "license_policy": {"restricted_fields": [], "tag": f"{tenant}-license"},
        **attributes,
    }
    dynamodb.put_item(TableName=table("tenants"), Item=to_dynamo(item))


def partition(dynamodb: Any, store: str, tenant: str) -> list[dict[str, Any]]:
    """Every item of `tenant` in `store` (every store key begins with the tenant)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "TableName": table(store),
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": MANIFEST.store(store).partition_key.name},
        "ExpressionAttributeValues": {":p": {"S": tenant}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.query(**params)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: json.dumps(i, sort_keys=True))
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def snapshot(dynamodb: Any, tenant: str, stores: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    return {store: partition(dynamodb, store, tenant) for store in stores}


# -- the routes, and a request to each that only the check under test can refuse ----------

ROUTES: list[tuple[Route, Function]] = MANIFEST.routes()
ROUTE_IDS = [f"{route.method} {route.full_path}" for route, _ in ROUTES]
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

PREFERENCES_PATH = "/service/gui/preferences"
VIEW_PATH = f"{PREFERENCES_PATH}/views/{{view_id}}"
JOBS_PATH = "/service/gui/jobs"
NOTIFICATIONS_PATH = "/service/gui/notifications"
STREAM_PATH = "/service/gui/stream/{channel}/{tenant}"
ARTIFACT_PATHS = ("/service/gui/artifacts/{id}", "/service/gui/artifacts/{id}/lineage")

# What a request to each route needs so that only the check under test can refuse it. A route
# added to the manifest without its entries fails its cases with a message naming the table.
#
# BODIES: a valid body for each POST, PUT and PATCH (None: the route takes none), so no case is
# answered 422 before the check under test.
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", PREFERENCES_PATH): {"theme": "dark", "density": "compact"},
    ("POST", f"{PREFERENCES_PATH}/views"): {
        "name": "Matrix view",
        "module": "coverage",
        "filters": {"status": ["active"]},
    },
    ("PUT", VIEW_PATH): {"name": "Matrix view (renamed)", "module": "coverage"},
    ("PUT", f"{PREFERENCES_PATH}/tenant"): {"defaults": {"theme": "light"}, "locked_keys": ["density"]},
    ("PUT", "/service/gui/admin/tenant/flags"): {"flags": {"search": True}},
    ("POST", f"{JOBS_PATH}/{{id}}"): {"index": "search"},  # the parameters of the `reindex` verb
    ("PATCH", f"{JOBS_PATH}/{{id}}/retry"): None,
    ("PATCH", f"{JOBS_PATH}/{{id}}/cancel"): None,
    ("POST", f"{NOTIFICATIONS_PATH}/read-all"): None,
    ("POST", f"{NOTIFICATIONS_PATH}/{{id}}/{{command}}"): {},
    # The channel whose scope the manifest names for the route.
    ("POST", "/service/gui/live/tickets"): {"channels": ["notifications"]},
    # A mutation (replayable, audited) whose field demands `FIELD_SCOPES`' scope.
    ("POST", "/service/gui/graphql"): {"query": "mutation { read_all_notifications { marked } }"},
}
# QUERIES: the query string of a route that needs one to be answered 2xx.
QUERIES: dict[tuple[str, str], str] = {
    ("GET", "/service/gui/graphql"): "query=" + quote("{ notifications(first: 1) { nodes { id } } }"),
}
# FIELD_SCOPES: the scope the fields of BODIES' / QUERIES' document demand, for routes whose scope
# is each field's (`Route.field_scopes`): without it, the field is an error and the rest stands.
FIELD_SCOPES: dict[tuple[str, str], str] = {
    ("POST", "/service/gui/graphql"): "gui:notifications",
    ("GET", "/service/gui/graphql"): "gui:notifications",
}
NO_BODY = frozenset({"GET", "DELETE"})
# PARAMETERS: each path parameter of each route, (method, path, name) -> (a harmless value, the kind
# of resource of the tenant it names, or None when it names none). Another tenant's resource of that
# kind there must be answered as a missing one would be (404); the matrix creates one of each kind.
PARAMETERS: dict[tuple[str, str, str], tuple[str, str | None]] = {
    **{
        (method, VIEW_PATH, "view_id"): ("0000000000000000000000", "view")
        for method in ("GET", "PUT", "DELETE")
    },
    ("DELETE", f"{PREFERENCES_PATH}/users/{{subject}}", "subject"): ("matrix-user", None),
    ("POST", f"{JOBS_PATH}/{{id}}", "id"): ("reindex", None),  # the verb
    **{
        (method, path, "id"): ("000000000000aaaaaaaaaa", "job")
        for method, path in (
            ("GET", f"{JOBS_PATH}/{{id}}"),
            ("PATCH", f"{JOBS_PATH}/{{id}}/retry"),
            ("PATCH", f"{JOBS_PATH}/{{id}}/cancel"),
        )
    },
    ("GET", f"{NOTIFICATIONS_PATH}/{{id}}", "id"): ("n000000000000aaaa", "notification"),
    ("POST", f"{NOTIFICATIONS_PATH}/{{id}}/{{command}}", "id"): ("n000000000000aaaa", "notification"),
    ("POST", f"{NOTIFICATIONS_PATH}/{{id}}/{{command}}", "command"): ("read", None),
    **{("GET", path, "id"): ("matrix-artifact", "artifact") for path in ARTIFACT_PATHS},
    ("GET", "/service/gui/metrics/{module}", "module"): ("coverage", None),
    # The channel whose scope the manifest names for the route; the tenant is the caller's (`send`).
    ("GET", STREAM_PATH, "channel"): ("notifications", None),
    ("GET", STREAM_PATH, "tenant"): ("matrix-tenant", None),
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")

# Every store; and those where a tenant's items appear only by its requests (its record aside).
ALL_STORES = tuple(store.name for store in MANIFEST.stores)
DATA_STORES = tuple(name for name in ALL_STORES if name != "tenants")
# What the guard and the audit middleware write for a request that passes the token and the
# residency checks, before a route's scope is checked.
GUARD_STORES = frozenset({"limits", "audit"})


def shape(path: str) -> str:
    """A path template with its parameters unnamed: API Gateway names a parameter once per
    resource level (`/jobs/{id}`), an app may name it per route (`/jobs/{verb}`, `/jobs/{job_id}`)."""
    return PLACEHOLDER.sub("{}", path)


def placeholders(route: Route) -> list[str]:
    return PLACEHOLDER.findall(route.full_path)


def parameter(route: Route, name: str) -> tuple[str, str | None]:
    key = (route.method, route.full_path, name)
    assert key in PARAMETERS, f"{route.method} {route.full_path}: add {name!r} to PARAMETERS"
    return PARAMETERS[key]


def owned_parameters(route: Route) -> dict[str, str]:
    """The route's path parameters that name a resource of the tenant, with its kind."""
    return {name: kind for name in placeholders(route) if (kind := parameter(route, name)[1]) is not None}


def route_path(route: Route, values: Mapping[str, str] | None = None) -> str:
    given = dict(values or {})
    return PLACEHOLDER.sub(
        lambda m: given.get(m.group(1)) or parameter(route, m.group(1))[0], route.full_path
    )


def route_body(route: Route) -> Any:
    if route.method in NO_BODY:
        return None
    key = (route.method, route.full_path)
    assert key in BODIES, f"{route.method} {route.full_path}: add a valid body to BODIES"
    return BODIES[key]


def route_headers(route: Route) -> dict[str, str]:
    # `*` satisfies the routes that demand If-Match and is harmless on the others.
    return {"If-Match": "*"} if route.method in MUTATING else {}


def send(caller: Caller, route: Route, *, authorization: str | None = "mint", **values: str) -> HttpResponse:
    """One request to `route` as `caller`; a `{tenant}` in the path is the caller's."""
    return caller.call(
        route.method,
        route_path(route, {"tenant": caller.tenant, **values}),
        body=route_body(route),
        headers=route_headers(route),
        query=QUERIES.get((route.method, route.full_path), ""),
        authorization=authorization,
    )


# -- the apps ---------------------------------------------------------------------------------

ROUTED_FUNCTIONS = [fn for fn in MANIFEST.functions if fn.routes]


def _settings_class(fn: Function) -> type[ApiSettings]:
    module = importlib.import_module(f"{fn.package}.settings")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, ApiSettings) and value.__module__ == module.__name__
    ]
    assert len(found) == 1, f"{module.__name__} should define one ApiSettings subclass, found {found}"
    return found[0]


def build_app(fn: Function) -> FastAPI:
    """`fn`'s app as its handler builds it, from settings read out of the environment its stack
    gives it (set for the moment of the build only)."""
    environment = MANIFEST.environment_for(
        fn,
        table_names={store.name: store.local_table_name() for store in MANIFEST.stores},
        bucket_name="bucket",
        bus_name="bus",
        region=HOME,
        stage="test",
        region_urls={HOME: "https://home.example", OTHER: "https://other.example"},
        secret_arns={
            name: f"arn:aws:secretsmanager:{HOME}:123456789012:secret:{name}" for name in fn.secrets
        },
    )
    with mock.patch.dict(os.environ, environment):
        create_app: Callable[..., FastAPI] = importlib.import_module(f"{fn.package}.app").create_app
        return create_app(_settings_class(fn)())


# -- tokens -----------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segment(document: Mapping[str, Any]) -> str:
    return b64url(json.dumps(document, separators=(",", ":")).encode())


def valid_claims(keys: DevKeys, *, tenant: str, subject: str, scopes: Iterable[str] = ()) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": keys.issuer,
        "aud": keys.audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
        "tenant": tenant,
        "scope": " ".join(scopes),
        "roles": [],
    }


def unsigned_token(keys: DevKeys, claims: Mapping[str, Any]) -> str:
    """`alg: none` with the trusted key id and an empty signature."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': keys.kid})}.{_segment(claims)}."


def hs256_with_public_key(keys: DevKeys, claims: Mapping[str, Any]) -> str:
    """The algorithm-confusion token: HS256, the trusted key id, and the public key's PEM bytes as
    the HMAC secret (built by hand: PyJWT refuses to use a PEM as an HMAC key)."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': keys.kid})}.{_segment(claims)}"
    signature = hmac.new(keys.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


# -- calling the gateways ---------------------------------------------------------------------


@dataclass
class Caller:
    """One user of one tenant, calling a regional gateway in-process (`RegionalGateway.invoke`:
    the same path a request over HTTP takes once uvicorn has read it)."""

    backend: LocalBackend
    keys: DevKeys
    tenant: str
    subject: str
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("admin",)
    extra_claims: dict[str, Any] = field(default_factory=dict)

    def token(self, **extra_claims: Any) -> str:
        return self.keys.mint(
            tenant=self.tenant,
            subject=self.subject,
            scopes=self.scopes,
            roles=self.roles,
            extra_claims={**self.extra_claims, **extra_claims} or None,
        )

    def as_user(
        self, subject: str, *, scopes: tuple[str, ...] = (), roles: tuple[str, ...] = ("admin",)
    ) -> Caller:
        return Caller(self.backend, self.keys, self.tenant, subject, scopes, roles)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        query: str = "",
        authorization: str | None = "mint",
        region: str = HOME,
        content_type: str | None = "application/json",
    ) -> HttpResponse:
        """`path` is the full path (`/service/gui/...`); `authorization` is the header's value,
        "mint" for a fresh token of this user, or None for no header (every route takes the header;
        the SSE route also takes a stream ticket, which the streaming suite covers); `content_type`
        None sends no Content-Type."""
        sent: list[tuple[str, str]] = [("Accept", "application/json")]
        if content_type is not None:
            sent.append(("Content-Type", content_type))
        if authorization == "mint":
            sent.append(("Authorization", f"Bearer {self.token()}"))
        elif authorization is not None:
            sent.append(("Authorization", authorization))
        if headers:
            sent += list(headers.items()) if hasattr(headers, "items") else list(headers)
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        request = HttpRequest(method, path, headers=tuple(sent), query=query, body=payload)
        return asyncio.run(self.backend.gateways[region].invoke(request))


def problem(response: HttpResponse, status: int, code: str, *, allowed: Iterable[str] = ()) -> dict[str, Any]:
    """Assert `response` is a problem document with this status and code, holding no member but
    the problem's own and the `allowed` extensions (so no data); return it."""
    assert response.status == status, (response.status, response.body[:500])
    assert response.header("content-type") == PROBLEM_CONTENT_TYPE, response.headers
    document: dict[str, Any] = response.json()
    assert document["code"] == code, document
    assert document["type"] == problem_type(code)
    assert document["title"]
    assert document.get("status", status) == status
    extra = set(document) - PROBLEM_MEMBERS - set(allowed)
    assert not extra, f"the refusal carries more than a problem: {sorted(extra)} in {document}"
    return document


def assert_no_marker(response: HttpResponse, markers: Iterable[str]) -> None:
    text = response.body.decode(errors="replace")
    for marker in markers:
        assert marker not in text, f"{marker!r} leaked into {text[:500]}"
