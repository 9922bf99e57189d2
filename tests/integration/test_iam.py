"""IAM as AWS enforces it, in the local runtime (local/iam.py): every function calls AWS with its
own role's credentials, whose grants are its deployed role's (tests/stacks/test_grants.py), and a
call the role does not allow fails as it would in AWS, both in moto (the action) and in the
runtime's check of every call (action, resource ARN and conditions)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from local.runtime import LocalBackend
from stacks.manifest import MANIFEST, Access, Manifest

from .support import PREFERENCES, table

REGION = "eu-west-1"


def _function_client(backend: LocalBackend, function: str, service: str) -> Any:
    """A client signing with `function`'s credentials, from a session of its own (so without the
    runtime's call check: what it meets is moto's own enforcement)."""
    credentials = backend.credentials[(REGION, function)]
    return boto3.session.Session().client(
        service,
        region_name=REGION,
        endpoint_url=backend.aws_endpoint_url,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


def test_every_function_signs_with_a_role_of_its_own(local_backend: LocalBackend) -> None:
    keys = {
        name: credentials["AWS_ACCESS_KEY_ID"]
        for (region, name), credentials in local_backend.credentials.items()
        if region == REGION
    }
    assert set(keys) == {fn.name for fn in local_backend.manifest.all_functions()}
    assert len(set(keys.values())) == len(keys)
    assert all(key.startswith("ASIA") for key in keys.values())  # role sessions, not the operator's key


def test_requests_are_checked_under_the_calling_functions_role(
    local_backend: LocalBackend,
    http: httpx.Client,
    url: Callable[[str, str], str],
    bearer: Callable[..., dict[str, str]],
) -> None:
    assert local_backend.iam_check is not None
    before = len(local_backend.iam_check.calls)
    answer = http.get(url(REGION, PREFERENCES), headers=bearer("acme", "ada"))
    assert answer.status_code == 200, answer.text
    made = list(local_backend.iam_check.calls)[before:]
    preferences = [c for c in made if c.function == "gui_preferences"]
    assert preferences, "the preferences function made no checked call"
    assert all(c.allowed for c in preferences)
    assert {c.resource.rsplit("/", 1)[-1] for c in preferences} <= {
        table(name) for name in MANIFEST.function("gui_preferences").stores
    }


def test_moto_refuses_an_action_outside_the_role(local_backend: LocalBackend) -> None:
    dynamodb = _function_client(local_backend, "gui_artifacts", "dynamodb")
    # GIVEN the artifacts function, which may read its store
    dynamodb.get_item(TableName=table("artifacts"), Key={"pk": {"S": "t"}, "sk": {"S": "x"}})
    # WHEN it calls an action none of its grants names (moto checks actions; the runtime's call
    # check, which this client bypasses, checks resources) THEN moto refuses, as AWS would
    with pytest.raises(ClientError) as refused:
        dynamodb.scan(TableName=table("artifacts"))
    assert "AccessDenied" in str(refused.value)
    with pytest.raises(ClientError) as refused:
        _function_client(local_backend, "gui_artifacts", "s3").list_buckets()
    assert "AccessDenied" in str(refused.value)


def test_a_scheduled_run_may_list_the_tenants_it_serves(local_backend: LocalBackend) -> None:
    """Issue 12, #2: the telemetry aggregation and the index rebuild Scan the tenants store; their
    grant had no dynamodb:Scan, so every scheduled run would be denied."""
    for schedule in ("telemetry-aggregate", "index-rebuild"):
        local_backend.fire_schedule(schedule, REGION)
    assert local_backend.iam_check is not None
    scans = [c for c in local_backend.iam_check.calls if c.action == "dynamodb:Scan"]
    assert {c.function for c in scans} >= {"gui_telemetry", "gui_index_rebuild"}
    assert all(c.allowed for c in scans), [c for c in scans if not c.allowed]


def _without_write(manifest: Manifest, function: str, store: str) -> Manifest:
    """The app with one grant taken away: `function` may only read `store`."""
    fn = manifest.function(function)
    weaker = dataclasses.replace(fn, stores={**fn.stores, store: Access.READ})
    return dataclasses.replace(
        manifest, functions=tuple(weaker if f is fn else f for f in manifest.functions)
    )


@pytest.fixture(scope="module")
def weakened_backend(moto_endpoint: str, keys_dir: Path) -> Iterator[LocalBackend]:
    """A backend whose preferences function lost its write grant on the preferences store, on an
    endpoint of its own (its roles are the weakened ones)."""
    from local.aws import MotoServer

    manifest = _without_write(MANIFEST.only("gui_preferences"), "gui_preferences", "preferences")
    with (
        MotoServer() as moto,
        LocalBackend(
            regions=(REGION,),
            port=0,
            aws_endpoint_url=moto.endpoint_url,
            keys_dir=keys_dir,
            manifest=manifest,
            seed=False,
            ttl_sweep_s=None,
            bus_poll_s=None,
        ) as backend,
    ):
        yield backend


def test_a_dropped_grant_fails_as_it_would_in_aws(weakened_backend: LocalBackend) -> None:
    from local.demo import write_tenants

    write_tenants(
        weakened_backend.manifest, endpoint_url=weakened_backend.aws_endpoint_url, regions=(REGION,)
    )
    assert weakened_backend.keys is not None
    token = weakened_backend.keys.mint(
        tenant="acme", subject=f"it-{uuid.uuid4().hex[:8]}@acme", roles=["viewer"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    base = weakened_backend.base_urls[REGION]
    with httpx.Client(timeout=30) as http:
        read = http.get(f"{base}{PREFERENCES}", headers=headers)
        assert read.status_code == 200, read.text  # reading is still granted
        etag = read.headers["etag"]
        written = http.put(
            f"{base}{PREFERENCES}",
            headers={**headers, "If-Match": etag},
            json={"theme": "dark"},
        )
    assert written.status_code == 500, written.text
    assert weakened_backend.iam_check is not None
    denied = [
        c for c in weakened_backend.iam_check.calls if not c.allowed and c.function == "gui_preferences"
    ]
    assert denied, "the write was not refused by the role"
    assert denied[0].action == "dynamodb:PutItem"  # the transaction's first item: the overrides' Put
    assert denied[0].resource.endswith(f"table/{table('preferences')}")
