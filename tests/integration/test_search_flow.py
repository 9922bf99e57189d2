"""Search on the local runtime, over HTTP: the scheduled drift check builds the demo tenants' indexes
from the registry, an artifact published through the bus is searchable once the indexer has run
(the rule -> the stream -> gui_indexer -> a new index version in S3 -> gui_search fetches it), and
the answers keep tenants apart and mask what the license policy restricts."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gui_artifacts.logic import Publication, apply_published
from gui_artifacts.repository import ArtifactsRepository
from gui_core.domain_events import ArtifactPublished
from gui_core.dynamo import Table
from local.apigw import sample_event
from local.keys import DevKeys
from local.runtime import LocalBackend

from .support import add_tenant, aws, table

SEARCH = "/service/gui/search"
EU, US = "eu-west-1", "us-east-1"


@pytest.fixture(scope="module")
def indexed(local_backend: LocalBackend) -> dict[str, Any]:
    """The drift check run once per region: demo registries become indexes."""
    return {region: local_backend.fire_schedule("index-rebuild", region) for region in (EU, US)}


def _headers(
    keys: DevKeys, tenant: str, *, roles: tuple[str, ...] = ("viewer",), scopes: tuple[str, ...] = ()
) -> dict[str, str]:
    token = keys.mint(tenant=tenant, subject=f"it-search@{tenant}", roles=list(roles), scopes=list(scopes))
    return {"Authorization": f"Bearer {token}"}


def _search(http: httpx.Client, url: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    return http.get(url, params=params, headers=headers)


def _published(tenant: str, artifact_id: str, *, version: int = 1, **fields: Any) -> dict[str, Any]:
    detail = copy.deepcopy(sample_event("eventbridge_artifact_published")["detail"])
    detail.update(
        {
            "tenant": tenant,
            "event_id": str(uuid.uuid4()),
            "artifact_id": artifact_id,
            "version": version,
            "inputs": [],
            "previous_diff_hash": None,
            "diff_hash": f"sha256:{uuid.uuid4().hex}",
            **fields,
        }
    )
    return detail


def _until(probe: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("not searchable in time")
        time.sleep(0.3)


def test_the_drift_check_builds_every_demo_index(
    indexed: dict[str, Any], local_backend: LocalBackend
) -> None:
    # One work item per homed tenant, each checked (and built) by the worker before fire_schedule
    # returned; acme is homed in eu-west-1 only.
    assert all(report["queued"] == report["tenants"] >= 1 for report in indexed.values()), indexed
    us = aws(local_backend, "s3", US).list_objects_v2(
        Bucket=local_backend.manifest.bucket.local_bucket_name(US), Prefix="search/t-acme/"
    )
    assert us.get("KeyCount", 0) == 0


def test_the_drift_check_publishes_each_index_as_its_files(
    indexed: dict[str, Any], local_backend: LocalBackend
) -> None:
    """Each file under its content's SHA-256, written with the function's own role; no archive."""
    s3 = aws(local_backend, "s3", EU)
    bucket = local_backend.manifest.bucket.local_bucket_name(EU)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="search/t-acme/manifest.json")["Body"].read())
    assert manifest["layout"] == 2
    stored = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="search/t-acme/files/")["Contents"]}
    assert {f"search/t-acme/files/{f['sha256']}" for f in manifest["files"]} <= stored
    assert s3.list_objects_v2(Bucket=bucket, Prefix="search/t-acme/versions/").get("KeyCount", 0) == 0


def test_a_query_ranks_every_kind_with_highlights_and_facets(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, indexed: dict[str, Any]
) -> None:
    answer = _search(http, url(EU, SEARCH), _headers(dev_keys, "acme"), q="snomed")
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["mode"] == "search"
    assert page["total"] >= 3
    assert page["index"]["version"] >= 1
    assert page["index"]["documents"] >= 30
    kinds = {hit["kind"] for hit in page["hits"]}
    assert len(kinds) >= 2, kinds  # federated: one list over several kinds
    scores = [hit["score"] for hit in page["hits"]]
    assert scores == sorted(scores, reverse=True)
    for hit in page["hits"]:
        assert hit["highlights"], hit["id"]
        for highlight in hit["highlights"]:
            for start, end in highlight["ranges"]:
                assert highlight["text"][start:end].lower().startswith("snomed")
    assert sum(page["facets"]["kind"].values()) == page["total"]


def test_the_indexes_lie_on_the_regions_search_file_system_not_in_a_containers_tmp(
    http: httpx.Client,
    url: Callable[[str, str], str],
    dev_keys: DevKeys,
    indexed: dict[str, Any],
    local_backend: LocalBackend,
) -> None:
    """The version a search answers from is installed in the region's shared folder (by the drift
    check that published it, or the first reader), and no function's /tmp holds an index file."""
    answer = _search(http, url(EU, SEARCH), _headers(dev_keys, "acme"), q="snomed")
    assert answer.status_code == 200, answer.text
    version = answer.json()["index"]["version"]
    shared = local_backend.file_system_dir(EU, "search")
    installed = [p.name for p in (shared / "t-acme").iterdir() if not p.name.startswith(".")]
    assert any(name.startswith(f"{version:010d}-") for name in installed), installed
    assert any((shared / "t-acme" / name / "meta.json").is_file() for name in installed)
    containers_tmp = shared.parents[2]  # the runtime's root of every container's /tmp
    file_systems = containers_tmp / "file-systems"
    stray = [p for p in containers_tmp.rglob("*.idx") if file_systems not in p.parents]
    assert stray == []
    assert not (local_backend.file_system_dir(US, "search") / "t-acme").exists()  # homed in eu-west-1


