"""Schemathesis against every REST function's own OpenAPI document, over HTTP through the local
gateway (real authorizer, real function, moto), with a valid admin token of a tenant of its own.

Checks: no 5xx (`not_a_server_error`), every answer conforms to the schema documented for its status
(`response_schema_conformance`), and every status is documented or one of the shared layer's
problem answers (`documented_or_problem`, in place of `status_code_conformance`).

What is relaxed, and why:
- Undocumented 4xx: FastAPI's OpenAPI lists a route's success, its 422 and what the route declares,
  not the refusals of the guard and the error mapping (400, 404, 409, 412, 413, ...). Those pass if
  their status is in UNDOCUMENTED_STATUSES and they come as a problem document of that status with
  one of our codes for it. 401, 421, 429, 5xx and a scope or tenant refusal are never excused.
- If-Match is sent as `*` on the routes that take it: generated ETags never match, and every case
  would stop at 412 before the code under test.
- The coverage and stateful phases are off, and the seed is fixed: a bounded, reproducible run
  (a few examples per operation, each operation within a time budget) inside `make test`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance

from gui_core.errors import PROBLEM_CONTENT_TYPE, ProblemError, problem_type
from gui_core.rate_limit import DEFAULT_LIMITS
from stacks.manifest import MANIFEST
from tests.security.support import (
    CASES,
    FAILED_OPERATIONS,
    FUZZED_OPERATIONS,
    HOME,
    ROUTED_FUNCTIONS,
    ROUTES,
    Caller,
    build_app,
    provision,
    shape,
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
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none", "mode": "all", "deterministic": True},
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
# By shape: the manifest's `/jobs/{id}` is the app's `/jobs/{verb}` and `/jobs/{job_id}`.
FUNCTION_OF = {(route.method, shape(route.full_path)): fn.name for route, fn in ROUTES}


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
    caller = fuzz_callers[FUNCTION_OF[(case.method, shape(case.path))]]
    headers = {"Authorization": f"Bearer {caller.token()}"}  # a new token per case: no replays
    if "tenant" in (case.path_parameters or {}):
        # A path naming another tenant is refused before anything else: fuzz the rest of the request.
        case.path_parameters = {**case.path_parameters, "tenant": caller.tenant}
    if any(p.name == "If-Match" for p in case.operation.headers):
        # Routes that take If-Match compare it with the current ETag, which generated values never
        # match; `*` lets the mutation through to the code under test.
        case.headers = {**(case.headers or {}), "If-Match": "*"}
    try:
        response = case.call(base_url=backend.base_urls[HOME], headers=headers)
        case.validate_response(
            response, checks=[not_a_server_error, response_schema_conformance, documented_or_problem]
        )
    except BaseException:
        FAILED_OPERATIONS.add(label)
        raise


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
