"""Every value a route stores round-trips exactly (JSON in, DynamoDB, JSON out) or is refused with a
422 at its own field before anything is written (issue 18, items 1 and 2 and the class of bug):
saved views' filters, the users' and the tenant's default filters, job parameters and feature flags,
through the real authorizer and handlers on moto. A number DynamoDB cannot hold (`1e309`, `NaN`,
`1e300`, `1e-200`, 39 significant digits) was a 500, or a false 409 or 412; a string of 300 zeros was
stored as the integer 0. The property tests (hypothesis, bounded) send what a client may send."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.gateway import HttpResponse
from tests.contract.conftest import Client, problem, provision, table
from tests.dynamodb_values import JSON_VALUES, NUMBERS, TEXT, body, holds, is_text, same_json

UNSTORABLE = ["1e309", "-1e309", "NaN", "-Infinity", "1e300", "1e-200", "9" * 39]
_names = itertools.count()
# Examples are requests to the local gateway (about 10 ms each): enough to meet each kind of value
# several times, few enough for `make test`.
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def partition(dynamodb: Any, store: str, tenant: str) -> list[dict[str, Any]]:
    """Every item of the tenant in a store, as DynamoDB has it."""
    answer = dynamodb.query(
        TableName=table(store),
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": tenant}},
        ConsistentRead=True,
    )
    items: list[dict[str, Any]] = answer["Items"]
    return items


def refused_at(answer: HttpResponse, pointer: str) -> None:
    """A 422 problem whose every field error is at `pointer` (or inside it)."""
    document = problem(answer, 422, "validation_failed")
    pointers = [e["pointer"] for e in document["errors"]]
    assert pointers, document
    assert all(p == pointer or p.startswith(pointer + "/") for p in pointers), pointers


def filter_value_ok(value: Any) -> bool:
    """A saved filter's value the API documents: text up to 256 characters, a number, a boolean,
    or up to 50 texts; every number one DynamoDB holds."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return holds(value)
    if isinstance(value, str):
        return len(value) <= 256 and is_text(value)
    if isinstance(value, list):
        return len(value) <= 50 and all(isinstance(v, str) and filter_value_ok(v) for v in value)
    return False


# -- the doors through which a filter value is stored ----------------------------------------------


def _user(client: Client) -> Client:
    return client


def _admin(client: Client) -> Client:
    return client.as_user(f"{client.subject}-admin", roles=("admin",))


def _new_view(client: Client, value: bytes) -> HttpResponse:
    raw = b'{"name":"v%d","module":"jobs","filters":{"v":%s}}' % (next(_names), value)
    return client.call("POST", "/preferences/views", raw=raw)


def _view_of(answer: HttpResponse, client: Client) -> Any:
    view = client.call("GET", f"/preferences/views/{answer.json()['id']}").json()
    assert same_json(view, answer.json())  # the same numbers: 2.1e16 may come back as 21000000000000000
    return view["filters"]["v"]


_existing: dict[str, str] = {}


def _existing_view(client: Client) -> str:
    """The id of a view of the caller's, made on first use."""
    if client.tenant not in _existing:
        created = client.call("POST", "/preferences/views", body={"name": "kept", "module": "jobs"})
        assert created.status == 201, created.body
        _existing[client.tenant] = created.json()["id"]
    return _existing[client.tenant]


def _replaced_view(client: Client, value: bytes) -> HttpResponse:
    raw = b'{"name":"kept","module":"jobs","filters":{"v":%s}}' % value
    return client.call("PUT", f"/preferences/views/{_existing_view(client)}", raw=raw)


def _user_defaults(client: Client, value: bytes) -> HttpResponse:
    raw = b'{"default_filters":{"jobs":{"v":%s}}}' % value
    return client.call("PUT", "/preferences", raw=raw, headers={"If-Match": "*"})


def _user_default_of(answer: HttpResponse, client: Client) -> Any:
    document = client.call("GET", "/preferences").json()
    assert same_json(document["overrides"], answer.json()["overrides"])
    return document["overrides"]["default_filters"]["jobs"]["v"]


def _tenant_defaults(client: Client, value: bytes) -> HttpResponse:
    raw = b'{"defaults":{"default_filters":{"jobs":{"v":%s}}}}' % value
    return _admin(client).call("PUT", "/preferences/tenant", raw=raw, headers={"If-Match": "*"})


def _tenant_default_of(answer: HttpResponse, client: Client) -> Any:
    document = _admin(client).call("GET", "/preferences/tenant").json()
    assert same_json(document["defaults"], answer.json()["defaults"])
    return document["defaults"]["default_filters"]["jobs"]["v"]


