"""The dashboard's preset cache through the local runtime: one stable item per preset (not one per
minute), one recompute at a time per key (the lease in the metrics store), a stale answer served at
once while the lease's holder recomputes, with its age. Test data goes straight into the stores."""

from __future__ import annotations

import itertools
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_core.dynamo import from_dynamo, to_dynamo
from gui_dashboard.cache import (
    LEASE_PREFIX,
    PresetKey,
    cached_document,
    preset_dashboard_key,
    preset_series_key,
)
from local.gateway import HttpResponse
from local.runtime import LocalBackend
from stacks.manifest import DASHBOARD_FUNCTION
from tests.contract.conftest import Client, aws, group_backend, provision, table
from tests.contract.test_dashboard_contract import SCOPE, seed_alerts, seed_jobs

_numbers = itertools.count()
CALLERS = 6


@pytest.fixture(scope="module")
def cache_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    with group_backend(tmp_path_factory, DASHBOARD_FUNCTION.name) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(cache_backend: LocalBackend) -> Any:
    return aws(cache_backend, "dynamodb")


@pytest.fixture
def viewer(cache_backend: LocalBackend, ddb: Any) -> Client:
    tenant = f"dash-cache-{next(_numbers)}"
    provision(ddb, tenant)
    seed_jobs(ddb, tenant, [("mapping", "succeeded", 2), ("mapping", "failed", 3)])
    seed_alerts(ddb, tenant, [("readiness", "critical", "unread", 1)])
    assert cache_backend.keys is not None
    return Client(cache_backend, cache_backend.keys, tenant, "vera", scopes=(SCOPE,))


def _mapping_jobs(document: dict[str, Any]) -> int:
    mapping = next(m for m in document["modules"] if m["module"] == "mapping")
    return int(next(f for f in mapping["figures"] if f["name"] == "jobs")["value"])


def _ok(answer: HttpResponse) -> dict[str, Any]:
    assert answer.status == 200, answer.body[:500]
    document: dict[str, Any] = answer.json()
    return document


def _items(ddb: Any, tenant: str) -> list[dict[str, Any]]:
    answer = ddb.query(
        TableName=table("metrics"),
        KeyConditionExpression="pk = :t",
        ExpressionAttributeValues={":t": {"S": tenant}},
    )
    return [from_dynamo(item) for item in answer["Items"]]


