"""A job from click to completion on the local runtime, over HTTP: POST -> JobRequested on the bus ->
the demo executor -> JobStatusChanged on the bus -> the rule -> gui_job_events -> the job record."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from local.keys import DevKeys
from local.runtime import LocalBackend


def _token(keys: DevKeys, subject: str) -> str:
    return keys.mint(tenant="acme", subject=subject, roles=["operator"])


def _wait_for(http: httpx.Client, url: str, token: str, statuses: set[str], timeout_s: float = 20) -> dict:
    deadline = time.monotonic() + timeout_s
    job: dict = {}
    while time.monotonic() < deadline:
        job = http.get(url, headers={"Authorization": f"Bearer {token}"}).json()
        if job.get("status") in statuses:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job stayed {job.get('status')} ({job})")


def test_a_job_runs_to_completion_through_the_bus(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, local_backend: LocalBackend
) -> None:
    token = _token(dev_keys, "otto@acme")
    created = http.post(
        url("eu-west-1", "/service/gui/jobs/reindex"),
        json={"index": "search"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "queued"
    done = _wait_for(http, url("eu-west-1", f"/service/gui/jobs/{job['id']}"), token, {"succeeded", "failed"})
    assert done["status"] == "succeeded"
    assert done["progress"] == 100
    assert [h["status"] for h in done["history"]][:2] == ["queued", "running"]


def test_a_running_job_can_be_cancelled_and_the_executor_confirms(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys
) -> None:
    token = _token(dev_keys, "otto@acme")
    headers = {"Authorization": f"Bearer {token}"}
    job = http.post(
        url("eu-west-1", "/service/gui/jobs/reindex"), json={"index": "search"}, headers=headers
    ).json()
    cancel = http.patch(url("eu-west-1", f"/service/gui/jobs/{job['id']}/cancel"), headers=headers)
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "cancelling"  # queued or running: only the executor confirms
    done = _wait_for(
        http, url("eu-west-1", f"/service/gui/jobs/{job['id']}"), token, {"cancelled", "succeeded"}
    )
    assert done["status"] == "cancelled"