Door = tuple[Callable[[Client, bytes], HttpResponse], str, Callable[[HttpResponse, Client], Any]]
DOORS: dict[str, Door] = {
    "POST /preferences/views": (_new_view, "/filters/v", _view_of),
    "PUT /preferences/views/{id}": (_replaced_view, "/filters/v", _view_of),
    "PUT /preferences": (_user_defaults, "/default_filters/jobs/v", _user_default_of),
    "PUT /preferences/tenant": (_tenant_defaults, "/defaults/default_filters/jobs/v", _tenant_default_of),
}


# -- item 1: numbers DynamoDB cannot hold ----------------------------------------------------------


@pytest.mark.parametrize("number", UNSTORABLE)
@pytest.mark.parametrize("door", DOORS)
def test_a_filter_number_dynamodb_cannot_hold_is_a_422_at_its_field_and_nothing_is_written(
    client: Client, dynamodb: Any, door: str, number: str
) -> None:
    send, pointer, _ = DOORS[door]
    _existing_view(client)  # a refused replacement leaves it as it was
    before = partition(dynamodb, "preferences", client.tenant)
    refused_at(send(client, number.encode()), pointer)
    assert partition(dynamodb, "preferences", client.tenant) == before


@pytest.mark.parametrize("number", UNSTORABLE)
@pytest.mark.parametrize(
    ("verb", "parameters", "pointer"),
    [
        ("mapping", b'{"source_scheme":"a","target_scheme":"b","threshold":%s}', "/threshold"),
        ("prompt-pack-calibration", b'{"prompt_pack_id":"p","temperature":%s}', "/temperature"),
    ],
)
def test_a_job_parameter_dynamodb_cannot_hold_is_a_422_and_no_job_is_written(
    client: Client, dynamodb: Any, verb: str, parameters: bytes, pointer: str, number: str
) -> None:
    operator = client.as_user(f"{client.subject}-op", roles=("operator",))
    refused_at(operator.call("POST", f"/jobs/{verb}", raw=parameters % number.encode()), pointer)
    assert partition(dynamodb, "jobs", client.tenant) == []


# -- item 2: a string stays a string, a number the same number -------------------------------------


def test_a_long_numeric_filter_string_is_refused_as_too_long_never_read_as_a_number(client: Client) -> None:
    for digits in ("0" * 300, "9" * 300):  # once stored as the integer 0, and a 500
        answer = _new_view(client, json.dumps(digits).encode())
        document = problem(answer, 422, "validation_failed")
        assert [(e["pointer"], e["type"]) for e in document["errors"]] == [("/filters/v", "string_too_long")]
    assert client.call("GET", "/preferences/views").json()["items"] == []


def test_filter_strings_and_numbers_come_back_as_they_were_sent(client: Client) -> None:
    filters = {
        "zeros": "0" * 256,
        "padded": "007",
        "exponent": "1e5",
        "nan": "NaN",
        "truth": "true",
        "digits": "9" * 40,
        "big": 10**40,  # 41 digits, one significant: once a 500
        "large": 1e20,
        "tenth": 0.1,
        "nines": int("9" * 38),
        "list": ["0" * 30, "12"],
    }
    created = client.call(
        "POST", "/preferences/views", body={"name": "n", "module": "jobs", "filters": filters}
    )
    assert created.status == 201, created.body
    for answer in (created.json(), client.call("GET", f"/preferences/views/{created.json()['id']}").json()):
        assert same_json(answer["filters"], filters), answer["filters"]
    assert json.loads(created.body)["filters"]["big"] == 10**40


@pytest.mark.parametrize(
    ("verb", "parameters", "pointer"),
    [
        ("mapping", {"source_scheme": "a", "target_scheme": "b", "threshold": "0.5"}, "/threshold"),
        ("mapping", {"source_scheme": "a", "target_scheme": "b", "max_candidates": "5"}, "/max_candidates"),
        ("coverage", {"concept_scheme": "c", "include_deprecated": "yes"}, "/include_deprecated"),
        ("reindex", {"index": "search", "full": 1}, "/full"),
    ],
)
def test_a_job_parameter_sent_as_a_string_is_refused_never_converted(
    client: Client, dynamodb: Any, verb: str, parameters: dict[str, Any], pointer: str
) -> None:
    operator = client.as_user(f"{client.subject}-op", roles=("operator",))
    refused_at(operator.call("POST", f"/jobs/{verb}", body=parameters), pointer)
    assert partition(dynamodb, "jobs", client.tenant) == []


@pytest.mark.parametrize("value", ["no", "true", 0, 1, None])
def test_a_feature_flag_is_a_boolean_never_read_from_a_string_or_a_number(
    client: Client, dynamodb: Any, value: Any
) -> None:
    admin = _admin(client)
    before = partition(dynamodb, "tenants", client.tenant)
    answer = admin.call(
        "PUT", "/admin/tenant/flags", body={"flags": {"x_beta": value}}, headers={"If-Match": "*"}
    )
    refused_at(answer, "/flags/x_beta")
    assert partition(dynamodb, "tenants", client.tenant) == before


