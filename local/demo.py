"""Demo data of the local runtime: two tenants homed in two regions, their users, their preferences.

Tenant records go straight into the tenants stores (no API creates a tenant): the full record in
the home region, and in every other region a directory stub (name and home region only) so that a
region can tell a foreign tenant where it lives (421 with the home region's URL). Preferences go
through the real REST routes with tokens of the demo admins, so the seed also exercises the
gateway, the authorizer and the preferences function on every start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gui_core import rbac
from gui_core.dynamo import to_dynamo
from local.apigw import HttpRequest
from local.aws import aws_client

if TYPE_CHECKING:
    from local.gateway import HttpResponse, RegionalGateway
    from local.keys import DevKeys
    from stacks.manifest import Manifest

TENANT_SK = "tenant"


@dataclass(frozen=True)
class DemoUser:
    subject: str
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class DemoTenant:
    tenant: str
    name: str
    home_region: str
    plan: str
    locale: str
    flags: dict[str, bool] = field(default_factory=dict)
    license_policy: dict[str, Any] = field(default_factory=dict)
    users: tuple[DemoUser, ...] = ()

    @property
    def admin(self) -> DemoUser:
        return next(u for u in self.users if "admin" in u.roles)

    def item(self) -> dict[str, Any]:
        return tenant_record(
            self.tenant,
            name=self.name,
            home_region=self.home_region,
            plan=self.plan,
            flags=self.flags,
            license_policy=self.license_policy,
        )


def tenant_record(
    tenant: str,
    *,
    name: str,
    home_region: str,
    plan: str = "standard",
    flags: Mapping[str, bool] | None = None,
    rate_limits: Mapping[str, int] | None = None,
    license_policy: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The full tenant record, as its home region keeps it (read by `gui_core.tenancy.Tenant`)."""
    return {
        "pk": tenant,
        "sk": TENANT_SK,
        "name": name,
        "home_region": home_region,
        "plan": plan,
        "flags": dict(flags or {}),
        "rate_limits": dict(rate_limits or {}),
        "license_policy": dict(license_policy or {}),
    }


def tenant_stub(tenant: str, *, name: str, home_region: str) -> dict[str, Any]:
    """What another region keeps of a tenant: where it lives, nothing it may do or holds."""
    return {"pk": tenant, "sk": TENANT_SK, "name": name, "home_region": home_region}


def provision_tenant(
    manifest: Manifest,
    *,
    endpoint_url: str,
    region: str | Sequence[str],
    tenant: str,
    home_region: str,
    name: str | None = None,
    plan: str = "standard",
    flags: Mapping[str, bool] | None = None,
    rate_limits: Mapping[str, int] | None = None,
    license_policy: Mapping[str, Any] | None = None,
) -> None:
    """Write a tenant into the tenants store of `region` (one, or several): the full record where
    `region` is `home_region`, a directory stub (`tenant_stub`) anywhere else. Overwrites what the
    store had for the tenant, so a test can move a tenant or change its flags."""
    regions = (region,) if isinstance(region, str) else tuple(region)
    table = manifest.store("tenants").local_table_name()
    for target in regions:
        if target == home_region:
            item = tenant_record(
                tenant,
                name=name or tenant,
                home_region=home_region,
                plan=plan,
                flags=flags,
                rate_limits=rate_limits,
                license_policy=license_policy,
            )
        else:
            item = tenant_stub(tenant, name=name or tenant, home_region=home_region)
        dynamodb = aws_client("dynamodb", endpoint_url=endpoint_url, region=target)
        dynamodb.put_item(TableName=table, Item=to_dynamo(item))


def _users(tenant: str) -> tuple[DemoUser, ...]:
    return (
        DemoUser(f"ada@{tenant}", roles=("admin",), note="admin: every scope"),
        DemoUser(f"otto@{tenant}", roles=("operator",), note="operator: viewer scopes + gui:jobs"),
        DemoUser(f"vic@{tenant}", roles=("viewer",), note="viewer: read scopes + gui:preferences"),
        DemoUser(f"dana@{tenant}", scopes=(rbac.DASHBOARD,), note=f"{rbac.DASHBOARD} only"),
    )


