"""The GraphQL schema: made from the REST models (one field, one meaning), documented in
docs/gui/schema.graphql, and its limits measured from a document's text before anything runs."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse

from gui_graphql.execution import (
    GraphQLRequest,
    GraphQLValidationFailed,
    InvalidGraphQLRequest,
    Limits,
    QueryTooCostly,
    QueryTooDeep,
    TooManyAliases,
    cost_of,
    prepare,
)
from gui_graphql.operations import PAGE_DEFAULTS, build_schema
from gui_graphql.persisted import (
    ALLOWLIST_FILE,
    PersistedQueries,
    PersistedQueryMismatch,
    PersistedQueryNotAllowed,
    PersistedQueryNotFound,
    load_allowlist,
    sha256,
)
from gui_jobs.models import Job
from gui_notifications.models import Notification
from local import graphql_sdl

SCHEMA = build_schema()
LIMITS = Limits(pages=PAGE_DEFAULTS)


def test_the_committed_sdl_is_current() -> None:
    assert graphql_sdl.SDL.read_text(encoding="utf-8") == graphql_sdl.render(), (
        "docs/gui/schema.graphql is stale: run `.venv/bin/python -m local.graphql_sdl`"
    )


@pytest.mark.parametrize("model", [Job, Notification])
def test_an_object_type_has_exactly_the_fields_of_its_rest_model(model: Any) -> None:
    graphql_type = SCHEMA.get_type(model.__name__)
    assert graphql_type is not None
    assert set(graphql_type.fields) == set(model.model_fields)  # type: ignore[attr-defined]


def test_a_required_model_field_is_non_null_and_an_optional_one_nullable() -> None:
    job = SCHEMA.get_type("Job")
    assert str(job.fields["id"].type) == "String!"  # type: ignore[union-attr]
    assert str(job.fields["started_at"].type) == "String"  # type: ignore[union-attr]
    assert str(job.fields["status"].type) == "JobStatus!"  # type: ignore[union-attr]


def test_root_fields_are_nullable_so_one_failing_field_leaves_the_others() -> None:
    for root in (SCHEMA.query_type, SCHEMA.mutation_type):
        assert root is not None
        assert all(not str(f.type).endswith("!") for f in root.fields.values())


def _prepare(query: str, variables: dict[str, Any] | None = None) -> Any:
    return prepare(SCHEMA, GraphQLRequest(query, variables), LIMITS)


def _cost(query: str, variables: dict[str, Any] | None = None) -> int:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return cost_of(document, operation, variables, LIMITS)


def test_cost_counts_the_objects_under_a_page_times_its_size() -> None:
    assert _cost("{ jobs(first: 10) { nodes { id status error { code } } } }") == 1 + 10 * (1 + 1)
    assert _cost("{ jobs { nodes { id error { code } } } }") == 1 + 50 * 2  # the default page
    assert _cost("query($n: Int) { jobs(first: $n) { nodes { id } } }", {"n": 7}) == 1 + 7
    assert _cost("{ a: jobs { nodes { id } } b: notifications { nodes { id } } }") == 51 + 26
    with pytest.raises(QueryTooCostly):
        _prepare("query($n: Int) { jobs(first: $n) { nodes { id } } }", {"n": 100_000})


def test_one_root_field_is_asked_at_most_five_times() -> None:
    five = " ".join(f"j{n}: jobs {{ nodes {{ id }} }}" for n in range(5))
    _prepare("{ " + five + " }")
    with pytest.raises(TooManyAliases):
        _prepare("{ " + five + " j5: jobs { nodes { id } } }")


def test_a_graphs_cost_is_its_fan_out_per_level_times_its_levels() -> None:
    one = (
        'g{n}: artifact_lineage(id: "a", depth: $d, fan_out: 100) {{ nodes {{ id hop cut {{ upstream }} }} }}'
    )
    _prepare("query($d: Int) { " + one.format(n=0) + " }", {"d": 10})  # REST's largest: 1 + 1,000 x 2
    with pytest.raises(QueryTooCostly):  # thrice at once: 6,003
        _prepare("query($d: Int) { " + " ".join(one.format(n=n) for n in range(3)) + " }", {"d": 10})


def test_depth_is_measured_through_fragments() -> None:
    selection = "id"
    for _ in range(20):
        selection = f"attempts {{ {selection} }}"
    with pytest.raises(QueryTooDeep):
        _prepare('{ job(id: "x") { ...F } } fragment F on JobDetail { ' + selection + " }")


def test_aliases_are_counted_in_fragments_too() -> None:
    many = " ".join(f"a{i}: id" for i in range(31))
    with pytest.raises(TooManyAliases):
        _prepare('{ job(id: "x") { ...F } } fragment F on JobDetail { ' + many + " }")


@pytest.mark.parametrize(
    "document",
    [[{"query": "{ jobs { nodes { id } } }"}], {"query": ""}, {"query": "{ a }", "variables": "[1"}, None],
    ids=["batch", "empty", "variables not JSON", "null"],
)
def test_a_request_that_is_not_one_graphql_request_is_refused(document: Any) -> None:
    with pytest.raises(InvalidGraphQLRequest):
        GraphQLRequest.of(document)


def test_a_document_of_several_operations_names_one() -> None:
    text = "query A { jobs { nodes { id } } } query B { notifications { nodes { id } } }"
    with pytest.raises(InvalidGraphQLRequest):
        _prepare(text)
    _, operation = prepare(SCHEMA, GraphQLRequest(text, None, "B"), LIMITS)
    assert operation.name is not None
    assert operation.name.value == "B"
    assert parse(text)  # the document itself is valid


# -- the GUI's operations and persisted queries -----------------------------------------------------


def test_the_committed_allowlist_is_the_guis_operations_hashed() -> None:
    assert ALLOWLIST_FILE.read_text(encoding="utf-8") == graphql_sdl.render_allowlist(), (
        "functions/gui_graphql/persisted_queries.json is stale: run `.venv/bin/python -m local.graphql_sdl`"
    )


@pytest.mark.parametrize("name", sorted(graphql_sdl.operations()))
def test_each_gui_operation_fits_the_schema_and_the_limits(name: str) -> None:
    text = graphql_sdl.operations()[name]
    _, operation = _prepare(text)
    assert operation.name is not None
    assert operation.name.value == name


QUERY = "{ jobs { nodes { id } } }"


def _persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def test_a_hash_alone_is_unknown_until_its_text_came_once() -> None:
    persisted = PersistedQueries({})
    digest = sha256(QUERY)
    with pytest.raises(PersistedQueryNotFound) as refused:
        persisted.document(None, _persisted(digest))
    assert refused.value.extensions["errors"][0]["message"] == "PersistedQueryNotFound"  # what Apollo reads
    assert persisted.document(QUERY, _persisted(digest)) == QUERY
    assert persisted.document(None, _persisted(digest)) == QUERY
    assert persisted.document(None, _persisted(digest.upper())) == QUERY


def test_a_text_whose_hash_is_not_the_one_sent_is_refused_and_not_kept() -> None:
    persisted = PersistedQueries({})
    wrong = sha256("{ notifications { nodes { id } } }")
    with pytest.raises(PersistedQueryMismatch):
        persisted.document(QUERY, _persisted(wrong))
    with pytest.raises(PersistedQueryNotFound):
        persisted.document(None, _persisted(wrong))
    with pytest.raises(PersistedQueryMismatch):
        persisted.document(QUERY, {"persistedQuery": {"version": 2, "sha256Hash": sha256(QUERY)}})


def test_the_container_keeps_the_latest_documents_only() -> None:
    persisted = PersistedQueries({}, capacity=2)
    texts = [f'{{ job(id: "{n}") {{ id }} }}' for n in range(3)]
    for text in texts:
        persisted.document(text, _persisted(sha256(text)))
    with pytest.raises(PersistedQueryNotFound):
        persisted.document(None, _persisted(sha256(texts[0])))
    assert persisted.document(None, _persisted(sha256(texts[2]))) == texts[2]


def test_in_allowlist_mode_only_the_guis_operations_run() -> None:
    allowlist = load_allowlist()
    assert len(allowlist) == len(graphql_sdl.operations())
    persisted = PersistedQueries(allowlist, mode="allowlist")
    digest, text = next(iter(allowlist.items()))
    assert persisted.document(None, _persisted(digest)) == text
    assert persisted.document(text, None) == text  # the text of a listed operation
    with pytest.raises(PersistedQueryNotAllowed):
        persisted.document(QUERY, None)
    with pytest.raises(PersistedQueryNotAllowed):
        persisted.document(QUERY, _persisted(sha256(QUERY)))
    with pytest.raises(PersistedQueryNotFound):
        persisted.document(None, _persisted(sha256(QUERY)))


# -- the deadline ---------------------------------------------------------------------------------


def test_a_field_that_would_start_past_the_deadline_is_an_error_of_its_own() -> None:
    import time

    from gui_core.context import RequestContext
    from gui_core.tenancy import Tenant
    from gui_graphql.execution import run
    from gui_graphql.fields.base import Context, Ports

    caller = RequestContext("acme", "ada@acme", frozenset({"gui:jobs"}), (), "eu-west-1", "r", None, None, 0)
    context = Context(
        caller, Tenant("acme", "Acme", "eu-west-1"), Ports(), None, deadline=time.monotonic() - 1
    )  # type: ignore[arg-type]
    request = GraphQLRequest("{ jobs { nodes { id } } }")
    document, operation = _prepare(request.query)
    answer = run(SCHEMA, document, request, context, operation)
    assert answer.body["data"] == {"jobs": None}
    (error,) = answer.body["errors"]
    assert error["extensions"] == {"code": "deadline_exceeded", "status": 504}


def test_the_deadline_ends_a_second_before_the_invocation_does() -> None:
    import time
    from types import SimpleNamespace

    from gui_graphql.operations import Ports
    from gui_graphql.routes import GraphQLState, _deadline

    state = GraphQLState(ports=Ports(), deadline_s=10.0)
    lambda_context = SimpleNamespace(get_remaining_time_in_millis=lambda: 3_000)
    short = _deadline(SimpleNamespace(scope={"aws.context": lambda_context}), state)  # type: ignore[arg-type]
    assert short - time.monotonic() < 2.1
    local = _deadline(SimpleNamespace(scope={}), state)  # type: ignore[arg-type]
    assert 9.0 < local - time.monotonic() <= 10.0


@pytest.mark.parametrize(
    ("stage", "explicit", "answers"),
    [
        ("prod", None, False),
        ("local", None, True),
        ("test", None, True),
        ("prod", True, True),
        ("local", False, False),
    ],
)
def test_introspection_is_answered_where_the_schema_is_explored(
    stage: str, explicit: bool | None, answers: bool
) -> None:
    from gui_graphql.settings import answers_introspection

    assert answers_introspection(stage, explicit) is answers
    introspection = GraphQLRequest("{ __schema { queryType { name } } }")
    if answers:
        prepare(SCHEMA, introspection, Limits(introspection=True))
    else:
        with pytest.raises(GraphQLValidationFailed):
            prepare(SCHEMA, introspection, Limits(introspection=False))


def test_an_explorers_introspection_query_fits_the_limits() -> None:
    from graphql import get_introspection_query

    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    prepare(SCHEMA, GraphQLRequest(query), Limits(introspection=True, pages=PAGE_DEFAULTS))


def test_a_document_seen_before_is_not_parsed_or_validated_again() -> None:
    """The GUI sends its few operations again and again: parsed and validated once per container;
    the limits, which read the variables, are measured every time."""
    from gui_graphql import execution
    from gui_graphql.operations import PAGE_DEFAULTS, build_schema

    schema = build_schema()
    limits = execution.Limits(introspection=False, pages=PAGE_DEFAULTS)
    query = "query Q($n: Int) { jobs(first: $n) { nodes { id } } }"
    execution._parsed.cache_clear()
    execution._validated.cache_clear()
    execution.prepare(schema, execution.GraphQLRequest(query, {"n": 5}, None), limits)
    execution.prepare(schema, execution.GraphQLRequest(query, {"n": 6}, None), limits)
    assert execution._parsed.cache_info().misses == 1  # parsed once
    assert (execution._validated.cache_info().misses, execution._validated.cache_info().hits) == (1, 1)
    with pytest.raises(execution.QueryTooCostly):  # the variables' cost is measured each time
        execution.prepare(schema, execution.GraphQLRequest(query, {"n": 10_000}, None), limits)
    with pytest.raises(execution.GraphQLParseFailed):  # a refusal is not cached as a document
        execution.prepare(schema, execution.GraphQLRequest("{ jobs(", None, None), limits)
