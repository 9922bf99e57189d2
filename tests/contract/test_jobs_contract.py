"""Contract of every jobs endpoint through the real authorizer and handler: schemas, scopes, tenancy,
verbs and parameters, Idempotency-Key, transitions and their races, listing, rate limits, the events
on the bus, and executors' status reports through the gui_job_events function."""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gui_core.dynamo import Table, to_dynamo
from gui_jobs.logic import cancel_requested, new_job
from gui_jobs.models import Job, JobDetail, JobPage
from gui_jobs.repository import JobChanged, JobsRepository
from local.apigw import sample_event
from local.containers import Container
from local.keys import DevKeys
from local.memory_table import MemoryTable
from local.runtime import LocalBackend
from stacks.manifest import JOB_EVENTS_FUNCTION, JOBS_FUNCTION, MANIFEST
from tests.contract.conftest import REGION, Client, aws, group_backend, problem, provision, table
from tests.contract.items_read import ItemsRead

SAMPLE_STATUS = sample_event("eventbridge_job_status_changed")
JOB_ROUTES = [(r.method, r.path) for r in MANIFEST.function("gui_jobs").routes]
MIGRATION_FUNCTIONS = ("gui_migrate", "gui_migrate_worker")
REINDEX = {"index": "search"}
_numbers = itertools.count()
_event_numbers = itertools.count()


# -- a backend with the jobs functions only: this suite does not wait on other groups ------------


@pytest.fixture(scope="module")
def items_read() -> Iterator[ItemsRead]:
    """Installed before the backend starts, so its functions' clients carry the hook."""
    meter = ItemsRead().install()
    yield meter
    meter.uninstall()


@pytest.fixture(scope="module")
def jobs_backend(tmp_path_factory: pytest.TempPathFactory, items_read: ItemsRead) -> Iterator[LocalBackend]:
    # With the migrations' deploy step, as a deploy runs it: the list's keys are done at start.
    with group_backend(
        tmp_path_factory, JOBS_FUNCTION.name, JOB_EVENTS_FUNCTION.name, *MIGRATION_FUNCTIONS
    ) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(jobs_backend: LocalBackend) -> Any:
    return aws(jobs_backend, "dynamodb")


