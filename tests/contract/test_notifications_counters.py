"""The inbox's counters, pages and read marks (issue 14) through the real gateway, authorizer and
handler on moto: the counters and the copies of assigned items stay exactly what the items say under
every command, concurrent commands, redelivered appends and read-alls; pages merge the caller's two
audiences newest first for every filter; read-all is one write per audience; due snoozes are counted
as they read."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_core.date_times import iso
from gui_core.dynamo import Table, from_dynamo
from gui_notifications.counting import COUNTED, Mark, counted_value, counter_sk, is_cell, tally_items
from gui_notifications.logic import InboxFilter, effective_status, notification_id
from gui_notifications.models import CATEGORIES, SEVERITIES, STATUSES, TENANT_WIDE, NotificationPage
from gui_notifications.repository import ASSIGNED_PREFIX, InboxRepository, assigned_copy
from gui_notifications.use_cases import WAKE_LIMIT
from local.apigw import HttpRequest
from tests.contract.conftest import REGION, Client, table

SCOPE = "gui:notifications"
_clock = itertools.count()


@pytest.fixture
def user(client: Client) -> Client:
    return client.as_user(client.subject, SCOPE)


@pytest.fixture
def repository(backend: Any, dynamodb: Any) -> InboxRepository:
    return InboxRepository(Table(table("inbox"), dynamodb), retention_days=90)


def _note(**fields: Any) -> dict[str, Any]:
    created = datetime.now(UTC) - timedelta(days=1) + timedelta(milliseconds=next(_clock))
    return {
        "id": notification_id(created),
        "category": "job",
        "severity": "info",
        "title": "Coverage job failed",
        "created_at": iso(created),
        **fields,
    }


def _partition(dynamodb: Any, tenant: str) -> list[dict[str, Any]]:
    """Every item of the tenant's inbox partition, read as an operator would."""
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {
        "TableName": table("inbox"),
        "KeyConditionExpression": "pk = :t",
        "ExpressionAttributeValues": {":t": {"S": tenant}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.query(**arguments)
        items += [from_dynamo(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items


def _stored(dynamodb: Any, tenant: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every notification of the tenant and its counter items."""
    items = _partition(dynamodb, tenant)
    notes = [i for i in items if str(i["sk"]).startswith("NOTE#")]
    counters = {str(i["sk"]): i for i in items if str(i["sk"]).startswith("COUNT#")}
    return notes, counters


def _assert_counters_exact(dynamodb: Any, tenant: str) -> list[dict[str, Any]]:
    """The counter items hold exactly what the items say they count as, every item counts as what
    it is (no writer left one behind), and every assigned item has its copy as it is, the others
    none."""
    notes, counters = _stored(dynamodb, tenant)
    copies = {
        str(i["id"]): i for i in _partition(dynamodb, tenant) if str(i["sk"]).startswith(ASSIGNED_PREFIX)
    }
    assert copies == {str(n["id"]): assigned_copy(n) for n in notes if n.get("assignee")}
    for note in notes:
        assert note.get(COUNTED) == counted_value(note), note
    expected = tally_items(notes)
    held = {
        sk: {name: int(value) for name, value in counter.items() if is_cell(name) and value}
        for sk, counter in counters.items()
    }
    assert {sk: cells for sk, cells in held.items() if cells} == expected
    return notes


def _expected_counts(
    dynamodb: Any, tenant: str, subject: str, filters: InboxFilter, now: datetime
) -> dict[str, int]:
    notes, counters = _stored(dynamodb, tenant)
    counts = dict.fromkeys(STATUSES, 0)
    for note in notes:
        if note["audience"] not in (TENANT_WIDE, subject):
            continue
        mark = Mark.of(counters.get(counter_sk(str(note["audience"]))))
        if filters.matches(note, now, mark, ignore_status=True):
            counts[effective_status(note, now, mark)] += 1
    return counts


def _expected_ids(dynamodb: Any, tenant: str, subject: str, filters: InboxFilter, now: datetime) -> list[str]:
    notes, counters = _stored(dynamodb, tenant)
    kept = [
        n
        for n in notes
        if n["audience"] in (TENANT_WIDE, subject)
        and filters.matches(n, now, Mark.of(counters.get(counter_sk(str(n["audience"])))))
    ]
    return [str(n["id"]) for n in sorted(kept, key=lambda n: str(n["sk"]), reverse=True)]


def _page(caller: Client, query: str = "") -> NotificationPage:
    answer = caller.call("GET", "/notifications", query=query)
    assert answer.status == 200, answer.body[:500]
    return NotificationPage.model_validate(answer.json())


def _walk(caller: Client, query: str, limit: int) -> Iterator[NotificationPage]:
    cursor = None
    while True:
        page = _page(
            caller, "&".join(q for q in (query, f"limit={limit}", f"cursor={cursor}" if cursor else "") if q)
        )
        yield page
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _query(filters: InboxFilter, subject: str) -> str:
    parts = [f"{k}={v}" for k, v in (("status", filters.status), ("severity", filters.severity)) if v]
    parts += [f"category={filters.category}"] if filters.category else []
    if filters.assignee:
        parts.append(f"assignee={'me' if filters.assignee == subject else filters.assignee}")
    return "&".join(parts)


def _command(caller: Client, item_id: str, command: str, body: Any = None) -> Any:
    return caller.call("POST", f"/notifications/{item_id}/{command}", body=body)


# -- counters ------------------------------------------------------------------------------------


def test_every_command_moves_the_counters_exactly(
    user: Client, repository: InboxRepository, dynamodb: Any
) -> None:
    """Counter items exist and follow every change: the stored counters equal what the items count
    as after each step, and the counts answered equal a count of the items."""
    tenant, me = user.tenant, user.subject
    wide = _note(severity="critical", category="incident")
    own = _note(audience=me, category="cost")
    assigned = _note(assignee="otto@x", severity="warning")
    snoozed = _note(status="snoozed", snoozed_until=iso(datetime.now(UTC) + timedelta(days=2)))
    for note in (wide, own, assigned, snoozed):
        assert repository.append(tenant, note)
        assert not repository.append(tenant, note)  # a redelivery counts nothing
    _assert_counters_exact(dynamodb, tenant)
    steps: list[tuple[str, str, Any]] = [
        (wide["id"], "read", None),
        (wide["id"], "acknowledge", None),
        (own["id"], "snooze", {"until": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}),
        (own["id"], "unsnooze", None),
        (assigned["id"], "assign", {"assignee": "me"}),
        (assigned["id"], "assign", {"assignee": "bob@x"}),
        (assigned["id"], "assign", {"assignee": None}),
        (snoozed["id"], "archive", None),
        (own["id"], "archive", None),
    ]
    for item_id, command, body in steps:
        answer = _command(user, item_id, command, body)
        assert answer.status == 200, (command, answer.body[:300])
        _assert_counters_exact(dynamodb, tenant)
    now = datetime.now(UTC)
    for filters in (InboxFilter(), InboxFilter(severity="critical"), InboxFilter(category="cost")):
        assert _page(user, _query(filters, me)).counts.model_dump() == _expected_counts(
            dynamodb, tenant, me, filters, now
        )


def test_counters_stay_exact_under_concurrent_commands_read_alls_and_redelivered_appends(
    user: Client, repository: InboxRepository, dynamodb: Any, backend: Any
) -> None:
    tenant = user.tenant
    users = [user.subject, f"{user.subject}-b", f"{user.subject}-c"]
    notes = [
        _note(
            audience=TENANT_WIDE if n % 3 else users[n % 2],
            severity=SEVERITIES[n % 3],
            category=CATEGORIES[n % 6],
            assignee=users[2] if n % 4 == 1 else None,
        )
        for n in range(12)
    ]
    for note in notes:
        assert repository.append(tenant, note)
    generator = random.Random(14)
    bodies: dict[str, Callable[[], Any]] = {
        "read": lambda: None,
        "acknowledge": lambda: None,
        "archive": lambda: None,
        "unsnooze": lambda: None,
        "snooze": lambda: {
            "until": (datetime.now(UTC) + timedelta(hours=generator.randint(1, 48))).isoformat()
        },
        "assign": lambda: {"assignee": generator.choice([*users, None, "me"])},
    }

    def request(subject: str) -> HttpRequest:
        caller = user.as_user(subject, SCOPE)
        visible = [n for n in notes if n["audience"] in (TENANT_WIDE, subject)]
        if generator.random() < 0.05:
            path, body = "/service/gui/notifications/read-all", None
        else:
            command = generator.choice(sorted(bodies))
            path = f"/service/gui/notifications/{generator.choice(visible)['id']}/{command}"
            body = bodies[command]()
        return HttpRequest(
            "POST",
            path,
            headers=(("Authorization", f"Bearer {caller.token()}"), ("Content-Type", "application/json")),
            body=json.dumps(body).encode() if body is not None else b"",
        )

    stop = threading.Event()
    redelivered = [0]

    def redeliver() -> None:
        while not stop.is_set():
            for note in notes:
                assert not repository.append(tenant, note)
                redelivered[0] += 1

    async def rounds() -> list[int]:
        gateway = backend.gateways[REGION]
        statuses = []
        for _ in range(10):
            answers = await asyncio.gather(
                *(gateway.invoke(request(generator.choice(users))) for _ in range(8))
            )
            statuses += [a.status for a in answers]
        return statuses

    worker = threading.Thread(target=redeliver)
    worker.start()
    try:
        statuses = asyncio.run(rounds())
    finally:
        stop.set()
        worker.join()
    # 409: a senseless transition, or a lost race; 429: the users' mutation rate, refused before
    # anything is read or written
    assert set(statuses) <= {200, 409, 429}, statuses
    assert statuses.count(200) > 30, statuses
    assert redelivered[0] >= len(notes)
    _assert_counters_exact(dynamodb, tenant)
    now = datetime.now(UTC)
    for subject in users:
        caller = user.as_user(subject, SCOPE)
        for filters in (InboxFilter(), InboxFilter(severity="warning"), InboxFilter(assignee=users[2])):
            answer = _page(caller, _query(filters, subject))
            assert answer.counts.model_dump() == _expected_counts(dynamodb, tenant, subject, filters, now)
            assert answer.counts_complete
        for filters in (InboxFilter(assignee=users[2]), InboxFilter(assignee=users[2], status="read")):
            _assert_pages(caller, dynamodb, filters, 2)  # from the copies the racing writes left


# -- pages ---------------------------------------------------------------------------------------

FILTERS = [
    InboxFilter(),
    *(InboxFilter(status=s) for s in STATUSES),
    InboxFilter(severity="critical"),
    InboxFilter(category="cost"),
    InboxFilter(status="unread", severity="warning"),
    InboxFilter(status="read", category="job"),
]


def _seed_mixed(user: Client, repository: InboxRepository) -> None:
    statuses = ("unread", "unread", "read", "acknowledged", "archived", "snoozed")
    for n in range(40):
        status = statuses[n % len(statuses)]
        repository.append(
            user.tenant,
            _note(
                audience=TENANT_WIDE if n % 3 else (user.subject if n % 2 else "someone-else"),
                severity=SEVERITIES[n % 3],
                category=CATEGORIES[(n // 2) % 6],
                status=status,
                snoozed_until=iso(datetime.now(UTC) + timedelta(hours=n)) if status == "snoozed" else None,
                assignee=user.subject if n % 5 == 0 else None,
            ),
        )


def _assert_pages(user: Client, dynamodb: Any, filters: InboxFilter, limit: int) -> None:
    now = datetime.now(UTC)
    expected = _expected_ids(dynamodb, user.tenant, user.subject, filters, now)
    walked = [n.id for page in _walk(user, _query(filters, user.subject), limit) for n in page.items]
    assert walked == expected, filters
    if expected:
        whole = _page(user, "&".join(q for q in (_query(filters, user.subject), "limit=100") if q))
        assert [n.id for n in whole.items] == expected
        assert {n.status for n in whole.items} <= ({filters.status} if filters.status else set(STATUSES))


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: _query(f, "me") or "all")
def test_pages_merge_both_audiences_newest_first_for_every_filter(
    user: Client, repository: InboxRepository, dynamodb: Any, filters: InboxFilter
) -> None:
    _seed_mixed(user, repository)
    for limit in (3, 7):
        _assert_pages(user, dynamodb, filters, limit)


def test_pages_after_read_alls_list_what_each_marked_read(
    user: Client, repository: InboxRepository, dynamodb: Any
) -> None:
    """Items a read-all left stored unread are read: in the read filter, out of the unread one,
    across several read-alls, each ending a generation."""
    _seed_mixed(user, repository)
    for _ in range(3):
        assert user.call("POST", "/notifications/read-all").status == 200
        repository.append(user.tenant, _note(audience=user.subject))  # unread, after the read-all
    for filters in (InboxFilter(status="read"), InboxFilter(status="unread"), InboxFilter()):
        _assert_pages(user, dynamodb, filters, 4)
    unread = _page(user, "status=unread&limit=100")
    assert len(unread.items) == unread.counts.unread == 1  # the last one: the others came before a read-all
    _assert_counters_exact(dynamodb, user.tenant)


def test_a_filter_the_counters_say_nothing_matches_reads_no_index(
    user: Client, repository: InboxRepository, backend: Any
) -> None:
    for n in range(30):
        repository.append(user.tenant, _note(severity="info", category=CATEGORIES[n % 3]))
    for query in ("severity=critical&category=cost", "status=archived", "assignee=nobody@x"):
        before = len(backend.iam_check.calls_of("gui_notifications"))
        page = _page(user, query)
        calls = backend.iam_check.calls_of("gui_notifications")[before:]
        assert (page.items, page.next_cursor, page.counts_complete) == ([], None, True), query
        assert not [c for c in calls if "/index/" in c.resource], [c.resource for c in calls]
    assert len(_page(user, "severity=info&limit=100").items) == 30  # a filter that matches still reads


def test_a_filter_no_index_keys_reads_on_in_growing_reads(
    user: Client, repository: InboxRepository, backend: Any
) -> None:
    """Two of 120 tenant-wide items are critical: the page reads the audience's partition in reads
    of 21, 21, 42 and 84 items (each as many as read before), not 6 of 21."""
    notes = [_note(severity="critical" if n in (7, 90) else "info") for n in range(120)]
    for note in notes:
        repository.append(user.tenant, note)
    before = len(backend.iam_check.calls_of("gui_notifications"))
    page = _page(user, "severity=critical&limit=20")
    calls = backend.iam_check.calls_of("gui_notifications")[before:]
    assert [n.id for n in page.items] == [notes[90]["id"], notes[7]["id"]]
    assert page.next_cursor is None
    index_reads = [c for c in calls if c.resource.endswith("/index/by_audience")]
    assert 1 < len(index_reads) <= 5, len(index_reads)  # the caller's own partition, then the shared one


# -- read-all ------------------------------------------------------------------------------------


def test_read_all_is_one_write_per_audience_whatever_it_marks(
    user: Client, repository: InboxRepository, dynamodb: Any, backend: Any
) -> None:
    for n in range(150):
        repository.append(user.tenant, _note(audience=TENANT_WIDE if n % 2 else user.subject))
    calls_before = len(backend.iam_check.calls_of("gui_notifications"))
    answer = user.call("POST", "/notifications/read-all")
    assert answer.status == 200
    assert answer.json() == {"marked": 150, "remaining": False}
    calls = backend.iam_check.calls_of("gui_notifications")[calls_before:]
    writes = [
        c
        for c in calls
        if c.action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        and c.resource.endswith(f"/{table('inbox')}")
    ]
    # an update per audience (the rate limit, replay guard and audit trail write other stores)
    assert [c.action for c in writes] == ["dynamodb:UpdateItem"] * 2, [(c.action, c.resource) for c in calls]
    page = _page(user)
    assert (page.counts.unread, page.counts.read) == (0, 150)
    assert {n.status for n in _page(user, "limit=100").items} == {"read"}
    _assert_counters_exact(dynamodb, user.tenant)


def test_after_a_read_all_new_and_unsnoozed_items_are_unread(
    user: Client, repository: InboxRepository, dynamodb: Any
) -> None:
    before = _note()
    assert repository.append(user.tenant, before)
    snoozed = _command(
        user, before["id"], "snooze", {"until": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    )
    assert snoozed.status == 200
    old = _note(audience=user.subject)
    repository.append(user.tenant, old)
    assert user.call("POST", "/notifications/read-all").json()["marked"] == 1
    later = _note()
    repository.append(user.tenant, later)
    assert _command(user, before["id"], "unsnooze").json()["status"] == "unread"
    seen = {n.id: n.status for n in _page(user).items}
    assert seen == {before["id"]: "unread", old["id"]: "read", later["id"]: "unread"}
    assert _page(user).counts.unread == 2
    read = _command(user, old["id"], "read")  # read already: nothing to write
    assert (read.status, read.json()["version"]) == (200, 1)
    _assert_counters_exact(dynamodb, user.tenant)


def test_a_read_all_by_one_user_reads_tenant_wide_items_for_everyone(
    user: Client, repository: InboxRepository
) -> None:
    wide, mine = _note(), _note(audience=user.subject)
    colleague = user.as_user("colleague", SCOPE)
    theirs = _note(audience="colleague")
    for note in (wide, mine, theirs):
        repository.append(user.tenant, note)
    assert colleague.call("POST", "/notifications/read-all").json()["marked"] == 2
    assert {n.id: n.status for n in _page(user).items} == {wide["id"]: "read", mine["id"]: "unread"}


# -- due snoozes ---------------------------------------------------------------------------------


def test_due_snoozes_are_counted_as_they_read_and_stored_so(
    user: Client, repository: InboxRepository, dynamodb: Any
) -> None:
    past = iso(datetime.now(UTC) - timedelta(minutes=1))
    due = [_note(status="snoozed", snoozed_until=past) for _ in range(WAKE_LIMIT + 3)]
    later = _note(status="snoozed", snoozed_until=iso(datetime.now(UTC) + timedelta(days=1)))
    for note in (*due, later):
        repository.append(user.tenant, note)
    first = _page(user)
    assert not first.counts_complete  # more came due than one request wakes
    second = _page(user)
    assert second.counts_complete
    assert (second.counts.unread, second.counts.snoozed) == (len(due), 1)
    assert {n.id for n in _page(user, "status=unread&limit=100").items} == {n["id"] for n in due}
    assert [n.id for n in _page(user, "status=snoozed").items] == [later["id"]]
    stored = repository.get(user.tenant, due[0]["id"])
    assert stored is not None
    assert (stored["status"], stored.get("snoozed_until"), stored["version"]) == ("unread", None, 1)
    _assert_counters_exact(dynamodb, user.tenant)