def _make_stale(ddb: Any, key: PresetKey, *, age_s: int) -> None:
    """The item as if computed `age_s` ago and past its freshness (still live)."""
    item = from_dynamo(ddb.get_item(TableName=table("metrics"), Key=to_dynamo(key.item_key()))["Item"])
    document = cached_document(item, now=datetime.now(UTC))
    assert document is not None
    document["as_of"] = (datetime.now(UTC) - timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    item["body"] = zlib.compress(json.dumps(document).encode())
    item["fresh_until"] = int(datetime.now(UTC).timestamp()) - 1
    ddb.put_item(TableName=table("metrics"), Item=to_dynamo(item))


def _hold_lease(ddb: Any, key: PresetKey, *, for_s: int) -> None:
    at = int(datetime.now(UTC).timestamp())
    lease = {**key.lease_key(), "owner": "another-caller", "lease_until": at + for_s, "expires_at": at + 3600}
    ddb.put_item(TableName=table("metrics"), Item=to_dynamo(lease))


def _at_once(client: Client, path: str, query: str, callers: int = CALLERS) -> list[HttpResponse]:
    with ThreadPoolExecutor(callers) as pool:
        return list(pool.map(lambda _: client.call("GET", path, query=query), range(callers)))


def test_a_preset_has_one_stable_item_whatever_the_minute(viewer: Client, ddb: Any) -> None:
    first = _ok(viewer.call("GET", "/dashboard", query="range=24h"))
    _ok(viewer.call("GET", "/metrics/mapping", query="range=24h"))
    keys = {item["sk"] for item in _items(ddb, viewer.tenant)}
    assert keys == {
        preset_dashboard_key(viewer.tenant, "24h").sk,
        preset_series_key(viewer.tenant, "mapping", "24h", "1h").sk,
    }  # no lease left behind, no per-minute key
    # The next minute's call finds the same item (before: its range's end, to the minute, was the key).
    key = preset_dashboard_key(viewer.tenant, "24h")
    item = from_dynamo(ddb.get_item(TableName=table("metrics"), Key=to_dynamo(key.item_key()))["Item"])
    assert item["encoding"] == "zlib"  # stored compressed
    stored = cached_document(item, now=datetime.now(UTC))
    assert stored is not None
    assert stored["range"] == first["range"]
    assert item["fresh_until"] < item["expires_at"]
    again = viewer.call("GET", "/dashboard", query="range=24h")
    assert (_ok(again)["source"], _ok(again)["as_of"]) == ("cache", first["as_of"])
    assert again.header("age") is not None


def test_concurrent_misses_make_one_recompute(viewer: Client, ddb: Any) -> None:
    answers = [_ok(a) for a in _at_once(viewer, "/dashboard", "range=7d")]
    assert Counter(a["source"] for a in answers) == {"computed": 1, "cache": CALLERS - 1}
    assert len({a["as_of"] for a in answers}) == 1  # the others waited for the holder's answer
    assert {_mapping_jobs(a) for a in answers} == {2}
    assert not [i for i in _items(ddb, viewer.tenant) if i["sk"].startswith(LEASE_PREFIX)]


def test_a_stale_answer_is_served_at_once_while_another_caller_recomputes(viewer: Client, ddb: Any) -> None:
    key = preset_dashboard_key(viewer.tenant, "7d")
    assert _ok(viewer.call("GET", "/dashboard"))["source"] == "computed"  # no range: 7d
    _make_stale(ddb, key, age_s=600)
    seed_jobs(ddb, viewer.tenant, [("mapping", "running", 1)])
    _hold_lease(ddb, key, for_s=60)
    answers = _at_once(viewer, "/dashboard", "range=7d")
    for answer in answers:
        document = _ok(answer)
        assert (document["source"], _mapping_jobs(document)) == ("cache", 2)  # the stale figures
        assert int(answer.header("age") or 0) >= 600
    # The holder finishes (its lease goes): the next caller recomputes, with the new job.
    ddb.delete_item(TableName=table("metrics"), Key=to_dynamo(key.lease_key()))
    fresh = viewer.call("GET", "/dashboard", query="range=7d")
    assert (_ok(fresh)["source"], _mapping_jobs(_ok(fresh)), fresh.header("age")) == ("computed", 3, "0")


def test_concurrent_calls_on_a_stale_answer_make_one_recompute(viewer: Client, ddb: Any) -> None:
    key = preset_series_key(viewer.tenant, "mapping", "7d", "1h")
    assert _ok(viewer.call("GET", "/metrics/mapping", query="range=7d"))["source"] == "computed"
    _make_stale(ddb, key, age_s=120)
    answers = [_ok(a) for a in _at_once(viewer, "/metrics/mapping", "range=7d")]
    assert Counter(a["source"] for a in answers) == {"computed": 1, "cache": CALLERS - 1}


def test_a_lapsed_lease_is_taken_over(viewer: Client, ddb: Any) -> None:
    """A holder that died (its Lambda timed out) holds no key past its lease."""
    key = preset_dashboard_key(viewer.tenant, "30d")
    _hold_lease(ddb, key, for_s=-5)
    assert _ok(viewer.call("GET", "/dashboard", query="range=30d"))["source"] == "computed"
    assert not [i for i in _items(ddb, viewer.tenant) if i["sk"].startswith(LEASE_PREFIX)]


def test_a_held_lease_and_nothing_cached_is_answered_after_the_wait(viewer: Client, ddb: Any) -> None:
    """The holder is gone before its lease lapses: a caller waits `lease_wait_s`, then answers with
    its own computation rather than fail."""
    key = preset_dashboard_key(viewer.tenant, "24h")
    _hold_lease(ddb, key, for_s=60)
    document = _ok(viewer.call("GET", "/dashboard", query="range=24h"))
    assert (document["source"], _mapping_jobs(document)) == ("computed", 2)