@pytest.fixture(scope="module")
def bus_queue(jobs_backend: LocalBackend) -> str:
    """An SQS queue behind a rule on the domain bus for the jobs group's events."""
    sqs, events = aws(jobs_backend, "sqs"), aws(jobs_backend, "events")
    url = sqs.create_queue(QueueName="jobs-contract-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = MANIFEST.bus.local_bus_name()
    events.put_rule(
        Name="jobs-contract", EventBusName=bus, EventPattern=json.dumps({"source": ["domaindetermine.jobs"]})
    )
    events.put_targets(Rule="jobs-contract", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


@pytest.fixture(scope="module")
def job_events(jobs_backend: LocalBackend) -> Container:
    """The backend's own container of the function its bus rule feeds."""
    return jobs_backend.relays[REGION].containers[JOB_EVENTS_FUNCTION.name]


@pytest.fixture
def operator(jobs_backend: LocalBackend, ddb: Any) -> Client:
    n = next(_numbers)
    provision(ddb, f"jobs-{n}")
    provision(ddb, f"jobs-{n}-other")
    assert jobs_backend.keys is not None
    return Client(jobs_backend, jobs_backend.keys, f"jobs-{n}", f"otto-{n}", scopes=(), roles=("operator",))


def _as(
    client: Client, subject: str, *, roles: tuple[str, ...] = ("operator",), tenant: str | None = None
) -> Client:
    return Client(client.backend, client.keys, tenant or client.tenant, subject, scopes=(), roles=roles)


def _start(client: Client, verb: str = "reindex", body: Any = REINDEX, **kwargs: Any) -> dict[str, Any]:
    answer = client.call("POST", f"/jobs/{verb}", body=body, **kwargs)
    assert answer.status == 201, answer.body[:500]
    job: dict[str, Any] = answer.json()
    return job


def _report(container: Container, client: Client, job_id: str, status: str, **detail: Any) -> str:
    """An executor's JobStatusChanged, delivered to gui_job_events as EventBridge would."""
    event = copy.deepcopy(SAMPLE_STATUS)
    n = next(_event_numbers)
    event["detail"].update(
        {
            "tenant": client.tenant,
            "job_id": job_id,
            "status": status,
            "progress": None,
            "event_id": f"contract-{n}",
            "time": f"2099-01-01T00:00:{n % 60:02d}.{n:03d}+00:00",
            **detail,
        }
    )
    outcome: str = container.invoke(event)["outcome"]
    return outcome


# -- authentication, scopes, tenancy ----------------------------------------------------------


def _concrete(method: str, path: str) -> str:
    path = path.removeprefix("/service/gui")
    return path.replace("{id}", "reindex" if method == "POST" else "0000000000000000000000")


@pytest.mark.parametrize(("method", "path"), JOB_ROUTES)
def test_every_route_needs_a_token(operator: Client, method: str, path: str) -> None:
    problem(operator.call(method, _concrete(method, path), body=REINDEX, token=None), 401, "unauthorized")


@pytest.mark.parametrize(("method", "path"), JOB_ROUTES)
def test_every_route_needs_gui_jobs_which_viewers_lack(operator: Client, method: str, path: str) -> None:
    viewer = _as(operator, "vic", roles=("viewer",))
    body = problem(viewer.call(method, _concrete(method, path), body=REINDEX), 403, "insufficient_scope")
    assert body["required_scope"] == "gui:jobs"


def test_a_scope_granted_directly_is_enough(operator: Client) -> None:
    direct = Client(operator.backend, operator.keys, operator.tenant, "svc", scopes=("gui:jobs",))
    assert direct.call("GET", "/jobs").status == 200


def test_another_tenant_never_sees_or_touches_a_job(operator: Client) -> None:
    job = _start(operator)
    outsider = _as(operator, operator.subject, tenant=f"{operator.tenant}-other")
    problem(outsider.call("GET", f"/jobs/{job['id']}"), 404, "not_found")
    problem(outsider.call("PATCH", f"/jobs/{job['id']}/cancel"), 404, "not_found")
    problem(outsider.call("PATCH", f"/jobs/{job['id']}/retry"), 404, "not_found")
    assert outsider.call("GET", "/jobs").json()["items"] == []
    assert operator.call("GET", f"/jobs/{job['id']}").json()["status"] == "queued"


# -- starting jobs ------------------------------------------------------------------------------

VALID = {
    "ingest": {"source_uri": "s3://raw/concepts.csv", "format": "csv", "dataset": "concepts"},
    "coverage": {"concept_scheme": "icd-10"},
    "mapping": {"source_scheme": "icd-10", "target_scheme": "snomed"},
    "overlay": {"base_artifact_id": "cov-1", "overlay_name": "German labels", "languages": ["de-DE"]},
    "readiness": {"artifact_id": "cov-1"},
    "prompt-pack-calibration": {"prompt_pack_id": "pp-1"},
    "reindex": {"index": "search", "full": True},
}


@pytest.mark.parametrize(("verb", "body"), VALID.items())
def test_each_verb_starts_a_queued_job(operator: Client, verb: str, body: dict[str, Any]) -> None:
    answer = operator.call("POST", f"/jobs/{verb}", body=body)
    assert answer.status == 201, answer.body
    job = Job.model_validate(answer.json())
    assert (job.verb, job.status, job.progress, job.attempt) == (verb.replace("-", "_"), "queued", 0, 1)
    assert job.requested_by == operator.subject
    assert all(job.parameters[k] == v for k, v in body.items())
    assert answer.header("location") == f"/service/gui/jobs/{job.id}"
    detail = JobDetail.model_validate(operator.call("GET", f"/jobs/{job.id}").json())
    assert [h.status for h in detail.history] == ["queued"]
    assert detail.history[0].actor == operator.subject
    assert [a.id for a in detail.attempts] == [job.id]


def test_an_unknown_verb_is_404(operator: Client) -> None:
    body = problem(operator.call("POST", "/jobs/teleport", body={}), 404, "unknown_verb")
    assert "prompt-pack-calibration" in body["detail"]


@pytest.mark.parametrize(
    ("verb", "body", "pointer"),
    [
        ("reindex", {}, "/index"),
        ("reindex", {"index": "everything"}, "/index"),
        ("reindex", {"index": "search", "colour": "red"}, "/colour"),
        ("mapping", {"source_scheme": "a", "target_scheme": "b", "threshold": 1.5}, "/threshold"),
        ("ingest", {"source_uri": "ftp://x", "format": "csv", "dataset": "d"}, "/source_uri"),
        ("overlay", {"base_artifact_id": "a", "overlay_name": "n", "languages": ["German"]}, "/languages/0"),
    ],
)
def test_invalid_parameters_are_422_with_field_errors(
    operator: Client, verb: str, body: dict[str, Any], pointer: str
) -> None:
    document = problem(operator.call("POST", f"/jobs/{verb}", body=body), 422, "validation_failed")
    assert pointer in [e["pointer"] for e in document["errors"]], document["errors"]
    assert operator.call("GET", "/jobs").json()["items"] == []


def test_the_same_idempotency_key_and_body_answer_the_same_job(operator: Client) -> None:
    key = {"Idempotency-Key": "nightly-reindex-1"}
    first = operator.call("POST", "/jobs/reindex", body=REINDEX, headers=key)
    assert first.status == 201
    # key order and spelled-out defaults do not make another body
    again = operator.call("POST", "/jobs/reindex", body={"full": False, "index": "search"}, headers=key)
    assert again.status == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(operator.call("GET", "/jobs").json()["items"]) == 1
    reused = problem(
        operator.call("POST", "/jobs/reindex", body={"index": "lineage"}, headers=key),
        422,
        "idempotency_key_reused",
    )
    assert reused["status"] == 422
    problem(
        operator.call("POST", "/jobs/coverage", body={"concept_scheme": "x"}, headers=key),
        422,
        "idempotency_key_reused",
    )
    # a key is the caller's own: a colleague's same key starts a job of theirs
    assert _as(operator, "colleague").call("POST", "/jobs/reindex", body=REINDEX, headers=key).status == 201
    assert len(operator.call("GET", "/jobs").json()["items"]) == 2


def test_racing_requests_with_one_idempotency_key_make_one_job(operator: Client) -> None:
    key = {"Idempotency-Key": "race-1"}
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda _: operator.call("POST", "/jobs/reindex", body=REINDEX, headers=key), range(6))
        )
    assert sorted(a.status for a in answers) == [200] * 5 + [201]
    assert len({a.json()["id"] for a in answers}) == 1