# -- the class of bug: whatever a client sends ------------------------------------------------------


@pytest.fixture
def examples(client: Client, dynamodb: Any) -> Client:
    """The caller, its tenant's limits raised: a property's examples are not a flood to refuse."""
    limits = {"writes": 100_000, "reads": 100_000, "admin": 100_000, "job_commands": 100_000}
    provision(dynamodb, client.tenant, rate_limits=limits)
    return client


def _round_trip(client: Client, dynamodb: Any, door: str, value: Any) -> None:
    send, pointer, read = DOORS[door]
    if not filter_value_ok(value):
        _existing_view(client)
        before = partition(dynamodb, "preferences", client.tenant)
        answer = send(client, body(value))
        assert answer.status < 500, answer.body[:500]
        refused_at(answer, pointer)
        assert partition(dynamodb, "preferences", client.tenant) == before
        return
    answer = send(client, body(value))
    assert answer.status == (201 if door.startswith("POST ") else 200), answer.body[:500]  # made, replaced
    assert same_json(read(answer, client), value), (read(answer, client), value)


@given(value=JSON_VALUES)
@PROPERTY
def test_a_saved_view_keeps_any_filter_value_exactly_or_refuses_it_untouched(
    examples: Client, dynamodb: Any, value: Any
) -> None:
    _round_trip(examples, dynamodb, "POST /preferences/views", value)


@given(value=JSON_VALUES)
@PROPERTY
def test_a_user_s_default_filters_keep_any_value_exactly_or_refuse_it_untouched(
    examples: Client, dynamodb: Any, value: Any
) -> None:
    _round_trip(examples, dynamodb, "PUT /preferences", value)


@given(value=st.one_of(NUMBERS, TEXT, st.lists(TEXT, max_size=3)))
@settings(PROPERTY, max_examples=30)
def test_the_tenant_s_default_filters_keep_any_value_exactly_or_refuse_it_untouched(
    examples: Client, dynamodb: Any, value: Any
) -> None:
    _round_trip(examples, dynamodb, "PUT /preferences/tenant", value)


@given(
    threshold=st.one_of(NUMBERS, st.floats(0, 1), st.booleans(), TEXT),
    max_candidates=st.one_of(st.integers(1, 50), NUMBERS, TEXT, st.booleans()),
)
@PROPERTY
def test_a_job_keeps_its_numeric_parameters_exactly_or_refuses_them_and_writes_nothing(
    examples: Client, dynamodb: Any, threshold: Any, max_candidates: Any
) -> None:
    operator = examples.as_user(f"{examples.subject}-op", roles=("operator",))
    parameters = {
        "source_scheme": "a",
        "target_scheme": "b",
        "threshold": threshold,
        "max_candidates": max_candidates,
    }
    threshold_ok = type(threshold) in (int, float) and holds(threshold) and 0 <= threshold <= 1
    candidates_ok = type(max_candidates) is int and 1 <= max_candidates <= 50
    before = partition(dynamodb, "jobs", examples.tenant)
    answer = operator.call("POST", "/jobs/mapping", raw=body(parameters))
    if not (threshold_ok and candidates_ok):
        document = problem(answer, 422, "validation_failed")
        wanted = {p for p, ok in (("/threshold", threshold_ok), ("/max_candidates", candidates_ok)) if not ok}
        assert {e["pointer"] for e in document["errors"]} == wanted, document["errors"]
        assert partition(dynamodb, "jobs", examples.tenant) == before
        return
    assert answer.status == 201, answer.body[:500]
    job = operator.call("GET", f"/jobs/{answer.json()['id']}").json()
    assert same_json(job["parameters"]["threshold"], threshold)
    assert same_json(job["parameters"]["max_candidates"], max_candidates)


@given(value=JSON_VALUES)
@settings(PROPERTY, max_examples=30)
def test_a_feature_flag_keeps_a_boolean_and_refuses_anything_else_untouched(
    examples: Client, dynamodb: Any, value: Any
) -> None:
    admin = _admin(examples)
    before = partition(dynamodb, "tenants", examples.tenant)
    answer = admin.call(
        "PUT", "/admin/tenant/flags", raw=body({"flags": {"x_beta": value}}), headers={"If-Match": "*"}
    )
    if not isinstance(value, bool):
        refused_at(answer, "/flags/x_beta")
        assert partition(dynamodb, "tenants", examples.tenant) == before
        return
    assert answer.status == 200, answer.body[:500]
    assert same_json(admin.call("GET", "/admin/tenant").json()["flags"]["x_beta"], value)
