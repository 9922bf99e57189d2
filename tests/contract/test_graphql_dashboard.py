"""The dashboard's GraphQL fields through the real authorizer, gateway and handler, against moto's
server: `dashboard` and `module_metrics` answer the documents `GET /dashboard` and
`GET /metrics/{module}` answer for the same range (the same use cases, the same metrics cache), with
REST's `Age` header as `age_s`; a refused or invalid field is an error of that field with REST's
problem code and status, and the rest of the answer stands."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import GraphQLObjectType, GraphQLOutputType, get_named_type

from gui_graphql.operations import build_schema
from local.gateway import HttpResponse
from local.runtime import LocalBackend
from tests.contract.conftest import Client, aws, group_backend, problem, provision
from tests.contract.test_dashboard_contract import SCOPE, seed_alerts, seed_artifacts, seed_jobs

# No migration functions: the rollups' backfills are not done, so both doors compute from the
# records, and an explicit range's answer is cached (an answer read twice is the same document).
FUNCTIONS = ("gui_graphql", "gui_dashboard")
_numbers = itertools.count()
SCHEMA = build_schema()


def _selection(output: GraphQLOutputType) -> str:
    """Every field of an object type, nested ones too: the whole document, as REST answers it."""
    named = get_named_type(output)
    if not isinstance(named, GraphQLObjectType):
        return ""
    return "{ " + " ".join(f"{name} {_selection(f.type)}".rstrip() for name, f in named.fields.items()) + " }"


assert SCHEMA.query_type is not None
DASHBOARD = (
    "query($range: String, $from: String, $to: String) "
    "{ dashboard(range: $range, from: $from, to: $to) "
    + _selection(SCHEMA.query_type.fields["dashboard"].type)
    + " }"
)
MODULE_METRICS = (
    "query($module: String!, $range: String, $from: String, $to: String, $bucket: String) "
    "{ module_metrics(module: $module, range: $range, from: $from, to: $to, bucket: $bucket) "
    + _selection(SCHEMA.query_type.fields["module_metrics"].type)
    + " }"
)


@pytest.fixture(scope="module")
def graphql_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    with group_backend(tmp_path_factory, *FUNCTIONS) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(graphql_backend: LocalBackend) -> Any:
    return aws(graphql_backend, "dynamodb")


@pytest.fixture
def viewer(graphql_backend: LocalBackend, ddb: Any) -> Client:
    """A tenant with the dashboard contract's jobs, alerts and artifacts."""
    tenant = f"gql-dash-{next(_numbers)}"
    provision(ddb, tenant)
    seed_jobs(
        ddb,
        tenant,
        [
            ("mapping", "succeeded", 2),
            ("mapping", "succeeded", 5),
            ("mapping", "failed", 10),
            ("mapping", "running", 1),
            ("mapping", "succeeded", 24 * 8),
            ("ingest", "succeeded", 3),
        ],
    )
    seed_alerts(ddb, tenant, [("readiness", "critical", "unread", 1), ("cost", "info", "read", 3)])
    seed_artifacts(ddb, tenant, [("mapping", "approved", 30), ("coverage", "approved", 4)])
    assert graphql_backend.keys is not None
    return Client(graphql_backend, graphql_backend.keys, tenant, "vera", scopes=(SCOPE,))