def test_without_a_key_a_repeated_request_is_a_replay(operator: Client) -> None:
    token = operator.token()
    assert operator.call("POST", "/jobs/reindex", body=REINDEX, token=f"Bearer {token}").status == 201
    problem(
        operator.call("POST", "/jobs/reindex", body=REINDEX, token=f"Bearer {token}"), 409, "replayed_request"
    )


def _bus_events(url: str, backend: LocalBackend, job_id: str, detail_type: str) -> list[dict[str, Any]]:
    sqs = aws(backend, "sqs")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            event = json.loads(message["Body"])
            if event["detail"].get("job_id") == job_id and event["detail-type"] == detail_type:
                found.append(event)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_job_requested_and_cancel_requested_reach_the_bus(operator: Client, bus_queue: str) -> None:
    job = _start(operator, "coverage", {"concept_scheme": "icd-10"})
    (requested,) = _bus_events(bus_queue, operator.backend, job["id"], "JobRequested")
    assert requested["source"] == "domaindetermine.jobs"
    detail = requested["detail"]
    assert {
        k: detail[k] for k in ("tenant", "verb", "requested_by", "attempt", "region", "schema_version")
    } == {
        "tenant": operator.tenant,
        "verb": "coverage",
        "requested_by": operator.subject,
        "attempt": 1,
        "region": REGION,
        "schema_version": "1",
    }
    assert detail["parameters"]["concept_scheme"] == "icd-10"
    assert detail["event_id"]
    assert detail["time"]
    assert operator.call("PATCH", f"/jobs/{job['id']}/cancel").status == 200
    (cancel,) = _bus_events(bus_queue, operator.backend, job["id"], "JobCancelRequested")
    assert cancel["detail"]["requested_by"] == operator.subject


