"""The GraphQL API through the real authorizer, gateway and handler, against moto's server: the
fields answer what their REST twins answer (the same use cases), lists page over REST's own
cursors, an error is its field's (with REST's problem code and status) and the rest stands, a
mutation is audited and guarded against replays, and a document over a limit runs nothing."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from gui_core.dynamo import Table
from gui_graphql.persisted import load_allowlist
from gui_notifications.repository import InboxRepository
from local.keys import DevKeys
from local.runtime import LocalBackend
from stacks.manifest import MANIFEST
from tests.contract.conftest import Client, aws, group_backend, provision, table

FUNCTIONS = ("gui_graphql", "gui_jobs", "gui_notifications", "gui_migrate", "gui_migrate_worker")
OPERATOR = ("gui:jobs", "gui:notifications")
_numbers = itertools.count()


@pytest.fixture(scope="module")
def graphql_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    with group_backend(tmp_path_factory, *FUNCTIONS) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(graphql_backend: LocalBackend) -> Any:
    return aws(graphql_backend, "dynamodb")


@pytest.fixture
def user(graphql_backend: LocalBackend, ddb: Any) -> Client:
    assert graphql_backend.keys is not None
    keys: DevKeys = graphql_backend.keys
    n = next(_numbers)
    provision(ddb, f"gql-{n}")
    return Client(graphql_backend, keys, f"gql-{n}", f"user-{n}", scopes=OPERATOR)


def graphql(client: Client, query: str, variables: dict[str, Any] | None = None, **options: Any) -> Any:
    answer = client.call("POST", "/graphql", body={"query": query, "variables": variables}, **options)
    return answer


def _note(ddb: Any, tenant: str, title: str) -> str:
    inbox = InboxRepository(Table(table("inbox"), ddb), retention_days=90)
    note_id = f"n{int(time.time() * 1000):012x}{uuid.uuid4().hex[:8]}"
    note = {"id": note_id, "category": "job", "severity": "info", "title": title, "audience": "*"}
    assert inbox.append(tenant, note)
    return note_id


def test_the_function_is_in_the_manifest_with_its_routes() -> None:
    routes = {(r.method, r.full_path) for r in MANIFEST.function("gui_graphql").routes}
    assert routes == {("POST", "/service/gui/graphql"), ("GET", "/service/gui/graphql")}


def test_a_mutation_and_a_query_answer_what_rest_answers(user: Client) -> None:
    started = graphql(
        user,
        'mutation($p: JSON) { start_job(verb: reindex, parameters: $p, idempotency_key: "k1") '
        "{ earlier job { id verb status parameters requested_by } } }",
        {"p": {"index": "search"}},
    )
    assert started.status == 200, started.body
    job = started.json()["data"]["start_job"]["job"]
    assert started.json()["data"]["start_job"]["earlier"] is False
    assert (job["verb"], job["status"], job["requested_by"]) == ("reindex", "queued", user.subject)
    rest = user.call("GET", f"/jobs/{job['id']}")
    assert rest.status == 200
    read = graphql(
        user,
        "query($id: String!) { job(id: $id) { id status attempts { id } history { status } } }",
        {"id": job["id"]},
    )
    assert read.status == 200, read.body
    detail = read.json()["data"]["job"]
    assert detail["id"] == rest.json()["id"]
    assert detail["attempts"] == [{"id": a["id"]} for a in rest.json()["attempts"]]
    again = graphql(
        user,
        'mutation { start_job(verb: reindex, parameters: {index: "search"}, idempotency_key: "k1") '
        "{ earlier job { id } } }",
    )
    assert again.json()["data"]["start_job"] == {"earlier": True, "job": {"id": job["id"]}}


def test_lists_page_over_the_rest_routes_own_cursors(user: Client) -> None:
    for _ in range(3):
        assert user.call("POST", "/jobs/reindex", body={"index": "search"}).status == 201
    first = graphql(
        user, '{ jobs(first: 2, verb: "reindex") { nodes { id } pageInfo { hasNextPage endCursor } } }'
    )
    page = first.json()["data"]["jobs"]
    assert len(page["nodes"]) == 2
    assert page["pageInfo"]["hasNextPage"] is True
    # The cursor continues the same list over REST, with the same filters.
    rest = user.call("GET", "/jobs", query=f"verb=reindex&limit=5&cursor={page['pageInfo']['endCursor']}")
    assert rest.status == 200, rest.body
    rest_ids = [j["id"] for j in rest.json()["items"]]
    whole = user.call("GET", "/jobs", query="verb=reindex&limit=10").json()["items"]
    assert [n["id"] for n in page["nodes"]] + rest_ids == [j["id"] for j in whole]
    # ... and not another list's: a cursor of another filter is REST's 400 invalid_cursor, on its field.
    other = graphql(
        user,
        "query($c: String) { jobs(after: $c, status: queued) { nodes { id } } }",
        {"c": page["pageInfo"]["endCursor"]},
    )
    error = other.json()["errors"][0]
    assert (error["extensions"]["code"], error["extensions"]["status"]) == ("invalid_cursor", 400)
    assert error["path"] == ["jobs"]


def test_the_inbox_with_its_counts_and_a_command(user: Client, ddb: Any) -> None:
    note_id = _note(ddb, user.tenant, "Coverage finished")
    listed = graphql(
        user,
        "{ notifications(first: 5) { nodes { id status etag } counts { unread read } counts_complete } }",
    )
    assert listed.status == 200, listed.body
    inbox = listed.json()["data"]["notifications"]
    rest = user.call("GET", "/notifications", query="limit=5").json()
    assert [n["id"] for n in inbox["nodes"]] == [n["id"] for n in rest["items"]] == [note_id]
    assert inbox["counts"] == {"unread": rest["counts"]["unread"], "read": rest["counts"]["read"]}
    read = graphql(
        user, "mutation($id: String!) { read_notification(id: $id) { id status } }", {"id": note_id}
    )
    assert read.json()["data"]["read_notification"] == {"id": note_id, "status": "read"}
    assert user.call("GET", f"/notifications/{note_id}").json()["status"] == "read"


def test_a_field_the_caller_may_not_read_is_an_error_of_that_field_only(user: Client) -> None:
    viewer = user.as_user(f"{user.subject}-viewer", "gui:notifications")
    answer = graphql(viewer, "{ notifications(first: 1) { nodes { id } } jobs(first: 1) { nodes { id } } }")
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["data"]["notifications"] == {"nodes": []}
    assert body["data"]["jobs"] is None
    (error,) = body["errors"]
    assert error["path"] == ["jobs"]
    assert error["extensions"] == {"code": "insufficient_scope", "status": 403, "required_scope": "gui:jobs"}


def test_a_missing_job_is_reads_404_and_a_bad_argument_422(user: Client) -> None:
    missing = graphql(user, '{ job(id: "j-nope") { id } }').json()
    assert missing["data"] == {"job": None}
    assert missing["errors"][0]["extensions"]["status"] == 404
    bad = graphql(user, "{ jobs(first: 500) { nodes { id } } }").json()
    assert bad["errors"][0]["extensions"]["code"] == "validation_failed"
    assert bad["errors"][0]["extensions"]["status"] == 422


def test_a_mutation_is_audited_and_sent_twice_is_refused(user: Client, ddb: Any) -> None:
    mutation = {"query": "mutation { read_all_notifications { marked } }"}
    token = f"Bearer {user.token()}"  # a replay is the same request with the same token
    first = user.call("POST", "/graphql", body=mutation, token=token)
    assert first.status == 200, first.body
    second = user.call("POST", "/graphql", body=mutation, token=token)
    assert second.status == 409
    assert second.json()["code"] == "replayed_request"
    audit = ddb.query(
        TableName=table("audit"),
        KeyConditionExpression="pk = :t",
        ExpressionAttributeValues={":t": {"S": user.tenant}},
    )["Items"]
    endpoints = sorted(i["endpoint"]["S"] for i in audit)
    assert "/service/gui/graphql#read_all_notifications" in endpoints
    # A query is neither audited nor refused when sent twice.
    query = {"query": "{ notifications(first: 1) { nodes { id } } }"}
    assert [user.call("POST", "/graphql", body=query, token=token).status for _ in range(2)] == [200, 200]
    audit = ddb.query(
        TableName=table("audit"),
        KeyConditionExpression="pk = :t",
        ExpressionAttributeValues={":t": {"S": user.tenant}},
        ConsistentRead=True,
    )["Items"]
    graphql_records = [i for i in audit if i["endpoint"]["S"].startswith("/service/gui/graphql")]
    assert len(graphql_records) == 2  # the mutation and its refused replay; no query


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ jobs { nodes { id } ", "graphql_parse_failed"),
        ("{ nope }", "graphql_validation_failed"),
        (
            "{ " + " ".join(f"a{i}: jobs(first: 1) {{ nodes {{ id }} }}" for i in range(31)) + " }",
            "too_many_aliases",
        ),
        (
            "{ "
            + " ".join(
                f'g{n}: artifact_lineage(id: "a", depth: 10, fan_out: 100) '
                "{ nodes { id cut { upstream } } }"
                for n in range(3)  # 3 x (1 + 1,000 x 2) = 6,003 objects
            )
            + " }",
            "query_too_costly",
        ),
    ],
    ids=["syntax", "unknown field", "aliases", "cost"],
)
def test_a_document_over_a_limit_or_invalid_is_400_before_anything_runs(
    user: Client, query: str, code: str
) -> None:
    answer = graphql(user, query)
    assert answer.status == 400, answer.body
    assert answer.header("content-type") == "application/problem+json"  # one error format
    body = answer.json()
    assert (body["code"], body["status"], "data" in body) == (code, 400, False)
    assert body["errors"][0]["extensions"] == {"code": code, "status": 400}  # read by GraphQL clients


def test_a_deep_document_is_refused(user: Client) -> None:
    fragment = "fragment F on JobDetail { " + "history { status } " + "}"
    deep = "{ " + 'job(id: "x") { attempts { id } ' * 1 + "} }"
    assert graphql(user, deep + fragment).status == 400  # an unused fragment is invalid
    nested = (
        '{ job(id: "x") '
        + "{ ...F }"
        + " }"
        + "fragment F on JobDetail { id ...G } fragment G on JobDetail { ...F }"
    )
    answer = graphql(user, nested)
    assert answer.status == 400
    assert answer.json()["code"] == "graphql_validation_failed"  # a cycle


def test_a_mutation_over_get_is_405_and_a_query_over_get_answers(user: Client) -> None:
    assert (
        user.call(
            "GET",
            "/graphql",
            query="query=" + "mutation%20%7B%20read_all_notifications%20%7B%20marked%20%7D%20%7D",
        ).status
        == 405
    )
    answer = user.call(
        "GET", "/graphql", query="query=%7B%20jobs(first%3A%201)%20%7B%20nodes%20%7B%20id%20%7D%20%7D%20%7D"
    )
    assert answer.status == 200, answer.body
    assert "jobs" in answer.json()["data"]


def test_a_persisted_query_is_sent_by_its_hash_after_its_text_came_once(user: Client) -> None:
    query = 'query Mine { jobs(first: 3, actor: "me") { nodes { id } } }'
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}}
    unknown = user.call("POST", "/graphql", body={"extensions": persisted})
    assert unknown.status == 400
    assert unknown.json()["code"] == "persisted_query_not_found"
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"  # what Apollo's link reads
    first = user.call("POST", "/graphql", body={"query": query, "extensions": persisted})
    assert first.status == 200, first.body
    by_hash = user.call("POST", "/graphql", body={"extensions": persisted})
    assert by_hash.status == 200, by_hash.body
    assert by_hash.json() == first.json()
    # A GET by hash: what a CDN may cache.
    got = user.call("GET", "/graphql", query="extensions=" + urllib.parse.quote(json.dumps(persisted)))
    assert got.status == 200, got.body
    assert got.json() == first.json()


def test_a_gui_operation_runs_by_its_hash_with_no_text_ever_sent(user: Client) -> None:
    inbox = next(text for text in load_allowlist().values() if text.startswith("query Inbox"))
    digest = hashlib.sha256(inbox.encode()).hexdigest()
    answer = user.call(
        "POST",
        "/graphql",
        body={
            "variables": {"first": 2},
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
        },
    )
    assert answer.status == 200, answer.body
    assert set(answer.json()["data"]["notifications"]) >= {"nodes", "counts", "pageInfo"}


def test_a_root_field_is_charged_to_its_rest_twins_rate_class_once_per_occurrence(
    graphql_backend: LocalBackend, ddb: Any
) -> None:
    """A dashboard is charged to `dashboard`, however it is asked: three aliases of it against a
    limit of two are refused (429, the dashboard class), and six are refused before anything runs."""
    assert graphql_backend.keys is not None
    tenant = f"gql-limited-{next(_numbers)}"
    provision(ddb, tenant, rate_limits={"dashboard": 2})
    viewer = Client(graphql_backend, graphql_backend.keys, tenant, "viewer", scopes=("gui:dashboard",))
    three = "{ " + " ".join(f'd{n}: dashboard(range: "7d") {{ as_of }}' for n in range(3)) + " }"
    refused = viewer.call("POST", "/graphql", body={"query": three})
    assert refused.status == 429, refused.body
    assert (refused.json()["code"], refused.json()["route_class"]) == ("rate_limited", "dashboard")
    six = "{ " + " ".join(f'd{n}: dashboard(range: "7d") {{ as_of }}' for n in range(6)) + " }"
    too_many = viewer.call("POST", "/graphql", body={"query": six})
    assert too_many.status == 400
    assert too_many.json()["code"] == "too_many_aliases"


def test_read_fields_are_charged_each_as_its_rest_call_and_all_or_nothing(
    graphql_backend: LocalBackend, ddb: Any
) -> None:
    """Four lists cost four reads (the request's own and three more): against a limit of three the
    request is refused before anything runs and counts only its own; two lists then fit (two
    reads), and a third request finds the limit reached."""
    assert graphql_backend.keys is not None
    tenant = f"gql-reads-{next(_numbers)}"
    provision(ddb, tenant, rate_limits={"reads": 3})
    viewer = Client(
        graphql_backend, graphql_backend.keys, tenant, "viewer", scopes=("gui:jobs", "gui:notifications")
    )
    jobs, inbox = "jobs(first: 1) { nodes { id } }", "notifications(first: 1) { nodes { id } }"
    four = f"{{ a: {jobs} b: {jobs} c: {inbox} d: {inbox} }}"
    refused = viewer.call("POST", "/graphql", body={"query": four})
    assert refused.status == 429, refused.body
    assert (refused.json()["code"], refused.json()["route_class"]) == ("rate_limited", "reads")
    two = viewer.call("POST", "/graphql", body={"query": f"{{ a: {jobs} c: {inbox} }}"})
    assert two.status == 200, two.body
    assert set(two.json()["data"]) == {"a", "c"}
    third = viewer.call("POST", "/graphql", body={"query": f"{{ {jobs} }}"})
    assert third.status == 429, third.body


def test_the_local_stage_answers_introspection(user: Client) -> None:
    """The explorer reads the schema so; a production stage does not answer it (unit tests)."""
    answer = graphql(user, "{ __schema { queryType { name } mutationType { name } } }")
    assert answer.status == 200, answer.body
    assert answer.json()["data"]["__schema"] == {
        "queryType": {"name": "Query"},
        "mutationType": {"name": "Mutation"},
    }