def graphql(client: Client, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = client.call("POST", "/graphql", body={"query": query, "variables": variables or {}})
    assert answer.status == 200, answer.body[:500]
    body: dict[str, Any] = answer.json()
    return body


def _field(client: Client, query: str, field: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = graphql(client, query, variables)
    assert "errors" not in body, body["errors"]
    document: dict[str, Any] = body["data"][field]
    return document


def _rest(client: Client, path: str, query: str) -> HttpResponse:
    answer = client.call("GET", path, query=query)
    assert answer.status == 200, answer.body[:500]
    return answer


def _age(answer: HttpResponse) -> int:
    return int(answer.header("age") or "-1")


def _query(variables: dict[str, Any]) -> str:
    return "&".join(f"{k}={v}" for k, v in variables.items() if k != "module" and v is not None)


CASES = [
    pytest.param(DASHBOARD, "dashboard", "/dashboard", {"range": "24h"}, id="dashboard-preset"),
    pytest.param(
        DASHBOARD,
        "dashboard",
        "/dashboard",
        {"from": "2026-02-01T00:00:00Z", "to": "2026-02-08T00:00:00Z"},
        id="dashboard-from-to",
    ),
    pytest.param(
        MODULE_METRICS,
        "module_metrics",
        "/metrics/mapping",
        {"module": "mapping", "range": "24h", "bucket": "6h"},
        id="metrics-preset",
    ),
    pytest.param(
        MODULE_METRICS,
        "module_metrics",
        "/metrics/readiness",
        {"module": "readiness", "from": "2026-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"},
        id="metrics-from-to",
    ),
]


@pytest.mark.parametrize(("query", "field", "path", "variables"), CASES)
def test_a_field_answers_the_document_rest_answers(
    viewer: Client, query: str, field: str, path: str, variables: dict[str, Any]
) -> None:
    # REST computes and caches; GraphQL then reads the same cache entry, and REST again: the three
    # are one document (the first says `computed`), and `age_s` is the `Age` between them.
    first = _rest(viewer, path, _query(variables))
    answered = _field(viewer, query, field, variables)
    again = _rest(viewer, path, _query(variables))
    assert first.json()["source"] == "computed"
    age_s = answered.pop("age_s")
    assert answered == again.json()
    assert answered == {**first.json(), "source": "cache"}
    assert _age(first) <= age_s <= _age(again)


def test_a_field_computes_what_rest_then_reads(viewer: Client) -> None:
    """The other way round: GraphQL computes (and caches), REST serves the same figures."""
    variables = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}
    computed = _field(viewer, DASHBOARD, "dashboard", variables)
    rest = _rest(viewer, "/dashboard", _query(variables)).json()
    assert (computed.pop("age_s"), computed["source"], rest["source"]) == (0, "computed", "cache")
    assert computed == {**rest, "source": "computed"}
    figures = {m["module"]: {f["name"]: f["value"] for f in m["figures"]} for m in computed["modules"]}
    assert figures["mapping"]["jobs"] == 0  # a past range: none of the seeded jobs


def test_a_token_without_the_dashboard_scope_gets_an_error_on_the_field_only(viewer: Client) -> None:
    other = viewer.as_user("olga", "gui:notifications")
    body = graphql(
        other,
        '{ dashboard { as_of } module_metrics(module: "mapping") { as_of } '
        "notifications(first: 1) { nodes { id } } }",
    )
    data = body["data"]
    assert (data["dashboard"], data["module_metrics"]) == (None, None)
    assert len(data["notifications"]["nodes"]) == 1  # the rest stands: the tenant's seeded alerts
    assert sorted(e["path"][0] for e in body["errors"]) == ["dashboard", "module_metrics"]
    for error in body["errors"]:
        assert error["extensions"] == {"code": "insufficient_scope", "status": 403, "required_scope": SCOPE}
    problem(other.call("GET", "/dashboard"), 403, "insufficient_scope")


def test_the_feature_flag_off_is_feature_disabled_on_the_field(viewer: Client, ddb: Any) -> None:
    tenant = f"gql-dash-off-{next(_numbers)}"
    provision(ddb, tenant, flags={"dashboard": False})
    off = Client(viewer.backend, viewer.keys, tenant, "otto", scopes=(SCOPE,))
    body = graphql(off, "{ __typename dashboard { as_of } }")
    assert body["data"] == {"__typename": "Query", "dashboard": None}
    (error,) = body["errors"]
    assert error["path"] == ["dashboard"]
    assert error["extensions"] == {"code": "feature_disabled", "status": 404, "feature": "dashboard"}
    assert problem(off.call("GET", "/dashboard"), 404, "feature_disabled")["feature"] == "dashboard"


# REST's invalid ranges and arguments (tests/contract/test_dashboard_contract.py), each with its
# GraphQL twin: the field's error carries REST's code, status and members.
INVALID = [
    ({"from": "2026-02-02T00:00:00Z", "to": "2026-02-01T00:00:00Z"}, "invalid_range"),
    ({"from": "2025-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"}, "invalid_range"),
    ({"range": "90d"}, "invalid_range"),
    ({"range": "7d", "from": "2026-02-01T00:00:00Z"}, "invalid_range"),
    ({"from": "0001-01-01T00:00:00Z", "to": "0001-01-02T00:00:00Z"}, "invalid_range"),
    ({"from": "last-tuesday"}, "validation_failed"),
    ({"to": "1700000000"}, "validation_failed"),
]
INVALID_IDS = [
    "to before from",
    "over a year",
    "unknown range",
    "range and from",
    "year 1",
    "bad from",
    "a number",
]


def _field_error(body: dict[str, Any], field: str) -> dict[str, Any]:
    assert body["data"] == {field: None}
    (error,) = body["errors"]
    assert error["path"] == [field]
    extensions: dict[str, Any] = error["extensions"]
    return extensions


def _same_problem(extensions: dict[str, Any], rest: HttpResponse, code: str) -> None:
    """The field's error is REST's problem: its code and status, and the same members."""
    document = rest.json()
    assert (document["code"], rest.status) == (code, document["status"])
    assert (extensions["code"], extensions["status"]) == (code, rest.status)
    for member, value in extensions.items():
        if member == "errors":  # where: REST's parameter, the field's argument of the same name
            assert [e["pointer"] for e in value] == [e["pointer"] for e in document["errors"]]
        elif member not in ("code", "status"):
            assert document[member] == value, member


@pytest.mark.parametrize(("variables", "code"), INVALID, ids=INVALID_IDS)
@pytest.mark.parametrize(
    ("query", "field", "path"),
    [(DASHBOARD, "dashboard", "/dashboard"), (MODULE_METRICS, "module_metrics", "/metrics/mapping")],
    ids=["dashboard", "module_metrics"],
)
def test_an_invalid_range_is_rests_problem_on_the_field(
    viewer: Client, query: str, field: str, path: str, variables: dict[str, Any], code: str
) -> None:
    given = {**variables, "module": "mapping"} if field == "module_metrics" else variables
    extensions = _field_error(graphql(viewer, query, given), field)
    _same_problem(extensions, viewer.call("GET", path, query=_query(variables)), code)


@pytest.mark.parametrize(
    ("variables", "path", "code"),
    [
        ({"module": "weather"}, "/metrics/weather", "unknown_module"),
        ({"module": "mapping", "bucket": "5m"}, "/metrics/mapping", "invalid_range"),
        ({"module": "readiness", "range": "30d", "bucket": "1h"}, "/metrics/readiness", "too_many_points"),
    ],
    ids=["unknown module", "unknown bucket", "too many points"],
)
def test_a_bad_module_or_bucket_is_rests_problem_on_the_field(
    viewer: Client, variables: dict[str, Any], path: str, code: str
) -> None:
    extensions = _field_error(graphql(viewer, MODULE_METRICS, variables), "module_metrics")
    _same_problem(extensions, viewer.call("GET", path, query=_query(variables)), code)


def test_the_schema_names_rests_fields() -> None:
    """`range { from to }` as REST's JSON spells it, a figure's null value allowed, no mutation."""
    range_type = SCHEMA.get_type("Range")
    assert isinstance(range_type, GraphQLObjectType)
    assert set(range_type.fields) == {"from", "to"}
    figure = SCHEMA.get_type("Figure")
    assert isinstance(figure, GraphQLObjectType)
    assert str(figure.fields["value"].type) == "JSON"
    assert SCHEMA.mutation_type is not None
    assert not {"dashboard", "module_metrics"} & set(SCHEMA.mutation_type.fields)
