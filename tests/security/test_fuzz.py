"""Schemathesis against every REST function's own OpenAPI document, over HTTP through the local
gateway (real authorizer, real function, moto), with a valid admin token of a tenant of its own.

Checks: no 5xx (`not_a_server_error`), every answer conforms to the schema documented for its status
(`response_schema_conformance`), every status is documented or one of the shared layer's problem
answers (`documented_or_problem`, in place of `status_code_conformance`), a request the document
says is valid is accepted (`positive_data_acceptance`) and one it says is invalid is refused
(`negative_data_rejection`): the document says exactly what the server accepts.

What is relaxed, and why:
- Undocumented 4xx: FastAPI's OpenAPI lists a route's success, its 422 and what the route declares,
  not the refusals of the guard and the error mapping (400, 404, 409, 412, 413, ...). Those pass if
  their status is in UNDOCUMENTED_STATUSES and they come as a problem document of that status with
  one of our codes for it. 401, 421, 429, 5xx and a scope or tenant refusal are never excused.
- If-Match is sent as `*` on the routes that take it, unless the case's headers are the invalid
  part of a negative case: generated ETags never match, and every case would stop at 412 before the
  code under test.
- RULES: what no schema can say, each named, documented and excused only for the cases it concerns
  and only with its own refusal: a cursor is one the API issued (signed), `from` comes before `to`,
  a range is given either by name or by its ends. Nothing else is excused, and no check is off.
- The coverage and stateful phases are off, and the seed is fixed: a bounded, reproducible run
  (a few examples per operation, each operation within a time budget) inside `make test`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
)

from gui_core.errors import PROBLEM_CONTENT_TYPE, ProblemError, problem_type
from gui_core.rate_limit import DEFAULT_LIMITS
from stacks.manifest import MANIFEST
from tests.security.support import (
    CASES,
    EXCUSED_BY_RULE,
    FAILED_OPERATIONS,
    FUZZED_OPERATIONS,
    HOME,
    ROUTED_FUNCTIONS,
    Caller,
    build_app,
    provision,
    unique,
)

if TYPE_CHECKING:
    from local.keys import DevKeys
    from local.runtime import LocalBackend

MAX_EXAMPLES = 15  # per operation
OPERATION_BUDGET_S = 1.5  # per operation: every operation is fuzzed, later cases are not sent
CONFIG = {
    # A fixed seed: `make test` sends the same cases on every run (change it to explore further).
    "seed": 20261127,
    # The test sends the credential itself (a fresh token per case): the document's security schemes
    # (the bearer token, the SSE route's stream ticket) are not for schemathesis to fill or negate.
    "generation": {
        "max-examples": MAX_EXAMPLES,
        "database": "none",
        "mode": "all",
        "deterministic": True,
        "with-security-parameters": False,
    },
    # The coverage phase enumerates every boundary of every parameter: hundreds of cases per
    # operation, more than the time this suite has. Examples and fuzzing stay.
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}
GENEROUS = dict.fromkeys(DEFAULT_LIMITS, 1_000_000)  # every route class

# The statuses any route may answer without documenting them (FastAPI's OpenAPI lists a route's
# success, its 422 and what the route declares, not the refusals of the guard and the error mapping),
# each only as a problem document with a code of that status: a code of our error hierarchy or of
# the gateway's responses. Never excused, so failures if seen: 401 (the token is valid), 403 for a
# scope or an unknown tenant (every scope, a provisioned tenant), 421 (homed here), 429 (limits are
# generous), 5xx, and FastAPI's own `http_error`.
UNDOCUMENTED_STATUSES = (400, 403, 404, 405, 409, 412, 413, 415, 422, 428)
NEVER_EXPECTED = frozenset({"forbidden", "insufficient_scope", "tenant_unknown"})


def _problem_codes() -> dict[int, set[str]]:
    """Every problem code by status: our error classes (those of the functions' packages too, which
    building their apps imported) and the gateway's responses."""
    codes: dict[int, set[str]] = {}
    classes: list[type[ProblemError]] = [ProblemError]
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        codes.setdefault(cls.status, set()).add(cls.code)
    for response in MANIFEST.gateway_responses:
        if response.status is not None:
            codes.setdefault(response.status, set()).add(response.code)
    return codes


