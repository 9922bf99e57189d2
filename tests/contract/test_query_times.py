"""Every date-time of a query is one type (gui_core.date_times.QueryTime) on every route (issue 18,
item 3 and the class of bug): an ISO 8601 date-time with any offset, also at the calendar's ends
(`0001-01-01T00:00:00+05:00`, `9999-12-31T23:59:59-05:00`: answers of 500 on /search,
/artifacts/search, /dashboard and /metrics before), selects what it says; a bare number (`to=0.5`,
a 200 before) is a 422. Through the real authorizer and handlers on moto."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.apigw import sample_event
from local.containers import Container
from local.gateway import HttpResponse
from local.runtime import LocalBackend
from stacks.manifest import ARTIFACT_EVENTS_FUNCTION, INDEX_REBUILD_FUNCTION, SEARCH_FUNCTION
from tests.contract.conftest import REGION, Client, aws, group_backend, problem, provision

PUBLISHED = sample_event("eventbridge_artifact_published")
EARLY = "0001-01-01T00:00:00+05:00"  # 0000-12-31T19:00:00Z, before the calendar
LATE = "9999-12-31T23:59:59-05:00"  # 10000-01-01T04:59:59Z, after it
_tenants = itertools.count()
_events = itertools.count()
PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Every route and query date-time parameter.
PARAMETERS = [
    ("/jobs", "from"),
    ("/jobs", "to"),
    ("/audit", "from"),
    ("/audit", "to"),
    ("/artifacts/search", "created_from"),
    ("/artifacts/search", "created_to"),
    ("/artifacts/search", "updated_from"),
    ("/artifacts/search", "updated_to"),
    ("/dashboard", "from"),
    ("/dashboard", "to"),
    ("/metrics/mapping", "from"),
    ("/metrics/mapping", "to"),
]
SEARCH_PARAMETERS = [("/search", "updated_from"), ("/search", "updated_to")]


def get(client: Client, path: str, **query: str) -> HttpResponse:
    return client.call("GET", path, query="&".join(f"{k}={quote(v, safe='')}" for k, v in query.items()))


def publish(container: Container, tenant: str, artifact_id: str, published_at: str) -> None:
    """An ArtifactPublished, delivered to gui_artifact_events as EventBridge would."""
    event = copy.deepcopy(PUBLISHED)
    event["detail"].update(
        {
            "tenant": tenant,
            "event_id": f"query-times-{next(_events)}",
            "artifact_id": artifact_id,
            "diff_hash": f"sha256:{artifact_id}-1",
            "previous_diff_hash": None,
            "version": 1,
            "inputs": [],
            "published_at": published_at,
        }
    )
    assert container.invoke(event)["outcome"] == "applied"


@pytest.fixture
def caller(backend: LocalBackend, dynamodb: Any) -> Client:
    """An admin of a fresh tenant (every scope), its limits raised for a property's examples."""
    tenant = f"times-{next(_tenants)}"
    limits = dict.fromkeys(("reads", "writes", "admin", "dashboard", "job_commands"), 100000)
    provision(dynamodb, tenant, rate_limits=limits)
    assert backend.keys is not None
    return Client(backend, backend.keys, tenant, f"ada-{tenant}", scopes=(), roles=("admin",))


@pytest.fixture(scope="module")
def search_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    functions = (SEARCH_FUNCTION.name, INDEX_REBUILD_FUNCTION.name, ARTIFACT_EVENTS_FUNCTION.name)
    with group_backend(tmp_path_factory, *functions) as running:
        yield running


@pytest.fixture(scope="module")
def searcher(search_backend: LocalBackend) -> Client:
    """A viewer of a tenant whose search index holds one artifact (published 2026-11-20)."""
    tenant = "times-search"
    provision(aws(search_backend, "dynamodb"), tenant, rate_limits={"search": 100_000})
    container = search_backend.relays[REGION].containers[ARTIFACT_EVENTS_FUNCTION.name]
    publish(container, tenant, "map-times", "2026-11-20T10:00:00.000+00:00")
    search_backend.fire_schedule("index-rebuild", REGION)
    assert search_backend.keys is not None
    return Client(search_backend, search_backend.keys, tenant, "vic", scopes=(), roles=("viewer",))


# -- item 3: the calendar's ends, and numbers ------------------------------------------------------


@pytest.mark.parametrize("value", [EARLY, LATE])
@pytest.mark.parametrize(("path", "parameter"), PARAMETERS)
def test_a_date_time_at_the_calendar_s_ends_is_answered_never_a_500(
    caller: Client, path: str, parameter: str, value: str
) -> None:
    answer = get(caller, path, **{parameter: value})
    if path.startswith(("/dashboard", "/metrics")):  # a range needs its previous period: not there
        problem(answer, 422, "invalid_range")
    else:
        assert answer.status == 200, answer.body[:500]


@pytest.mark.parametrize("value", [EARLY, LATE])
@pytest.mark.parametrize(("path", "parameter"), SEARCH_PARAMETERS)
def test_a_search_bounded_at_the_calendar_s_ends_is_answered_never_a_500(
    searcher: Client, path: str, parameter: str, value: str
) -> None:
    answer = get(searcher, path, q="map", **{parameter: value})
    assert answer.status == 200, answer.body[:500]
    keeps = (parameter, value) in {("updated_from", EARLY), ("updated_to", LATE)}  # the whole calendar
    assert [hit["id"] for hit in answer.json()["hits"]] == (["map-times"] if keeps else [])