# -- transitions ------------------------------------------------------------------------------------


def test_cancel_moves_a_queued_job_to_cancelling_and_the_executor_confirms(
    operator: Client, job_events: Container
) -> None:
    job = _start(operator)
    answer = operator.call("PATCH", f"/jobs/{job['id']}/cancel")
    assert answer.status == 200
    assert (answer.json()["status"], answer.json()["version"]) == ("cancelling", 2)
    problem(operator.call("PATCH", f"/jobs/{job['id']}/cancel"), 409, "invalid_transition")
    assert _report(job_events, operator, job["id"], "cancelled") == "applied"
    detail = operator.call("GET", f"/jobs/{job['id']}").json()
    assert detail["status"] == "cancelled"
    assert detail["finished_at"]
    assert [(h["status"], h["actor"]) for h in detail["history"]] == [
        ("queued", operator.subject),
        ("cancelling", operator.subject),
        ("cancelled", "executor"),
    ]
    problem(operator.call("PATCH", f"/jobs/{job['id']}/cancel"), 409, "invalid_transition")


def test_status_reports_show_progress_and_timings(operator: Client, job_events: Container) -> None:
    job = _start(operator)
    assert _report(job_events, operator, job["id"], "running", progress=25) == "applied"
    running = operator.call("GET", f"/jobs/{job['id']}").json()
    assert (running["status"], running["progress"]) == ("running", 25)
    assert running["started_at"]
    assert _report(job_events, operator, job["id"], "succeeded") == "applied"
    done = operator.call("GET", f"/jobs/{job['id']}").json()
    assert (done["status"], done["progress"]) == ("succeeded", 100)
    assert done["finished_at"] >= done["started_at"] >= done["requested_at"][:4]
    problem(operator.call("PATCH", f"/jobs/{job['id']}/cancel"), 409, "invalid_transition")
    problem(operator.call("PATCH", f"/jobs/{job['id']}/retry"), 409, "invalid_transition")


def test_a_report_for_a_tenant_homed_elsewhere_is_refused(
    operator: Client, ddb: Any, job_events: Container
) -> None:
    job = _start(operator)
    provision(ddb, f"{operator.tenant}-abroad", home_region="us-east-1")
    abroad = _as(operator, "x", tenant=f"{operator.tenant}-abroad")
    assert _report(job_events, abroad, job["id"], "running") == "wrong_region"


def test_retry_makes_a_linked_attempt_only_of_a_failed_or_cancelled_job(
    operator: Client, job_events: Container
) -> None:
    job = _start(operator)
    problem(operator.call("PATCH", f"/jobs/{job['id']}/retry"), 409, "invalid_transition")
    _report(job_events, operator, job["id"], "failed", error={"code": "source_unreachable", "message": "404"})
    failed = operator.call("GET", f"/jobs/{job['id']}").json()
    assert failed["error"] == {"code": "source_unreachable", "message": "404"}
    answer = operator.call("PATCH", f"/jobs/{job['id']}/retry")
    assert answer.status == 201, answer.body
    second = Job.model_validate(answer.json())
    assert (second.attempt, second.previous_attempt, second.status) == (2, job["id"], "queued")
    assert second.parameters == job["parameters"]
    old = JobDetail.model_validate(operator.call("GET", f"/jobs/{job['id']}").json())
    assert old.next_attempt == second.id
    assert [a.id for a in old.attempts] == [job["id"], second.id]
    new = JobDetail.model_validate(operator.call("GET", f"/jobs/{second.id}").json())
    assert [a.attempt for a in new.attempts] == [1, 2]
    problem(operator.call("PATCH", f"/jobs/{job['id']}/retry"), 409, "invalid_transition")  # retried already
    problem(operator.call("PATCH", "/jobs/nothing-here/retry"), 404, "not_found")


