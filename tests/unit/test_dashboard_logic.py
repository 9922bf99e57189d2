"""The dashboard's pure rules: ranges, previous periods, trends, buckets, aggregation, cache items."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import Binary
from pydantic import TypeAdapter

from gui_core.date_times import QueryTime, iso
from gui_dashboard.cache import (
    cache_item,
    cached_document,
    cached_entry,
    dashboard_key,
    document_bytes,
    series_key,
    stored_bytes,
    ttl_s,
)
from gui_dashboard.logic import (
    MAX_POINTS,
    InvalidRange,
    SourceRecords,
    TimeRange,
    TooManyPoints,
    UnknownModule,
    bucket_bounds,
    choose_bucket,
    dashboard_document,
    job_cost_usd,
    metrics_document,
    module_figures,
    percentile,
    point_count,
    resolve_range,
    trend,
)

NOW = datetime(2026, 11, 27, 12, 30, 15, tzinfo=UTC)


def query_time(text: str | None) -> datetime | None:
    """A `from`/`to` as the route parses it."""
    return None if text is None else TypeAdapter(QueryTime).validate_python(text)


def at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat()


def job(
    verb: str, status: str, hours_ago: float, minutes: float | None = None, **extra: Any
) -> dict[str, Any]:
    record: dict[str, Any] = {"verb": verb, "status": status, "requested_at": at(hours_ago), **extra}
    if minutes is not None:
        record["started_at"] = at(hours_ago)
        record["finished_at"] = at(hours_ago - minutes / 60)
    return record


def figures(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in document["figures"]}


# -- ranges ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("preset", "days"), [(None, 7), ("24h", 1), ("7d", 7), ("30d", 30)])
def test_a_preset_ends_at_the_next_full_minute_and_spans_its_length(preset: str | None, days: int) -> None:
    period = resolve_range(start=None, end=None, preset=preset, now=NOW)
    assert period.end == datetime(2026, 11, 27, 12, 31, tzinfo=UTC)
    assert period.span == timedelta(days=days)


def test_two_calls_within_a_minute_resolve_to_the_same_range() -> None:
    first = resolve_range(start=None, end=None, preset="24h", now=NOW)
    assert resolve_range(start=None, end=None, preset="24h", now=NOW + timedelta(seconds=40)) == first


def test_explicit_bounds_are_kept_to_the_second_in_utc() -> None:
    period = resolve_range(
        start=query_time("2026-11-01T10:00:00.750+02:00"),
        end=query_time("2026-11-02T00:00:00Z"),
        preset=None,
        now=NOW,
    )
    assert iso(period.start) == "2026-11-01T08:00:00.000+00:00"
    assert iso(period.end) == "2026-11-02T00:00:00.000+00:00"


def test_from_alone_ends_now_and_to_alone_starts_seven_days_earlier() -> None:
    start, end = query_time("2026-11-27T00:00:00Z"), query_time("2026-11-20T00:00:00Z")
    assert resolve_range(start=start, end=None, preset=None, now=NOW).end.minute == 31
    assert resolve_range(start=None, end=end, preset=None, now=NOW).span == timedelta(days=7)


@pytest.mark.parametrize(
    ("start", "end", "preset"),
    [
        ("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z", None),  # from after to
        ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", None),  # empty
        ("2025-01-01T00:00:00Z", "2026-01-03T00:00:00Z", None),  # over 366 days
        (None, None, "90d"),  # unknown preset
        ("0001-01-01T00:00:00+05:00", "0001-01-02T00:00:00+05:00", None),  # no period before it
        (None, "0001-01-03T00:00:00Z", None),  # its 7 days begin before the year 1
        ("9999-12-30T00:00:00Z", "9999-12-31T23:59:59-05:00", None),  # no room for its last bucket
        ("2026-11-01T00:00:00Z", None, "7d"),  # both ways
    ],
)
def test_invalid_ranges_are_refused(start: str | None, end: str | None, preset: str | None) -> None:
    with pytest.raises(InvalidRange) as raised:
        resolve_range(start=query_time(start), end=query_time(end), preset=preset, now=NOW)
    assert raised.value.status == 422


def test_the_previous_period_has_the_same_length_and_ends_where_the_range_starts() -> None:
    period = TimeRange(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
    assert period.previous() == TimeRange(
        datetime(2026, 11, 13, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    )


# -- trends ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "previous", "expected"),
    [
        (12, 8, {"delta": 4, "percent": 50.0, "direction": "up"}),
        (6, 8, {"delta": -2, "percent": -25.0, "direction": "down"}),
        (5, 5, {"delta": 0, "percent": 0.0, "direction": "flat"}),
        (3, 0, {"delta": 3, "percent": None, "direction": "up"}),
        (None, 4, {"delta": None, "percent": None, "direction": "flat"}),
        (0.9, None, {"delta": None, "percent": None, "direction": "flat"}),
    ],
)
def test_trend(value: float | None, previous: float | None, expected: dict[str, Any]) -> None:
    assert trend(value, previous) == expected


# -- buckets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "bucket"), [(1, "1h"), (7, "1h"), (9, "6h"), (30, "6h"), (90, "1d"), (366, "7d")]
)
def test_the_finest_bucket_within_the_point_limit_is_chosen(days: int, bucket: str) -> None:
    period = TimeRange(NOW - timedelta(days=days), NOW)
    assert choose_bucket(period, None) == bucket
    assert point_count(period, bucket) <= MAX_POINTS


def test_a_given_bucket_over_the_point_limit_is_refused() -> None:
    period = TimeRange(NOW - timedelta(days=30), NOW)
    assert choose_bucket(period, "1d") == "1d"
    with pytest.raises(TooManyPoints):
        choose_bucket(period, "1h")
    with pytest.raises(InvalidRange):
        choose_bucket(period, "5m")


def test_buckets_are_aligned_to_utc_and_cut_to_the_range() -> None:
    period = TimeRange(datetime(2026, 11, 27, 1, 30, tzinfo=UTC), datetime(2026, 11, 27, 13, 0, tzinfo=UTC))
    bounds = bucket_bounds(period, "6h")
    assert [(iso(b.start), iso(b.end)) for b in bounds] == [
        ("2026-11-27T01:30:00.000+00:00", "2026-11-27T06:00:00.000+00:00"),
        ("2026-11-27T06:00:00.000+00:00", "2026-11-27T12:00:00.000+00:00"),
        ("2026-11-27T12:00:00.000+00:00", "2026-11-27T13:00:00.000+00:00"),
    ]
    assert len(bounds) == point_count(period, "6h")


# -- aggregation -----------------------------------------------------------------------------------

PERIOD = TimeRange(NOW - timedelta(hours=24), NOW)  # previous period: 48 h to 24 h ago
RECORDS = SourceRecords(
    jobs=[
        job("mapping", "succeeded", 2, minutes=10),
        job("mapping", "succeeded", 3, minutes=20),
        job("mapping", "failed", 4, minutes=30),
        job("mapping", "running", 1),
        job("mapping", "cancelled", 5, minutes=1),
        job("mapping", "succeeded", 30, minutes=10),  # previous period
        job("ingest", "succeeded", 2, minutes=60, cost_usd=1.5),
        {"verb": "mapping", "status": "succeeded"},  # no time: never counted
    ],
    alerts=[
        {"category": "readiness", "severity": "critical", "status": "unread", "created_at": at(1)},
        {"category": "readiness", "severity": "warning", "status": "acknowledged", "created_at": at(2)},
        {"category": "readiness", "severity": "warning", "status": "snoozed", "created_at": at(3)},
        {"category": "readiness", "severity": "info", "status": "read", "created_at": at(40)},
        {"category": "cost", "severity": "critical", "status": "unread", "created_at": at(1)},
    ],
    artifacts=[
        {"kind": "mapping", "governance_status": "approved", "created_at": at(100)},
        {"kind": "mapping", "governance_status": "draft", "created_at": at(5)},
        {"kind": "mapping", "governance_status": "draft", "published_at": at(30), "created_at": at(300)},
        {"kind": "coverage", "governance_status": "approved", "created_at": at(6)},
        {"kind": "mapping"},  # no time: not counted
    ],
)


def test_job_figures_of_a_module_with_their_previous_values() -> None:
    result = figures(module_figures("mapping", PERIOD, RECORDS))
    assert result["jobs"]["value"] == 5
    assert result["jobs"]["previous"] == 1
    assert result["jobs"]["trend"] == {"delta": 4, "percent": 400.0, "direction": "up"}
    assert result["jobs_succeeded"]["value"] == 2
    assert result["jobs_failed"]["value"] == 1
    assert result["success_rate"]["value"] == pytest.approx(2 / 3, abs=1e-4)  # cancelled not decided
    assert result["success_rate"]["previous"] == 1.0
    assert result["duration_p50_s"]["value"] == 1200.0  # succeeded and failed only: 600, 1200, 1800
    assert result["duration_p95_s"]["value"] == 1800.0
    # 10 + 20 + 30 + 1 minutes at 0.08 USD per minute; the running job has not cost anything yet
    assert result["cost_usd"]["value"] == pytest.approx(61 * 0.08)


def test_artifact_figures_count_publications_in_the_range_and_existing_artifacts_at_its_end() -> None:
    document = module_figures("mapping", PERIOD, RECORDS)
    result = figures(document)
    assert result["artifacts_published"]["value"] == 1
    assert result["artifacts_published"]["previous"] == 1  # published_at wins over created_at
    assert result["artifacts_total"]["value"] == 3
    assert result["artifacts_total"]["previous"] == 2
    assert document["breakdown"]["artifacts_by_governance_status"] == {"approved": 1, "draft": 2}


def test_alert_figures_count_open_items_by_severity() -> None:
    document = module_figures("readiness", PERIOD, RECORDS)
    result = figures(document)
    assert result["alerts_raised"]["value"] == 3
    assert result["alerts_open"]["value"] == 2
    assert result["alerts_critical_open"]["value"] == 1
    assert result["alerts_raised"]["previous"] == 1
    assert document["breakdown"]["alerts_open_by_severity"] == {"critical": 1, "warning": 1}


def test_the_cost_module_sums_every_verb_with_the_records_own_cost_first() -> None:
    document = module_figures("cost", PERIOD, RECORDS)
    assert figures(document)["cost_usd"]["value"] == pytest.approx(61 * 0.08 + 1.5)
    assert document["breakdown"]["cost_usd_by_verb"] == {"ingest": 1.5, "mapping": pytest.approx(4.88)}
    assert figures(document)["alerts_raised"]["value"] == 1


def test_governance_counts_artifacts_of_every_kind() -> None:
    document = module_figures("governance", PERIOD, RECORDS)
    assert figures(document)["artifacts_total"]["value"] == 4
    assert document["breakdown"]["artifacts_by_kind"] == {"coverage": 1, "mapping": 3}


def test_figures_on_nothing_are_zero_or_null_never_an_error() -> None:
    document = module_figures("mapping", PERIOD, SourceRecords(jobs=[], alerts=[], artifacts=[]))
    result = figures(document)
    assert result["jobs"]["value"] == 0
    assert result["success_rate"]["value"] is None
    assert result["duration_p50_s"]["trend"]["direction"] == "flat"


def test_the_dashboard_has_every_module() -> None:
    document = dashboard_document(PERIOD, RECORDS, as_of=NOW)
    assert [m["module"] for m in document["modules"]] == [
        "ingestion",
        "coverage",
        "mapping",
        "overlay",
        "readiness",
        "prompt_pack",
        "governance",
        "cost",
    ]
    assert document["range"] == {"from": iso(PERIOD.start), "to": iso(PERIOD.end)}
    assert document["previous_range"]["to"] == iso(PERIOD.start)


def test_a_series_puts_each_record_in_its_bucket() -> None:
    period = TimeRange(datetime(2026, 11, 26, 12, tzinfo=UTC), datetime(2026, 11, 27, 12, tzinfo=UTC))
    records = SourceRecords(
        jobs=[
            {"verb": "readiness", "status": "failed", "requested_at": "2026-11-26T12:00:00Z"},
            {"verb": "readiness", "status": "succeeded", "requested_at": "2026-11-27T11:59:59Z"},
            {"verb": "readiness", "status": "succeeded", "requested_at": "2026-11-27T12:00:00Z"},  # after
        ],
        alerts=[{"category": "readiness", "status": "unread", "created_at": "2026-11-27T01:00:00Z"}],
        artifacts=[{"kind": "readiness", "created_at": "2026-11-27T01:00:00Z"}],
    )
    document = metrics_document("readiness", period, "6h", records, as_of=NOW)
    assert document["series"] == [
        "jobs",
        "jobs_succeeded",
        "jobs_failed",
        "cost_usd",
        "artifacts_published",
        "alerts_raised",
    ]
    assert [p["values"]["jobs"] for p in document["points"]] == [1, 0, 0, 1]
    assert [p["values"]["jobs_failed"] for p in document["points"]] == [1, 0, 0, 0]
    assert [p["values"]["alerts_raised"] for p in document["points"]] == [0, 0, 1, 0]
    assert [p["values"]["artifacts_published"] for p in document["points"]] == [0, 0, 1, 0]
    assert document["breakdown"]["jobs_by_status"] == {"failed": 1, "succeeded": 1}


def test_an_unknown_module_is_refused() -> None:
    with pytest.raises(UnknownModule) as raised:
        module_figures("weather", PERIOD, RECORDS)
    assert raised.value.status == 404


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([4, 1, 3, 2], 50) == 2
    assert percentile(list(range(1, 101)), 95) == 95


def test_a_job_that_did_not_end_costs_nothing() -> None:
    assert job_cost_usd({"verb": "mapping", "started_at": at(1)}) == 0.0


# -- cache items -----------------------------------------------------------------------------------


def test_cache_keys_spell_kind_module_range_and_bucket() -> None:
    period = TimeRange(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
    assert dashboard_key("t1", period).sk == "CACHE#dashboard#all#2026-11-20T00:00:00Z#2026-11-27T00:00:00Z#-"
    assert series_key("t1", "mapping", period, "1h").item_key() == {
        "pk": "t1",
        "sk": "CACHE#series#mapping#2026-11-20T00:00:00Z#2026-11-27T00:00:00Z#1h",
    }


def test_a_cached_document_is_read_back_until_it_expires() -> None:
    key = dashboard_key("t1", PERIOD)
    item = cache_item(key, {"as_of": iso(NOW), "modules": []}, now=NOW, ttl=60, producer="dashboard")
    assert item["computed_at"] == iso(NOW)
    assert cached_document(item, now=NOW + timedelta(seconds=59)) == {"as_of": iso(NOW), "modules": []}
    assert cached_document(item, now=NOW + timedelta(seconds=60)) is None
    assert cached_document({**item, "schema": 99}, now=NOW) is None
    assert cached_document(None, now=NOW) is None


def _a_dashboard_document(jobs: int) -> dict[str, Any]:
    """A document of the dashboard's shape: every module's figures and breakdowns."""
    verbs, statuses = ("mapping", "coverage", "overlay"), ("succeeded", "succeeded", "failed", "running")
    records = SourceRecords(
        jobs=[job(verbs[n % 3], statuses[n % 4], 1 + n % 150, minutes=1 + n % 37) for n in range(jobs)],
        alerts=[],
        artifacts=[],
    )
    return dashboard_document(TimeRange(NOW - timedelta(days=7), NOW), records, as_of=NOW)


def test_a_document_is_stored_compressed_and_read_back_as_it_was() -> None:
    document = _a_dashboard_document(300)
    item = cache_item(
        dashboard_key("t1", PERIOD), document, now=NOW, ttl=60, producer="dashboard", fresh_s=30
    )
    text = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    assert (item["schema"], item["encoding"]) == (1, "zlib")
    assert "document" not in item
    assert zlib.decompress(item["body"]) == text
    assert cached_document(item, now=NOW + timedelta(seconds=59)) == document
    entry = cached_entry(item, now=NOW + timedelta(seconds=31))
    assert entry is not None
    assert (entry.document, entry.fresh) == (document, False)
    # The store's reader gives a binary attribute back as boto3's Binary, not as bytes.
    assert cached_document({**item, "body": Binary(item["body"])}, now=NOW) == document


def test_an_item_written_before_the_encoding_is_read_until_it_expires() -> None:
    document = _a_dashboard_document(30)
    text = json.dumps(document)
    older = {
        **dashboard_key("t1", PERIOD).item_key(),
        "kind": "metrics_cache",
        "schema": 1,
        "document": text,
        "producer": "telemetry",
        "computed_at": iso(NOW),
        "expires_at": int(NOW.timestamp()) + 60,
    }
    assert cached_document(older, now=NOW + timedelta(seconds=59)) == document
    assert cached_document(older, now=NOW + timedelta(seconds=60)) is None
    assert document_bytes(older) == stored_bytes(older) == len(text.encode())


def test_an_item_of_an_unknown_encoding_or_a_damaged_body_is_a_miss() -> None:
    item = cache_item(dashboard_key("t1", PERIOD), {"as_of": iso(NOW)}, now=NOW, ttl=60, producer="dashboard")
    assert cached_document(item, now=NOW) == {"as_of": iso(NOW)}
    assert cached_document({**item, "encoding": "zstd"}, now=NOW) is None
    assert cached_document({**item, "body": b"not zlib"}, now=NOW) is None
    assert cached_document({**item, "body": zlib.compress(b"[1, 2]")}, now=NOW) is None  # not an object


def test_an_item_counts_its_document_as_text_and_as_stored() -> None:
    document = _a_dashboard_document(300)
    item = cache_item(dashboard_key("t1", PERIOD), document, now=NOW, ttl=60, producer="dashboard")
    text = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    assert document_bytes(item) == len(text)
    assert stored_bytes(item) == len(item["body"])
    # JSON of repeated keys: a fraction of the text is stored (and read)
    assert stored_bytes(item) < len(text) / 3


def test_open_ranges_are_cached_briefly_and_closed_ones_longer() -> None:
    assert ttl_s(PERIOD, NOW, open_s=60, closed_s=3600) == 60
    closed = TimeRange(NOW - timedelta(days=3), NOW - timedelta(days=2))
    assert ttl_s(closed, NOW, open_s=60, closed_s=3600) == 3600