def test_a_dashboard_range_within_the_calendar_at_its_end_is_answered(caller: Client) -> None:
    answer = get(caller, "/metrics/mapping", **{"from": "9999-12-20T00:00:00Z", "to": "9999-12-21T00:00:00Z"})
    assert answer.status == 200, answer.body[:500]
    assert answer.json()["range"] == {
        "from": "9999-12-20T00:00:00.000+00:00",
        "to": "9999-12-21T00:00:00.000+00:00",
    }


@pytest.mark.parametrize("value", ["0.5", "1700000000", "-1", "2026-11-20", "2026-11-20T10:00:00 05:00"])
@pytest.mark.parametrize(("path", "parameter"), PARAMETERS)
def test_anything_but_a_date_time_is_a_422_at_its_parameter(
    caller: Client, path: str, parameter: str, value: str
) -> None:
    document = problem(get(caller, path, **{parameter: value}), 422, "validation_failed")
    assert [e["pointer"] for e in document["errors"]] == [f"/{parameter}"]


@pytest.mark.parametrize(("path", "parameter"), SEARCH_PARAMETERS)
def test_a_search_bound_that_is_a_number_is_a_422(searcher: Client, path: str, parameter: str) -> None:
    document = problem(get(searcher, path, **{parameter: "0.5"}), 422, "validation_failed")
    assert [e["pointer"] for e in document["errors"]] == [f"/{parameter}"]


# -- the class of bug: any date-time of the calendar, with any offset --------------------------------

OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# Near the stored times as often as anywhere in the calendar, so both sides of a bound are met.
MOMENTS = st.one_of(
    st.datetimes(),
    st.datetimes(min_value=datetime(2026, 11, 18), max_value=datetime(2026, 11, 22)),
    st.sampled_from([datetime.min, datetime.max]),
)
STAMPED = st.builds(lambda moment, offset: moment.replace(tzinfo=offset), MOMENTS, OFFSETS)
NUMBERS = st.one_of(st.integers().map(str), st.floats(allow_nan=False).map(str))


def selects(bound: datetime, parameter: str, at: datetime) -> bool:
    """Whether a bound keeps an item of time `at` (aware comparisons never overflow)."""
    return bound <= at if parameter.endswith("from") else at <= bound


@given(bound=STAMPED, parameter=st.sampled_from(["from", "to"]))
@PROPERTY
def test_jobs_are_selected_by_any_date_time_as_it_says(
    caller: Client, bound: datetime, parameter: str
) -> None:
    jobs = caller.call("GET", "/jobs").json()["items"]
    if not jobs:
        assert caller.call("POST", "/jobs/reindex", body={"index": "search"}).status == 201
        jobs = caller.call("GET", "/jobs").json()["items"]
    at = datetime.fromisoformat(jobs[0]["requested_at"])
    answer = get(caller, "/jobs", **{parameter: bound.isoformat()})
    assert answer.status == 200, answer.body[:500]
    # Job ids carry the millisecond they were made: a bound within it may keep the job either way.
    if abs(bound - at) > timedelta(milliseconds=1):
        assert bool(answer.json()["items"]) == selects(bound, parameter, at), (bound, at)


@given(bound=STAMPED, parameter=st.sampled_from(["created_from", "created_to", "updated_from", "updated_to"]))
@PROPERTY
def test_artifacts_are_selected_by_any_date_time_as_it_says(
    caller: Client, backend: LocalBackend, bound: datetime, parameter: str
) -> None:
    if not get(caller, "/artifacts/search").json()["items"]:
        container = backend.relays[REGION].containers[ARTIFACT_EVENTS_FUNCTION.name]
        publish(container, caller.tenant, "map-times", "2026-11-20T10:00:00.000+00:00")
    artifact = get(caller, "/artifacts/search").json()["items"][0]
    at = datetime.fromisoformat(artifact["updated_at" if parameter.startswith("updated") else "created_at"])
    answer = get(caller, "/artifacts/search", **{parameter: bound.isoformat()})
    assert answer.status == 200, answer.body[:500]
    if abs(bound - at) > timedelta(milliseconds=1):  # answers keep milliseconds
        assert bool(answer.json()["items"]) == selects(bound, parameter, at), (bound, at)


@given(bound=STAMPED, parameter=st.sampled_from(["updated_from", "updated_to"]))
@settings(PROPERTY, max_examples=25)
def test_a_search_is_bounded_by_any_date_time_as_it_says(
    searcher: Client, bound: datetime, parameter: str
) -> None:
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    answer = get(searcher, "/search", q="map", **{parameter: bound.isoformat()})
    assert answer.status == 200, answer.body[:500]
    # `updated_to` is exclusive on /search; the index keeps whole seconds.
    if abs(bound - at) > timedelta(seconds=1):
        assert bool(answer.json()["hits"]) == selects(bound, parameter, at), (bound, at)


@given(
    start=st.one_of(st.none(), STAMPED),
    end=st.one_of(st.none(), STAMPED),
    path=st.sampled_from(["/dashboard", "/metrics/cost"]),
)
@settings(PROPERTY, max_examples=30)
def test_a_dashboard_range_of_any_date_times_is_answered_or_refused_as_a_range(
    caller: Client, start: datetime | None, end: datetime | None, path: str
) -> None:
    query = {name: value.isoformat() for name, value in (("from", start), ("to", end)) if value is not None}
    answer = get(caller, path, **query)
    if answer.status != 200:
        problem(answer, 422, "invalid_range")  # from after to, over a year, or at the calendar's ends


@given(value=NUMBERS, at=st.sampled_from(PARAMETERS))
@settings(PROPERTY, max_examples=30)
def test_no_number_is_a_date_time_on_any_route(caller: Client, value: str, at: tuple[str, str]) -> None:
    path, parameter = at
    document = problem(get(caller, path, **{parameter: value}), 422, "validation_failed")
    assert [e["pointer"] for e in document["errors"]] == [f"/{parameter}"]