def test_racing_commands_through_the_gateway_have_one_winner(operator: Client, job_events: Container) -> None:
    job = _start(operator)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: operator.call("PATCH", f"/jobs/{job['id']}/cancel"), range(8)))
    assert sorted(a.status for a in answers) == [200] + [409] * 7
    _report(job_events, operator, job["id"], "cancelled")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: operator.call("PATCH", f"/jobs/{job['id']}/retry"), range(8)))
    assert sorted(a.status for a in answers) == [201] + [409] * 7
    assert len(operator.call("GET", "/jobs").json()["items"]) == 2


def test_racing_conditional_writes_on_one_read_have_one_winner(operator: Client, ddb: Any) -> None:
    """Commands read the job and write on its version: of writers holding the same read, one wins."""
    job = _start(operator)
    repository = JobsRepository(Table(table("jobs"), ddb))
    read = repository.job(operator.tenant, job["id"])
    assert read is not None

    def cancel(n: int) -> bool:
        try:
            repository.replace(
                operator.tenant, read, cancel_requested(read, actor=f"u{n}", at="2099-01-01T00:00:00Z")
            )
        except JobChanged:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(cancel, range(8))) == [False] * 7 + [True]
    assert repository.job(operator.tenant, job["id"])["version"] == 2  # type: ignore[index]


# -- listing --------------------------------------------------------------------------------------


