"""Streaming tests: one local backend (eu-west-1 and us-east-1) on loopback for the whole suite, with
the bus relay and the Kinesis poller running on short intervals, driven by real clients (the
`websockets` client, httpx reading server-sent events).

moto keeps its state per process: every test works on tenants of its own (`fresh_tenant`) and reads
back by key, never assuming a store or the stream is empty.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gui_core.dynamo import Table
from local.keys import DevKeys
from local.runtime import LocalBackend
from tests.aws_endpoint import aws_endpoint

from .support import HOME, REGIONS, Events, fresh_subject, fresh_tenant, table

BUS_POLL_S = 0.1
STREAM_POLL_S = 0.1
# Names the Kinesis poller's interval may have among LocalBackend's parameters.
_STREAM_POLL_PARAMETERS = ("stream_poll_s", "kinesis_poll_s", "poller_poll_s", "fanout_poll_s")


def _backend_options() -> dict[str, Any]:
    accepted = inspect.signature(LocalBackend.__init__).parameters
    options: dict[str, Any] = {}
    for name in _STREAM_POLL_PARAMETERS:
        if name in accepted:
            options[name] = STREAM_POLL_S
    if "bus_poll_s" in accepted:
        options["bus_poll_s"] = BUS_POLL_S
    return options


@pytest.fixture(scope="package")
def moto_endpoint() -> Iterator[str]:
    """moto's server, or the LocalStack the environment names (tests/aws_endpoint.py)."""
    with aws_endpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="package")
def backend(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    keys_dir: Path = tmp_path_factory.mktemp("streaming-keys")
    with LocalBackend(
        regions=REGIONS,
        port=0,
        seed=False,  # every test provisions its own tenants
        aws_endpoint_url=moto_endpoint,
        keys_dir=keys_dir,
        ttl_sweep_s=None,
        **_backend_options(),
    ) as started:
        yield started


@pytest.fixture(scope="package")
def keys(backend: LocalBackend) -> DevKeys:
    assert backend.keys is not None
    return backend.keys


@pytest.fixture(scope="package")
def base(backend: LocalBackend) -> str:
    """The home region's gateway (http://127.0.0.1:<port>)."""
    return backend.base_urls[HOME]


@pytest.fixture(scope="package")
def events(backend: LocalBackend) -> Events:
    return Events(backend.aws_endpoint_url)


@pytest.fixture(scope="package")
def events_table(backend: LocalBackend) -> Table:
    return table("events", HOME, backend.aws_endpoint_url)


@pytest.fixture(scope="package")
def connections_table(backend: LocalBackend) -> Table:
    return table("connections", HOME, backend.aws_endpoint_url)


@pytest.fixture(scope="package")
def inbox_table(backend: LocalBackend) -> Table:
    return table("inbox", HOME, backend.aws_endpoint_url)


@pytest.fixture
def tenant(backend: LocalBackend) -> str:
    """A tenant of this test only, homed in eu-west-1, realtime on."""
    return fresh_tenant(backend.aws_endpoint_url)


@pytest.fixture
def mint(keys: DevKeys) -> Callable[..., str]:
    """A token of a fresh subject of `tenant`: `roles` (default operator: every channel's scope) or
    exactly `scopes`."""

    def token(
        tenant: str,
        *,
        roles: tuple[str, ...] = ("operator",),
        scopes: tuple[str, ...] | None = None,
        subject: str | None = None,
    ) -> str:
        return keys.mint(
            tenant=tenant,
            subject=subject or fresh_subject(tenant),
            roles=() if scopes is not None else roles,
            scopes=scopes or (),
        )

    return token
