"""Integration tests: the whole local runtime on loopback, driven over real HTTP.

moto's server is started here, on a free loopback port (or, with `AWS_ENDPOINT_URL` or
`LOCALSTACK_HOST` set, the LocalStack they name: tests/aws_endpoint.py); the backend creates the
manifest's resources in it for both regions, seeds the demo tenants and serves one gateway per
region on free ports. Tests read what the API wrote straight from the local DynamoDB with boto3.

The suite's tests share that endpoint: they write under fresh subjects and tenants and read back
by key, never assuming a store is empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from local.demo import mint_for
from local.keys import DevKeys
from local.runtime import LocalBackend
from tests.aws_endpoint import aws_endpoint

from .support import demo_tenant, demo_user, fresh_subject


@pytest.fixture(scope="package")
def moto_endpoint() -> Iterator[str]:
    """moto's server, or the LocalStack the environment names (tests/aws_endpoint.py)."""
    with aws_endpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="package")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dev-keys")


@pytest.fixture(scope="package")
def local_backend(moto_endpoint: str, keys_dir: Path) -> Iterator[LocalBackend]:
    # No periodic TTL sweep: moto state is shared by the whole pytest process, and a sweep would
    # delete what other suites write with an expiry in the past (pinned clocks). Tests that need
    # expiry call `sweep_now`, or start a backend of their own.
    with LocalBackend(port=0, aws_endpoint_url=moto_endpoint, keys_dir=keys_dir, ttl_sweep_s=None) as backend:
        yield backend


@pytest.fixture(scope="package")
def dev_keys(local_backend: LocalBackend) -> DevKeys:
    assert local_backend.keys is not None
    return local_backend.keys


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
def url(local_backend: LocalBackend) -> Callable[[str, str], str]:
    def build(region: str, path: str) -> str:
        return f"{local_backend.base_urls[region]}{path}"

    return build


@pytest.fixture(scope="package")
def dynamodb(local_backend: LocalBackend) -> Callable[[str], Any]:
    def client(region: str) -> Any:
        return boto3.client(
            "dynamodb",
            endpoint_url=local_backend.aws_endpoint_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


@pytest.fixture
def bearer(dev_keys: DevKeys) -> Callable[..., dict[str, str]]:
    """Authorization header of a demo user (`name`), or of `subject` holding `roles`."""

    def header(
        tenant: str,
        name: str | None = None,
        *,
        subject: str | None = None,
        roles: tuple[str, ...] = ("viewer",),
    ) -> dict[str, str]:
        if name is not None:
            token = mint_for(dev_keys, demo_tenant(tenant), demo_user(tenant, name))
        else:
            token = dev_keys.mint(tenant=tenant, subject=subject or fresh_subject(tenant), roles=roles)
        return {"Authorization": f"Bearer {token}"}

    return header