TENANTS: tuple[DemoTenant, ...] = (
    DemoTenant(
        tenant="acme",
        name="Acme Corporation",
        home_region="eu-west-1",
        plan="enterprise",
        locale="en-GB",
        flags={"preferences": True, "search": True, "realtime": True},
        license_policy={"restricted_fields": ["source_text"], "license_tag": "acme-enterprise"},
        users=_users("acme"),
    ),
    DemoTenant(
        tenant="globex",
        name="Globex Inc.",
        home_region="us-east-1",
        plan="team",
        locale="en-US",
        flags={"preferences": True, "search": True, "realtime": False},
        license_policy={"restricted_fields": [], "license_tag": "globex-team"},
        users=_users("globex"),
    ),
)

PREFERENCES_PATH = "/service/gui/preferences"


def tenant_policy_body(tenant: DemoTenant) -> dict[str, Any]:
    return {
        "defaults": {
            "theme": "light",
            "locale": tenant.locale,
            "density": "comfortable",
            "default_filters": {"coverage": {"status": ["active"]}},
            "pinned_dashboards": ["overview"],
        },
        "locked_keys": ["density"],
    }


SHARED_VIEW_BODY: dict[str, Any] = {
    "name": "Active coverage",
    "module": "coverage",
    "filters": {"status": ["active"]},
    "sort": [{"field": "updated", "direction": "desc"}],
    "columns": ["title", "status", "updated"],
    "visibility": "tenant",
}


class SeedError(RuntimeError):
    """A seeding request got an answer the API should not give."""

    def __init__(self, what: str, answer: HttpResponse) -> None:
        super().__init__(f"{what}: HTTP {answer.status} {answer.body[:500].decode(errors='replace')}")
        self.answer = answer


def mint_for(keys: DevKeys, tenant: DemoTenant, user: DemoUser, *, ttl_s: int = 12 * 3600) -> str:
    return keys.mint(
        tenant=tenant.tenant, subject=user.subject, scopes=user.scopes, roles=user.roles, ttl_s=ttl_s
    )


def write_tenants(manifest: Manifest, *, endpoint_url: str, regions: tuple[str, ...]) -> None:
    """Each demo tenant's full record goes to its home region's tenants store, a stub to every
    other region's."""
    table = manifest.store("tenants").local_table_name()
    for region in regions:
        dynamodb = aws_client("dynamodb", endpoint_url=endpoint_url, region=region)
        for tenant in TENANTS:
            if tenant.home_region == region:
                item = tenant.item()
            else:
                item = tenant_stub(tenant.tenant, name=tenant.name, home_region=tenant.home_region)
            dynamodb.put_item(TableName=table, Item=to_dynamo(item))


async def seed_preferences(gateways: Mapping[str, RegionalGateway], keys: DevKeys) -> None:
    """Tenant defaults and policy, and a shared view, through each home region's REST API."""
    for tenant in TENANTS:
        gateway = gateways.get(tenant.home_region)
        if gateway is None:
            continue
        auth = ("Authorization", f"Bearer {mint_for(keys, tenant, tenant.admin, ttl_s=300)}")
        json_headers = (auth, ("Content-Type", "application/json"), ("Accept", "application/json"))

        current = await gateway.invoke(HttpRequest("GET", f"{PREFERENCES_PATH}/tenant", headers=(auth,)))
        if current.status != 200:
            raise SeedError(f"GET tenant policy of {tenant.tenant}", current)
        etag = current.header("etag") if current.json().get("version") else None
        put = await gateway.invoke(
            HttpRequest(
                "PUT",
                f"{PREFERENCES_PATH}/tenant",
                headers=(*json_headers, ("If-Match", etag or "*")),
                body=_json(tenant_policy_body(tenant)),
            )
        )
        if put.status != 200:
            raise SeedError(f"PUT tenant policy of {tenant.tenant}", put)

        view = await gateway.invoke(
            HttpRequest(
                "POST", f"{PREFERENCES_PATH}/views", headers=json_headers, body=_json(SHARED_VIEW_BODY)
            )
        )
        if view.status not in (201, 409):  # 409: seeded before (a persistent endpoint)
            raise SeedError(f"POST view of {tenant.tenant}", view)


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()