def test_filters_and_pages_cover_the_results_once(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, indexed: dict[str, Any]
) -> None:
    headers = _headers(dev_keys, "acme")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"kind": ["mapping", "coverage"], "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = _search(http, url(EU, SEARCH), headers, **params).json()
        assert page["mode"] == "browse"
        assert {hit["kind"] for hit in page["hits"]} <= {"mapping", "coverage"}
        seen += [hit["id"] for hit in page["hits"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == page["total"] >= 10
    other = _search(http, url(EU, SEARCH), headers, kind="overlay", cursor=page["next_cursor"] or "")
    assert other.status_code == 200
    foreign = _search(http, url(EU, SEARCH), headers, q="snomed", cursor=_first_cursor(http, url, headers))
    assert foreign.status_code == 400
    assert foreign.json()["code"] == "invalid_cursor"


def _first_cursor(http: httpx.Client, url: Callable[[str, str], str], headers: dict[str, str]) -> str:
    cursor: str = _search(http, url(EU, SEARCH), headers, q="labels", limit=1).json()["next_cursor"]
    assert cursor
    return cursor


@pytest.mark.parametrize("query", ['"unclosed', "title:", "(snomed", "AND"])
def test_a_query_that_cannot_be_parsed_is_a_400(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, indexed: dict[str, Any], query: str
) -> None:
    answer = _search(http, url(EU, SEARCH), _headers(dev_keys, "acme"), q=query)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "invalid_query"


def test_a_published_artifact_is_searchable_then_its_deprecation(
    http: httpx.Client,
    url: Callable[[str, str], str],
    dev_keys: DevKeys,
    local_backend: LocalBackend,
    indexed: dict[str, Any],
) -> None:
    word = f"zanzibarine{uuid.uuid4().hex[:8]}"
    artifact_id = f"it-{uuid.uuid4().hex[:10]}"
    headers = _headers(dev_keys, "acme")
    local_backend.relays[EU].publish(
        "domaindetermine.mapping",
        "ArtifactPublished",
        _published("acme", artifact_id, title=f"Fresh {word} mapping", source_text=f"secret {word}x"),
    )

    def found() -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = _search(http, url(EU, SEARCH), headers, q=word).json()["hits"]
        return hits

    (hit,) = _until(found)
    assert hit["id"] == artifact_id
    assert hit["governance_status"] == "in_review"
    assert hit["source_text"] is None  # acme restricts it: removed for a viewer

    local_backend.relays[EU].publish(
        "domaindetermine.mapping",
        "ArtifactDeprecated",
        {
            "tenant": "acme",
            "event_id": str(uuid.uuid4()),
            "schema_version": "1",
            "artifact_id": artifact_id,
            "version": 1,
            "reason": "replaced",
            "deprecated_at": "2026-11-28T10:00:00+00:00",
        },
    )
    deprecated = _until(lambda: [h for h in found() if h["governance_status"] == "deprecated"])
    assert deprecated[0]["deprecated"] is True

    # Another tenant never sees it, whatever it asks.
    globex = _search(http, url(US, SEARCH), _headers(dev_keys, "globex"), q=word).json()
    assert globex["total"] == 0
    assert globex["hits"] == []


def test_restricted_fields_are_neither_searched_nor_shown_without_the_license_scope(
    http: httpx.Client,
    url: Callable[[str, str], str],
    dev_keys: DevKeys,
    local_backend: LocalBackend,
    indexed: dict[str, Any],
) -> None:
    secret = f"cholerasecret{uuid.uuid4().hex[:8]}"
    artifact_id = f"it-{uuid.uuid4().hex[:10]}"
    local_backend.relays[EU].publish(
        "domaindetermine.mapping",
        "ArtifactPublished",
        _published("acme", artifact_id, title="Restricted text mapping", source_text=f"A00.0 {secret}"),
    )
    licensed = _headers(dev_keys, "acme", roles=("viewer",), scopes=("gui:license:restricted",))
    (hit,) = _until(lambda: _search(http, url(EU, SEARCH), licensed, q=secret).json()["hits"])
    assert hit["source_text"] == f"A00.0 {secret}"
    assert any(h["field"] == "source_text" for h in hit["highlights"])

    viewer = _search(http, url(EU, SEARCH), _headers(dev_keys, "acme"), q=secret).json()
    assert viewer["total"] == 0
    assert "source_text" in viewer["license"]["masked_fields"]


def test_the_drift_check_repairs_an_index_the_events_missed(
    http: httpx.Client,
    url: Callable[[str, str], str],
    dev_keys: DevKeys,
    local_backend: LocalBackend,
    indexed: dict[str, Any],
) -> None:
    artifact_id = f"it-{uuid.uuid4().hex[:10]}"
    word = f"driftword{uuid.uuid4().hex[:8]}"
    _registered_only(local_backend, artifact_id, f"Overlay {word}")
    headers = _headers(dev_keys, "acme")
    assert _search(http, url(EU, SEARCH), headers, q=word).json()["total"] == 0
    local_backend.fire_schedule("index-rebuild", EU)  # acme's work item checked and rebuilt its index
    hits = _until(lambda: _search(http, url(EU, SEARCH), headers, q=word).json()["hits"])
    assert [hit["id"] for hit in hits] == [artifact_id]
    version = _index_version(local_backend, "acme")
    local_backend.fire_schedule("index-rebuild", EU)
    assert _index_version(local_backend, "acme") == version  # no drift: nothing published


def _registered_only(backend: LocalBackend, artifact_id: str, title: str) -> None:
    """A publication written into acme's registry by its consumer's own writer, as if its event had
    been lost on the way to the indexer: the registry's fingerprint moves, the index's does not."""
    event = ArtifactPublished.model_validate(_published("acme", artifact_id, title=title))
    publication = apply_published(None, event)
    assert isinstance(publication, Publication)
    registry = ArtifactsRepository(Table(table("artifacts"), aws(backend, "dynamodb", EU)))
    registry.publish("acme", None, publication)


def _index_version(backend: LocalBackend, tenant: str) -> int:
    s3 = aws(backend, "s3", EU)
    body = s3.get_object(
        Bucket=backend.manifest.bucket.local_bucket_name(EU), Key=f"search/t-{tenant}/manifest.json"
    )["Body"].read()
    return int(json.loads(body)["version"])


def test_one_tenants_broken_index_does_not_stop_the_others(
    local_backend: LocalBackend, indexed: dict[str, Any]
) -> None:
    broken = f"it-broken-{uuid.uuid4().hex[:8]}"
    add_tenant(local_backend, broken, EU)
    # A manifest that names another tenant: the check refuses to open it and reports the failure.
    aws(local_backend, "s3", EU).put_object(
        Bucket=local_backend.manifest.bucket.local_bucket_name(EU),
        Key=f"search/t-{broken}/manifest.json",
        Body=b'{"tenant": "acme", "version": 1, "documents": 0, "checksum": "sha256:0", '
        b'"archive": "x", "built_at": "2026-11-28T00:00:00Z"}',
    )
    # acme's registry gains an artifact its index lacks: its work item must still rebuild it.
    _registered_only(local_backend, f"it-{uuid.uuid4().hex[:10]}", "Overlay beside a broken tenant")
    before = _index_version(local_backend, "acme")
    report = local_backend.fire_schedule("index-rebuild", EU)
    assert report["queued"] == report["tenants"]
    assert _index_version(local_backend, "acme") > before  # rebuilt, whatever the broken tenant did
    # The broken tenant's failure is counted (SearchIndexCheckFailures) and its item consumed: the
    # queue holds nothing, its dead-letter queue neither.
    (poller,) = [p for p in local_backend.queue_pollers[EU] if p.fn.name == "gui_index_rebuild"]
    assert poller.dead_letters == []
    sqs = aws(local_backend, "sqs", EU)
    waiting = sqs.get_queue_attributes(
        QueueUrl=poller.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert waiting["ApproximateNumberOfMessages"] == "0"
