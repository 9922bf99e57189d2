"""Contract tests drive the real gateway path in-process: the real authorizer with real tokens, the
real preferences handler with API Gateway events, against moto's server over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from gui_core.dynamo import to_dynamo
from local.apigw import HttpRequest
from local.gateway import HttpResponse
from local.keys import DevKeys
from local.runtime import LocalBackend
from stacks.manifest import MANIFEST

REGION = "eu-west-1"
_subjects = itertools.count()


@contextlib.contextmanager
def group_backend(
    tmp_path_factory: pytest.TempPathFactory, *functions: str, **options: Any
) -> Iterator[LocalBackend]:
    """A backend with only these functions (and the rules that feed them), nothing moving on its own:
    no TTL sweeps, no bus deliveries unless a test pumps them; `options`: LocalBackend's others."""
    with LocalBackend(
        regions=(REGION,),
        port=0,
        seed=False,
        keys_dir=tmp_path_factory.mktemp("keys"),
        ttl_sweep_s=None,
        bus_poll_s=None,
        manifest=MANIFEST.only(*functions),
        **options,
    ) as running:
        yield running


def aws(backend: LocalBackend, service: str) -> Any:
    """A boto3 client of `service` on the backend's AWS endpoint."""
    return boto3.client(
        service,
        endpoint_url=backend.aws_endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",  # the operator's dummy key (local/iam.py)
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="package")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    keys_dir: Path = tmp_path_factory.mktemp("keys")
    with LocalBackend(
        regions=(REGION,), port=0, seed=False, keys_dir=keys_dir, ttl_sweep_s=None, bus_poll_s=None
    ) as running:
        yield running


@pytest.fixture(scope="package")
def keys(backend: LocalBackend) -> DevKeys:
    assert backend.keys is not None
    return backend.keys


@dataclass
class Client:
    """Calls the regional gateway as one user; `tenant`/`subject` are fresh per test by default."""

    backend: LocalBackend
    keys: DevKeys
    tenant: str
    subject: str
    scopes: tuple[str, ...] = ("gui:preferences",)
    roles: tuple[str, ...] = ()

    def token(self) -> str:
        return self.keys.mint(tenant=self.tenant, subject=self.subject, scopes=self.scopes, roles=self.roles)

    def as_user(self, subject: str, *scopes: str, roles: tuple[str, ...] = ()) -> Client:
        return Client(self.backend, self.keys, self.tenant, subject, scopes or ("gui:preferences",), roles)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
        token: str | None = "mint",
    ) -> HttpResponse:
        sent = [("Content-Type", "application/json"), ("Accept", "application/json")]
        if token == "mint":
            sent.append(("Authorization", f"Bearer {self.token()}"))
        elif token is not None:
            sent.append(("Authorization", token))
        sent += list((headers or {}).items())
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        request = HttpRequest(method, f"/service/gui{path}", headers=tuple(sent), query=query, body=payload)
        return asyncio.run(self.backend.gateways[REGION].invoke(request))


def provision(dynamodb: Any, tenant: str, *, home_region: str = REGION, **attributes: Any) -> None:
    """Write a tenant record into the region's tenants store, as provisioning would."""
    item = {"pk": tenant, "sk": "tenant", "name": tenant, "home_region": home_region, **attributes}
    dynamodb.put_item(TableName=table("tenants"), Item=to_dynamo(item))


@pytest.fixture
def client(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> Client:
    n = next(_subjects)
    provision(dynamodb, f"tenant-{n}")
    provision(dynamodb, f"tenant-{n}-other")
    return Client(backend, keys, tenant=f"tenant-{n}", subject=f"user-{n}")


@pytest.fixture
def admin(client: Client) -> Client:
    return client.as_user(f"{client.subject}-admin", roles=("admin",))


@pytest.fixture
def dynamodb(backend: LocalBackend) -> Any:
    return aws(backend, "dynamodb")


def table(name: str) -> str:
    return MANIFEST.store(name).local_table_name()


def problem(response: HttpResponse, status: int, code: str) -> dict[str, Any]:
    """Assert `response` is a problem document with this status and code; return it."""
    assert response.status == status, (response.status, response.body[:500])
    assert response.header("content-type") == "application/problem+json"
    document: dict[str, Any] = response.json()
    assert document["code"] == code, document
    assert document["type"] == f"urn:domaindetermine:gui:problem:{code}"
    assert document["title"]
    assert document.get("status", status) == status
    return document
