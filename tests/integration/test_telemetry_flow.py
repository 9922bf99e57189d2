"""Telemetry on the local runtime, over HTTP: the demo facts (30 days per demo tenant) and the facts
of events published through the bus (the rule -> the stream -> gui_telemetry_facts -> Parquet in
S3) are aggregated by the scheduled gui_telemetry with DuckDB into the metrics cache, which the
dashboard answers under `telemetry`."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from local.apigw import sample_event
from local.keys import DevKeys
from local.runtime import LocalBackend

from .support import add_tenant, aws

EU = "eu-west-1"


def _headers(keys: DevKeys, tenant: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {keys.mint(tenant=tenant, subject=f'it-tel@{tenant}', roles=['viewer'])}"
    }


def _figure(figures: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(f for f in figures if f["name"] == name)


def _fact_keys(backend: LocalBackend, tenant: str) -> set[str]:
    pages = (
        aws(backend, "s3", EU)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=backend.manifest.bucket.local_bucket_name(EU), Prefix=f"telemetry/{tenant}/facts/")
    )
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_the_dashboard_answers_the_scheduled_aggregate_of_the_demo_facts(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, local_backend: LocalBackend
) -> None:
    assert len(_fact_keys(local_backend, "acme")) >= 28  # a file per day of the demo month
    # A work item per homed tenant, each aggregated by the worker before fire_schedule returned.
    report = local_backend.fire_schedule("telemetry-aggregate", EU)
    assert report["queued"] == report["tenants"] >= 1, report
    answer = http.get(
        url(EU, "/service/gui/dashboard"), params={"range": "7d"}, headers=_headers(dev_keys, "acme")
    )
    assert answer.status_code == 200, answer.text
    telemetry = answer.json()["telemetry"]
    assert telemetry["status"] == "fresh"
    assert telemetry["preset"] == "7d"
    assert telemetry["facts"] > 100
    verbs = {entry["verb"] for entry in telemetry["sla"]}
    assert {"ingest", "mapping", "coverage"} <= verbs
    assert telemetry["cost"]["total"]["value"] > 0
    assert len(telemetry["trends"]["points"]) in {7, 8}  # daily points over the range

    custom = http.get(
        url(EU, "/service/gui/dashboard"),
        params={"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
        headers=_headers(dev_keys, "acme"),
    ).json()
    assert custom["telemetry"]["status"] == "preset_only"

    mapping = http.get(
        url(EU, "/service/gui/metrics/mapping"), params={"range": "30d"}, headers=_headers(dev_keys, "acme")
    ).json()["telemetry"]
    assert mapping["status"] == "fresh"
    assert mapping["module"] == "mapping"
    assert [entry["verb"] for entry in mapping["sla"]] == ["mapping"]


def test_a_job_reported_through_the_bus_counts_after_the_next_aggregation(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, local_backend: LocalBackend
) -> None:
    tenant = f"it-tel-{uuid.uuid4().hex[:8]}"
    add_tenant(local_backend, tenant, EU)
    now = datetime.now(UTC)
    job_id = f"it-{uuid.uuid4().hex[:12]}"
    started, ended = now - timedelta(minutes=29), now - timedelta(minutes=9)
    publish = local_backend.relays[EU].publish
    # The job's status reports alone: a JobRequested would start the local demo executor on the job,
    # whose own `succeeded` (now, 2 s later) would race the aggregation and end the job then.
    for detail_type, sample, at, fields in (
        ("JobStatusChanged", "eventbridge_job_status_changed", started,
         {"status": "running", "verb": "mapping"}),
        ("JobStatusChanged", "eventbridge_job_status_changed", ended,
         {"status": "succeeded", "progress": 100, "verb": "mapping", "error": None}),
    ):  # fmt: skip
        detail = copy.deepcopy(sample_event(sample)["detail"])
        detail.update(tenant=tenant, job_id=job_id, event_id=str(uuid.uuid4()), time=at.isoformat(), **fields)
        publish("domaindetermine.jobs", detail_type, detail)

    deadline = time.monotonic() + 30
    while not _fact_keys(local_backend, tenant) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _fact_keys(local_backend, tenant), "no fact file was written"
    time.sleep(1.0)  # the two events may arrive in two batches
    report = local_backend.fire_schedule("telemetry-aggregate", EU)
    assert report["queued"] == report["tenants"], report

    token = dev_keys.mint(tenant=tenant, subject=f"it@{tenant}", roles=["viewer"])
    telemetry = http.get(
        url(EU, "/service/gui/dashboard"),
        params={"range": "24h"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["telemetry"]
    assert telemetry["status"] == "fresh"
    (mapping,) = [entry for entry in telemetry["sla"] if entry["verb"] == "mapping"]
    assert _figure(mapping["figures"], "jobs_succeeded")["value"] == 1
    assert _figure(mapping["figures"], "duration_p50_s")["value"] == 1200.0  # 20 minutes running
    assert telemetry["queue"]["waiting"] == 0