_started: dict[str, float] = {}  # when each operation got its first case


def _schema(name: str) -> Any:
    fn = next(f for f in ROUTED_FUNCTIONS if f.name == name)
    config = SchemathesisConfig.from_dict(CONFIG)
    return schemathesis.openapi.from_dict(build_app(fn).openapi(), config=config)


def _schemas() -> tuple[dict[str, Any], dict[str, str]]:
    """Every routed function's schema; a function whose app cannot be built is listed apart, so
    one such function fails one test instead of the collection of this file."""
    built, failed = {}, {}
    for fn in ROUTED_FUNCTIONS:
        try:
            built[fn.name] = _schema(fn.name)
        except Exception as exc:
            failed[fn.name] = f"{type(exc).__name__}: {exc}"
    return built, failed


SCHEMAS, UNBUILT = _schemas()
SHARED_PROBLEMS = {
    status: _problem_codes().get(status, set()) - NEVER_EXPECTED for status in UNDOCUMENTED_STATUSES
}
# Which function documents each operation (its own document's paths: `/jobs/ingest`, ...).
FUNCTION_OF = {
    (method.upper(), path): name
    for name, schema in SCHEMAS.items()
    for path, item in schema.raw_schema["paths"].items()
    for method in item
}


@dataclass(frozen=True)
class Refusal:
    """A positive case's refusal: what the case sent (query and headers by lower-cased name, the
    body) and the field errors of the answer."""

    sent: dict[str, Any]
    body: Any
    errors: list[dict[str, Any]]

    def get(self, name: str) -> Any:
        return self.sent.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.sent

    def body_at(self, pointer: str) -> Any:
        """The body's value at a problem's JSON pointer; None where there is none."""
        value = self.body
        try:
            for part in pointer.strip("/").split("/") if pointer.strip("/") else ():
                value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
        return value


@dataclass(frozen=True)
class Rule:
    """A rule of the API that no OpenAPI schema can state: a valid-looking request it refuses, with
    `status` and one of `codes`. Excused by name in positive cases only, where `concerns` holds."""

    name: str
    why: str
    concerns: Callable[[Refusal], bool]
    status: int
    codes: frozenset[str]


RULES = (
    Rule(
        "issued_cursor",
        "A cursor is one the API issued for this list, tenant and query (signed: gui_core.cursors), "
        "and a live cursor (`since`, `Last-Event-ID`) an event's id, whose first digits count the "
        "rest; a schema gives their alphabet and length, not that.",
        lambda sent: any(name in sent for name in ("cursor", "since", "last-event-id")),
        400,
        frozenset({"invalid_cursor"}),
    ),
    Rule(
        "from_before_to",
        "A time range's start is not after its end (`from`/`to`, `created_from`/`created_to`, "
        "`updated_from`/`updated_to`; the dashboard's `to` defaults to now and its `from` must be "
        "before it): a relation between two parameters, or one and the time of the request.",
        lambda sent: (
            _after(sent.get("from"), sent.get("to") or datetime.now(UTC).isoformat())
            or any(_after(sent.get(f"{p}from"), sent.get(f"{p}to")) for p in ("created_", "updated_"))
        ),
        422,
        frozenset({"validation_failed", "invalid_range"}),
    ),
    Rule(
        "range_within_bounds",
        "A dashboard range (`to` defaults to now, `from` to 7 days before `to`) spans at most 366 "
        "days, and it and the period before it, of the same length, lie within the years 1 to 9999: "
        "relations between two parameters and the time of the request.",
        lambda sent: "range" not in sent and _out_of_bounds(sent.get("from"), sent.get("to")),
        422,
        frozenset({"invalid_range"}),
    ),
    Rule(
        "points_per_bucket",
        "A module's series has at most 200 points: the `bucket` given must fit the range's length.",
        lambda sent: "bucket" in sent,
        422,
        frozenset({"too_many_points"}),
    ),
    Rule(
        "range_xor_from_to",
        "The dashboard's time range is given by name (`range`) or by its ends (`from`, `to`), not both.",
        lambda sent: "range" in sent and ("from" in sent or "to" in sent),
        422,
        frozenset({"invalid_range"}),
    ),
    Rule(
        "significant_digits",
        "A number stored has at most 38 significant digits (DynamoDB's); a JSON schema states its "
        "magnitudes (gui_core.storable), not how many digits it has.",
        lambda sent: (
            bool(sent.errors)
            and all(
                e.get("type") == "unstorable_number" and "significant digits" in e.get("message", "")
                for e in sent.errors
            )
        ),
        422,
        frozenset({"validation_failed"}),
    ),
    Rule(
        "graphql_document",
        "A GraphQL request's `query` is a document in the GraphQL language that fits the schema and "
        "the limits on depth, aliases and cost, its `variables` fit the document, and a persisted "
        "query's hash names a document known or sent with it: a schema gives them as a string and "
        "objects (gui_graphql.execution, gui_graphql.persisted).",
        lambda sent: True,  # only the GraphQL route answers these codes
        400,
        frozenset(
            {
                "graphql_request_invalid",
                "graphql_parse_failed",
                "graphql_validation_failed",
                "query_too_deep",
                "too_many_aliases",
                "query_too_costly",
                "persisted_query_not_found",
                "persisted_query_mismatch",
            }
        ),
    ),
    Rule(
        "integer_notation",
        "An integer is written as one (`4`, not `4.0`): JSON Schema's `integer` is any number without "
        "a fraction, however written, and a stored integer comes back as the integer it was.",
        lambda sent: (
            bool(sent.errors)
            and all(
                e.get("type") == "int_type" and _integral_float(sent.body_at(e.get("pointer", "")))
                for e in sent.errors
            )
        ),
        422,
        frozenset({"validation_failed"}),
    ),
)