def test_list_pages_newest_first_without_duplicates_or_gaps(operator: Client) -> None:
    created = [_start(operator, body={"index": "search", "full": bool(i % 2)} | {})["id"] for i in range(3)]
    created += [_start(operator, "coverage", {"concept_scheme": f"s{i}"})["id"] for i in range(4)]
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = JobPage.model_validate(operator.call("GET", "/jobs", query=query).json())
        pages += 1
        seen += [j.id for j in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == sorted(created, reverse=True)
    assert pages == 3
    coverage = operator.call("GET", "/jobs", query="verb=coverage&limit=3").json()
    assert [j["verb"] for j in coverage["items"]] == ["coverage"] * 3
    rest = operator.call(
        "GET", "/jobs", query=f"verb=coverage&limit=3&cursor={coverage['next_cursor']}"
    ).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None


def test_list_filters_on_status_actor_and_time(operator: Client) -> None:
    mine = _start(operator)
    theirs = _start(_as(operator, "colleague"), "coverage", {"concept_scheme": "x"})
    operator.call("PATCH", f"/jobs/{mine['id']}/cancel")

    def ids(query: str) -> list[str]:
        answer = operator.call("GET", "/jobs", query=query)
        assert answer.status == 200, answer.body
        return [j["id"] for j in answer.json()["items"]]

    assert ids("status=cancelling") == [mine["id"]]
    assert ids("status=queued") == [theirs["id"]]
    assert ids("actor=me") == [mine["id"]]
    assert ids("actor=colleague") == [theirs["id"]]
    assert ids("verb=prompt-pack-calibration") == []
    assert ids("from=2000-01-01T00:00:00Z&to=2000-12-31T00:00:00Z") == []
    assert set(ids("from=2000-01-01T00:00:00Z")) == {mine["id"], theirs["id"]}
    assert ids("to=2000-01-01T00:00:00Z") == []


def _pages(client: Client, query: str, limit: int) -> list[list[str]]:
    """Every page of a list, following cursors: the ids of each page."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        answer = client.call(
            "GET", "/jobs", query=f"{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        )
        assert answer.status == 200, answer.body[:500]
        page = JobPage.model_validate(answer.json())
        pages.append([j.id for j in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_every_filter_pages_exactly_and_never_answers_an_empty_page_with_a_cursor(
    operator: Client, job_events: Container
) -> None:
    colleague = _as(operator, "colleague")
    made: list[dict[str, Any]] = []
    for n in range(9):
        who = colleague if n % 3 == 0 else operator
        made.append(
            _start(who, *(("coverage", {"concept_scheme": f"s{n}"}) if n % 2 else ("reindex", REINDEX)))
        )
    for one in made[::4]:
        operator.call("PATCH", f"/jobs/{one['id']}/cancel")
    _report(job_events, operator, made[1]["id"], "running", progress=10)
    stored = {j["id"]: j for j in (operator.call("GET", f"/jobs/{m['id']}").json() for m in made)}
    queries = {
        "": lambda j: True,
        "verb=coverage": lambda j: j["verb"] == "coverage",
        "status=cancelling": lambda j: j["status"] == "cancelling",
        "status=queued": lambda j: j["status"] == "queued",
        "status=running": lambda j: j["status"] == "running",
        "actor=colleague": lambda j: j["requested_by"] == "colleague",
        "actor=me&status=queued": lambda j: j["requested_by"] == operator.subject and j["status"] == "queued",
        "verb=reindex&actor=colleague": lambda j: j["verb"] == "reindex" and j["requested_by"] == "colleague",
        "verb=coverage&status=queued&actor=me": lambda j: (
            (j["verb"], j["status"], j["requested_by"]) == ("coverage", "queued", operator.subject)
        ),
        "verb=ingest": lambda j: False,
    }
    for query, wanted in queries.items():
        expected = sorted((i for i, j in stored.items() if wanted(j)), reverse=True)
        for limit in (1, 2, 3, len(expected) or 1):
            pages = _pages(operator, query, limit)
            assert [i for page in pages for i in page] == expected, (query, limit)
            assert all(len(page) == limit for page in pages[:-1]), (query, limit, pages)
            assert pages[-1] or len(pages) == 1, (query, limit, "an empty page after a cursor")


def test_a_job_leaves_the_status_it_left_at_once(operator: Client, job_events: Container) -> None:
    job = _start(operator)

    def listed(status: str) -> list[str]:
        return [j["id"] for j in operator.call("GET", "/jobs", query=f"status={status}").json()["items"]]

    assert listed("queued") == [job["id"]]
    operator.call("PATCH", f"/jobs/{job['id']}/cancel")
    assert (listed("queued"), listed("cancelling")) == ([], [job["id"]])
    assert _report(job_events, operator, job["id"], "cancelled") == "applied"
    assert (listed("cancelling"), listed("cancelled")) == ([], [job["id"]])
    retried = operator.call("PATCH", f"/jobs/{job['id']}/retry").json()
    assert (listed("queued"), listed("cancelled")) == ([retried["id"]], [job["id"]])


def _seed_jobs(ddb: Any, tenant: str, count: int) -> None:
    """`count` jobs of otto (a third failed, verbs alternating) and 5 of rare among the oldest, written
    as the repository writes them (with their key items), straight into the store (BatchWriteItem)."""
    memory = MemoryTable()
    repository = JobsRepository(memory)
    for n in range(count + 5):
        created = new_job(
            job_id=f"{n + 1:012x}0000000000",
            verb=("reindex", "coverage")[n % 2],
            parameters={},
            actor="rare" if n < 5 else "otto",
            at="2026-12-01T00:00:00.000+00:00",
        )
        repository.create(tenant, {**created, "status": "failed" if n % 3 == 0 else "queued"})
    items = [to_dynamo(i) for i in memory.items.values()]
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        answer = ddb.batch_write_item(RequestItems={table("jobs"): requests})
        assert not answer.get("UnprocessedItems")


FILTERED = (
    "actor=rare",
    "status=failed",
    "verb=coverage&status=queued",
    "verb=reindex&status=failed&actor=otto",
)


SIZES = (200, 2_000)


@pytest.fixture(scope="module")
def sized_tenants(ddb: Any) -> dict[int, str]:
    """A tenant of each size, seeded once for the module."""
    tenants = {}
    for count in SIZES:
        tenant = f"jobs-size-{count}"
        provision(ddb, tenant)
        _seed_jobs(ddb, tenant, count)
        tenants[count] = tenant
    return tenants


@pytest.mark.parametrize("query", FILTERED)
def test_a_filtered_page_reads_its_page_plus_a_constant_at_any_tenant_size(
    query: str, operator: Client, sized_tenants: dict[int, str], items_read: ItemsRead
) -> None:
    """The same filtered page of 20 at 200 and at 2,000 jobs reads the same items of the jobs store:
    its key items and the jobs they name, one more of each (before the filters' keys, a filter that
    finds few read every job of the tenant, newest first)."""
    reads = []
    for count in SIZES:
        items_read.reset()
        reader = _as(operator, "otto", tenant=sized_tenants[count])
        answer = reader.call("GET", "/jobs", query=f"{query}&limit=20")
        assert answer.status == 200, answer.body[:500]
        page = JobPage.model_validate(answer.json())
        reads.append(items_read.items[table("jobs")])
        if query == "actor=rare":
            assert (len(page.items), page.next_cursor) == (5, None)
        else:
            assert len(page.items) == 20
            assert page.next_cursor is not None
    assert reads[0] <= 2 * (20 + 1), (query, reads)
    assert reads[1] == reads[0], (query, reads)


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("limit=0", 422, "validation_failed"),
        ("limit=101", 422, "validation_failed"),
        ("status=exploded", 422, "validation_failed"),
        ("from=yesterday", 422, "validation_failed"),
        ("verb=teleport", 404, "unknown_verb"),
        ("cursor=not-a-cursor", 400, "invalid_cursor"),
    ],
)
def test_invalid_list_queries(operator: Client, query: str, status: int, code: str) -> None:
    problem(operator.call("GET", "/jobs", query=query), status, code)


def test_a_cursor_of_another_tenant_is_refused(operator: Client) -> None:
    for i in range(3):
        _start(operator, "coverage", {"concept_scheme": f"c{i}"})
    cursor = operator.call("GET", "/jobs", query="limit=1").json()["next_cursor"]
    outsider = _as(operator, "spy", tenant=f"{operator.tenant}-other")
    problem(outsider.call("GET", "/jobs", query=f"cursor={cursor}"), 400, "invalid_cursor")


# -- limits and audit --------------------------------------------------------------------------------


def test_job_commands_have_their_own_rate_limit(operator: Client, ddb: Any) -> None:
    tenant = f"{operator.tenant}-limited"
    provision(ddb, tenant, rate_limits={"job_commands": 3})
    limited = _as(operator, "otto", tenant=tenant)
    statuses = [
        limited.call("POST", "/jobs/coverage", body={"concept_scheme": f"s{i}"}).status for i in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    assert limited.call("GET", "/jobs").status == 200  # reads are another class


def test_commands_are_audited(operator: Client, ddb: Any) -> None:
    job = _start(operator)
    operator.call("PATCH", f"/jobs/{job['id']}/cancel")
    items = ddb.query(
        TableName=table("audit"),
        KeyConditionExpression="pk = :t",
        ExpressionAttributeValues={":t": {"S": operator.tenant}},
    )["Items"]
    records = sorted((r["method"]["S"], r["path"]["S"], int(r["status"]["N"])) for r in items)
    assert records == [
        ("PATCH", f"/service/gui/jobs/{job['id']}/cancel", 200),
        ("POST", "/service/gui/jobs/reindex", 201),
    ]


def test_dev_keys_are_the_backends(jobs_backend: LocalBackend) -> None:
    assert isinstance(jobs_backend.keys, DevKeys)


def test_demo_jobs_show_every_state_through_the_api(operator: Client, ddb: Any) -> None:
    from local.demo import TENANTS
    from local.demo_jobs import seed_jobs

    demo = next(t for t in TENANTS if t.home_region == REGION)
    provision(ddb, demo.tenant)
    assert (
        seed_jobs(
            operator.backend.manifest, endpoint_url=operator.backend.aws_endpoint_url, regions=(REGION,)
        )
        == 8
    )
    reader = _as(operator, "demo-operator", tenant=demo.tenant)
    page = JobPage.model_validate(reader.call("GET", "/jobs", query="limit=100").json())
    assert {j.status for j in page.items} >= {
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelling",
        "cancelled",
    }
