"""schemathesis' GraphQL mode over the API's schema (docs/gui/schema.graphql), against the local
gateway as an admin with every scope: every query and mutation field, with generated arguments and
selections. No answer is a server error, and every error is in the documented shape: a field's error
carries its problem `code` and an HTTP `status` of 4xx in `extensions` (a 5xx there is a server error
too), and a refused request is a problem document whose GraphQL `errors` carry the same code."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import graphql
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.graphql import nodes

from gui_core.errors import PROBLEM_CONTENT_TYPE
from tests.security.support import HOME, Caller, provision, unique

if TYPE_CHECKING:
    from local.keys import DevKeys
    from local.runtime import LocalBackend

from pathlib import Path

SDL = Path(__file__).resolve().parents[2] / "docs" / "gui" / "schema.graphql"
OPERATION_BUDGET_S = 1.5  # per field: every field is fuzzed, later cases are not sent
GENEROUS = dict.fromkeys(("reads", "writes", "dashboard", "job_commands", "admin", "search"), 100_000)
CONFIG = {"seed": 20261207, "generation": {"max-examples": 12}}
SEEN: Counter[str] = Counter()
_started: dict[str, float] = {}

# The JSON scalar (a job's parameters, a view's body): small JSON objects.
schemathesis.graphql.scalar(
    "JSON",
    st.dictionaries(
        st.sampled_from(["index", "full", "theme", "name", "module"]), st.booleans(), max_size=2
    ).map(
        lambda d: nodes.Object(
            [
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=nodes.Boolean(v))
                for k, v in d.items()
            ]
        )
    ),
)
SCHEMA = schemathesis.graphql.from_path(SDL, config=SchemathesisConfig.from_dict(CONFIG))


@pytest.fixture(scope="module")
def fuzzer(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> Caller:
    tenant = unique("sec-gql-fuzz")
    provision(dynamodb, tenant, rate_limits=GENEROUS)
    return Caller(backend, keys, tenant, unique("admin"), ("gui:license:restricted",), ("admin",))


def _field_error_in_shape(error: dict[str, Any]) -> None:
    extensions = error.get("extensions") or {}
    assert isinstance(error.get("message"), str), error
    assert isinstance(extensions.get("code"), str), error
    assert isinstance(extensions.get("status"), int), error
    assert 400 <= extensions["status"] < 500, f"a server error in a field: {error}"


@SCHEMA.parametrize()
def test_no_server_error_and_every_error_in_its_documented_shape(
    case: Any, backend: LocalBackend, fuzzer: Caller
) -> None:
    label = case.operation.label
    started = _started.setdefault(label, time.monotonic())
    if time.monotonic() - started > OPERATION_BUDGET_S:
        return
    SEEN[label] += 1
    url = f"{backend.base_urls[HOME]}/service/gui/graphql"
    response = case.call(base_url=url, headers={"Authorization": f"Bearer {fuzzer.token()}"})
    assert response.status_code < 500, response.text[:500]
    body = response.json()
    if response.status_code == 200:
        assert "data" in body, body
        for error in body.get("errors", []):
            _field_error_in_shape(error)
        return
    assert response.headers.get("content-type", [""])[0] == PROBLEM_CONTENT_TYPE, response.text[:300]
    assert isinstance(body.get("code"), str), body
    # A refusal of the whole request (a limit, the rate limit, a replay): one error format, and for
    # the document's own errors GraphQL's `errors` too.
    for error in body.get("errors", []):
        if "extensions" in error:
            assert error["extensions"]["code"] == body["code"], body


def test_every_field_of_the_schema_was_fuzzed() -> None:
    fields = {operation.label for operation in (o.ok() for o in SCHEMA.get_all_operations())}
    assert fields, "no field found in the schema"
    missing = sorted(fields - set(SEEN))
    assert not missing, f"fields never sent: {missing}"