def _integral_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _after(start: Any, end: Any) -> bool:
    """Both given as times, and `start` not before `end` (a time without offset is UTC)."""
    start_at, end_at = _time(start), _time(end)
    return start_at is not None and end_at is not None and start_at >= end_at


def _out_of_bounds(start: Any, end: Any) -> bool:
    """The dashboard's range of `from`/`to` (gui_dashboard.logic.resolve_range) spans more than
    366 days, or it and the period before it leave the years 1 to 9999 (a margin of a day)."""
    if start is None and end is None:
        return False
    end_at = _time(end) if end is not None else datetime.now(UTC)
    start_at = _time(start) if start is not None else (end_at - timedelta(days=7) if end_at else None)
    if start_at is None or end_at is None:
        return False
    span = end_at - start_at
    earliest, latest = datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)
    return span > timedelta(days=366) or end_at - earliest < 2 * span or end_at > latest


def _time(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _rule_excusing(case: Any, response: Any) -> Rule | None:
    try:
        document = response.json()
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    code = document.get("code")
    sent = Refusal(
        {k.lower(): v for part in (case.query, case.headers) for k, v in (part or {}).items()},
        case.body if isinstance(case.body, dict | list) else None,
        list(document.get("errors") or []),
    )
    return next(
        (r for r in RULES if r.status == response.status_code and code in r.codes and r.concerns(sent)),
        None,
    )


@schemathesis.check
def accepted_unless_a_named_rule(ctx: Any, response: Any, case: Any) -> bool | None:
    """`positive_data_acceptance`, but for a refusal a rule of RULES explains."""
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and response.status_code >= 400:
        rule = _rule_excusing(case, response)
        if rule is not None:
            EXCUSED_BY_RULE[rule.name] += 1
            return None
    return positive_data_acceptance(ctx, response, case)


@schemathesis.check
def documented_or_problem(ctx: Any, response: Any, case: Any) -> bool | None:
    """A success is documented for the operation; a refusal is a problem document whose status is
    documented or one of SHARED_PROBLEMS, with a code of that status."""
    documented = {int(code) for code in case.operation.responses.status_codes if code.isdigit()}
    status = response.status_code
    if status < 400:
        assert status in documented, f"{case.method} {case.path}: undocumented status {status}"
        return None
    allowed = SHARED_PROBLEMS.get(status, set())
    assert status in documented or allowed, f"{case.method} {case.path}: undocumented status {status}"
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type == PROBLEM_CONTENT_TYPE, (
        f"{status} answered as {content_type!r}: {response.text[:200]}"
    )
    body = response.json()
    assert body.get("code") in allowed, f"{status} with code {body.get('code')!r}"
    assert body.get("type") == problem_type(body["code"])
    assert body.get("status", status) == status
    assert isinstance(body.get("title"), str)
    return None


@pytest.fixture(scope="module")
def fuzz_callers(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> dict[str, Caller]:
    """An admin with every scope per function, each of a tenant of its own: fuzzing the admin group
    turns flags off, which must not hide the preferences group from its own fuzzing."""
    callers = {}
    for fn in ROUTED_FUNCTIONS:
        tenant = unique(f"sec-fuzz-{fn.name.removeprefix('gui_')}")
        provision(dynamodb, tenant, rate_limits=GENEROUS)
        callers[fn.name] = Caller(
            backend, keys, tenant, unique("admin"), ("gui:license:restricted",), ("admin",)
        )
    return callers


@schemathesis.pytest.parametrize(**SCHEMAS)
def test_no_server_error_and_every_answer_conforms_to_the_schema(
    case: Any, backend: LocalBackend, fuzz_callers: dict[str, Caller]
) -> None:
    label = f"{case.method} {case.path}"
    started = _started.setdefault(label, time.monotonic())
    if time.monotonic() - started > OPERATION_BUDGET_S:
        CASES["schemathesis_unsent"] += 1
        return
    CASES["schemathesis"] += 1
    FUZZED_OPERATIONS.add(label)
    caller = fuzz_callers[FUNCTION_OF[(case.method, case.path)]]
    headers = {"Authorization": f"Bearer {caller.token()}"}  # a new token per case: no replays
    if "tenant" in (case.path_parameters or {}):
        # A path naming another tenant is refused before anything else: fuzz the rest of the request.
        case.path_parameters = {**case.path_parameters, "tenant": caller.tenant}
    if "If-Match" in (case.headers or {}) and not _negated(case, ParameterLocation.HEADER):
        # Routes that take If-Match compare it with the current ETag, which generated values never
        # match; `*` lets the mutation through to the code under test.
        case.headers = {**case.headers, "If-Match": "*"}
    if "Idempotency-Key" in (case.headers or {}) and not _negated(case, ParameterLocation.HEADER):
        # A generated key repeats across cases with other bodies (422 idempotency_key_reused, as
        # documented): each case is a new command.
        case.headers = {**case.headers, "Idempotency-Key": unique("fuzz")}
    try:
        response = case.call(base_url=backend.base_urls[HOME], headers=headers)
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                response_schema_conformance,
                documented_or_problem,
                accepted_unless_a_named_rule,
                negative_data_rejection,
            ],
        )
    except BaseException:
        FAILED_OPERATIONS.add(label)
        raise


def _negated(case: Any, location: ParameterLocation) -> bool:
    component = case.meta.components.get(location) if case.meta is not None else None
    return component is not None and component.mode.is_negative


@pytest.mark.parametrize("fn_name", list(SCHEMAS))
def test_every_documented_refusal_is_documented_as_a_problem(fn_name: str) -> None:
    """What the OpenAPI promises for a 4xx is what the API sends: application/problem+json. (FastAPI
    documents its own 422 body, `HTTPValidationError` as application/json, on every route that
    takes parameters or a body, unless the app replaces it.)"""
    document = SCHEMAS[fn_name].raw_schema
    wrong = sorted(
        f"{method.upper()} {path} {status}: {sorted(response.get('content', {}))}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for status, response in operation.get("responses", {}).items()
        if status.startswith("4")
        and response.get("content")
        and set(response["content"]) != {PROBLEM_CONTENT_TYPE}
    )
    assert not wrong, "documented refusals that are not problem documents:\n" + "\n".join(wrong)


def test_every_routed_function_is_fuzzed() -> None:
    assert not UNBUILT, f"no OpenAPI document to fuzz: {UNBUILT}"
