"""Contract of every notifications endpoint: schemas, auth, scopes, tenancy, paging, filters, counts,
commands with their preconditions and conflicts, snooze expiry, read-all and audit, through the real
authorizer and handler. Inbox items are written with the repository the fan-out will use."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_core.date_times import iso
from gui_core.dynamo import Table
from gui_core.errors import Conflict
from gui_notifications.logic import notification_id
from gui_notifications.models import (
    CATEGORIES,
    SEVERITIES,
    STATUSES,
    Notification,
    NotificationPage,
    ReadAllResult,
)
from gui_notifications.repository import InboxRepository
from local.apigw import HttpRequest
from local.demo_notifications import DEMO_ITEMS, seed_demo_inboxes, seed_notifications
from stacks.manifest import MANIFEST
from tests.contract.conftest import REGION, Client, problem, provision, table
from tests.inbox_shape import migrate_inbox

SCOPE = "gui:notifications"
ROUTES = [(r.method, r.path, r.scope) for r in MANIFEST.function("gui_notifications").routes]
ETAG = re.compile(r'^"n\d+"$')
_clock = itertools.count()

Writer = Callable[..., str]


def _concrete(path: str) -> str:
    return (
        path.replace("{id}", notification_id(datetime.now(UTC)))
        .replace("{command}", "read")
        .removeprefix("/service/gui")
    )


@pytest.fixture
def user(client: Client) -> Client:
    return client.as_user(client.subject, SCOPE)


@pytest.fixture
def repository(backend: Any, dynamodb: Any) -> InboxRepository:
    return InboxRepository(Table(table("inbox"), dynamodb), retention_days=90)


@pytest.fixture
def write(repository: InboxRepository, user: Client) -> Writer:
    """Write an inbox item of the user's tenant (or `tenant=`); each one newer than the one before."""

    def writer(tenant: str | None = None, **fields: Any) -> str:
        created = datetime.now(UTC) - timedelta(days=1) + timedelta(milliseconds=next(_clock))
        note = {
            "id": notification_id(created),
            "category": "job",
            "severity": "info",
            "title": "Coverage job failed",
            "body": "Attempt 2 failed.",
            "source": {"module": "jobs", "job_id": "job-1"},
            "created_at": iso(created),
            **fields,
        }
        assert repository.append(tenant or user.tenant, note)
        return str(note["id"])

    return writer


def _page(caller: Client, query: str = "") -> NotificationPage:
    answer = caller.call("GET", "/notifications", query=query)
    assert answer.status == 200, answer.body[:500]
    return NotificationPage.model_validate(answer.json())


def _command(caller: Client, item_id: str, command: str, body: Any = None, etag: str | None = None) -> Any:
    headers = {"If-Match": etag} if etag else None
    return caller.call("POST", f"/notifications/{item_id}/{command}", body=body, headers=headers)


def _in(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


# -- authentication and authorization on every route -------------------------------------------


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_every_route_needs_a_token(client: Client, method: str, path: str, scope: str) -> None:
    problem(client.call(method, _concrete(path), token=None), 401, "unauthorized")


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_every_route_needs_the_notifications_scope(
    client: Client, method: str, path: str, scope: str
) -> None:
    assert scope == SCOPE
    caller = client.as_user(client.subject, "gui:dashboard", "gui:preferences", "gui:jobs")
    body = problem(caller.call(method, _concrete(path)), 403, "insufficient_scope")
    assert body["required_scope"] == SCOPE


def test_every_role_that_reads_has_the_inbox(user: Client, write: Writer) -> None:
    write()
    for role in ("viewer", "operator", "admin"):
        assert user.as_user(user.subject, roles=(role,)).call("GET", "/notifications").status == 200


def test_the_feature_flag_turns_the_inbox_off(user: Client, dynamodb: Any) -> None:
    provision(dynamodb, user.tenant, flags={"notifications": False})
    body = problem(user.call("GET", "/notifications"), 404, "feature_disabled")
    assert body["feature"] == "notifications"


# -- list --------------------------------------------------------------------------------------


def test_list_shows_tenant_wide_and_own_items_with_counts(user: Client, write: Writer) -> None:
    wide = write(title="For everyone")
    own = write(audience=user.subject, title="For me", severity="critical")
    write(audience="someone-else", title="For another user")
    answer = _page(user)
    assert [n.id for n in answer.items] == [own, wide]  # newest first
    assert answer.next_cursor is None
    assert answer.counts.unread == 2
    assert answer.counts_complete
    first = answer.items[0]
    assert (first.audience, first.status, first.version, first.severity) == (
        user.subject,
        "unread",
        1,
        "critical",
    )
    assert ETAG.match(first.etag)
    assert first.expires_at > datetime.now(UTC).timestamp() + 80 * 86400


def test_an_empty_inbox_is_an_empty_page(user: Client) -> None:
    answer = _page(user)
    assert (answer.items, answer.next_cursor, answer.counts.model_dump()) == (
        [],
        None,
        dict.fromkeys(STATUSES, 0),
    )


def test_pages_walk_the_whole_inbox_newest_first_without_duplicates_or_gaps(
    user: Client, write: Writer
) -> None:
    ids = [write(audience="*" if n % 2 else user.subject) for n in range(23)]
    whole = _page(user, "limit=100")
    assert [n.id for n in whole.items] == list(reversed(ids))
    walked: list[Notification] = []
    query = "limit=5"
    arrived = None
    while True:
        page = _page(user, query)
        assert len(page.items) <= 5
        # counts cover the whole inbox, not the page (plus the item that arrives after page one)
        assert page.counts.unread == whole.counts.unread + (arrived is not None)
        walked += page.items
        if arrived is None:
            arrived = write()  # a new item between two pages must not shift the walk
        if page.next_cursor is None:
            break
        query = f"limit=5&cursor={page.next_cursor}"
    assert [n.id for n in walked] == [n.id for n in whole.items]
    assert len({n.id for n in walked}) == 23
    created = [n.created_at for n in walked]
    assert created == sorted(created, reverse=True)
    assert _page(user, "limit=100").items[0].id == arrived


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "status=new", "severity=high", "category=x"]
)
def test_invalid_list_parameters_are_422(user: Client, query: str) -> None:
    problem(user.call("GET", "/notifications", query=query), 422, "validation_failed")


def test_a_cursor_of_another_tenant_or_a_forged_one_is_refused(user: Client, write: Writer) -> None:
    for _ in range(3):
        write()
    cursor = _page(user, "limit=1").next_cursor
    assert cursor
    stranger = Client(user.backend, user.keys, f"{user.tenant}-other", "x", (SCOPE,))
    problem(stranger.call("GET", "/notifications", query=f"cursor={cursor}"), 400, "invalid_cursor")
    problem(user.call("GET", "/notifications", query="cursor=not-a-cursor"), 400, "invalid_cursor")


def test_filters_combine_and_counts_follow_all_but_the_status_filter(user: Client, write: Writer) -> None:
    critical = write(severity="critical", category="incident")
    write(severity="info", category="cost")
    assigned = write(severity="warning", category="cost", assignee=user.subject)
    other = write(severity="warning", category="cost", assignee="otto@x", status="read")
    assert [n.id for n in _page(user, "severity=critical").items] == [critical]
    assert {n.id for n in _page(user, "category=cost").items} == {other, assigned} | {
        n.id for n in _page(user, "category=cost&severity=info").items
    }
    assert [n.id for n in _page(user, "assignee=me").items] == [assigned]
    assert [n.id for n in _page(user, "assignee=otto@x").items] == [other]
    read = _page(user, "category=cost&status=read")
    assert [n.id for n in read.items] == [other]
    assert (read.counts.read, read.counts.unread) == (1, 2)


def test_a_due_snooze_shows_and_counts_as_unread(user: Client, write: Writer) -> None:
    due = write(status="snoozed", snoozed_until=_in(-timedelta(minutes=1)))
    later = write(status="snoozed", snoozed_until=_in(timedelta(days=1)))
    answer = _page(user)
    seen = {n.id: n for n in answer.items}
    assert (seen[due].status, seen[due].snoozed_until) == ("unread", None)
    assert seen[later].status == "snoozed"
    assert (answer.counts.unread, answer.counts.snoozed) == (1, 1)
    assert [n.id for n in _page(user, "status=unread").items] == [due]
    assert [n.id for n in _page(user, "status=snoozed").items] == [later]
    assert user.call("GET", f"/notifications/{due}").json()["status"] == "unread"


# -- one item ----------------------------------------------------------------------------------


def test_get_returns_the_item_with_its_etag(user: Client, write: Writer) -> None:
    item_id = write(source={"module": "coverage", "artifact_id": "cov-7"})
    answer = user.call("GET", f"/notifications/{item_id}")
    assert answer.status == 200
    item = Notification.model_validate(answer.json())
    assert (item.id, item.source.artifact_id, item.acted_by) == (item_id, "cov-7", None)
    assert answer.header("etag") == item.etag == '"n1"'


def test_items_of_another_user_or_tenant_do_not_exist_for_the_caller(user: Client, write: Writer) -> None:
    personal = write(audience="someone-else")
    foreign = write(tenant=f"{user.tenant}-other")
    for item_id in (personal, foreign, notification_id(datetime.now(UTC))):
        problem(user.call("GET", f"/notifications/{item_id}"), 404, "not_found")
        problem(_command(user, item_id, "read"), 404, "not_found")
    assert {n.id for n in _page(user).items}.isdisjoint({personal, foreign})


# -- commands ----------------------------------------------------------------------------------


def test_read_acknowledge_archive_move_the_status_and_the_version(user: Client, write: Writer) -> None:
    item_id = write()
    for command, status, version in (
        ("read", "read", 2),
        ("acknowledge", "acknowledged", 3),
        ("archive", "archived", 4),
    ):
        answer = _command(user, item_id, command)
        assert answer.status == 200, answer.body
        item = Notification.model_validate(answer.json())
        assert (item.status, item.version, item.acted_by) == (status, version, user.subject)
        assert answer.header("etag") == f'"n{version}"'
    assert _page(user).counts.archived == 1


def test_a_tenant_wide_status_is_shared_by_the_team(user: Client, write: Writer) -> None:
    item_id = write()
    assert _command(user, item_id, "acknowledge").status == 200
    colleague = user.as_user("colleague", SCOPE)
    assert colleague.call("GET", f"/notifications/{item_id}").json()["status"] == "acknowledged"


def test_repeating_a_command_is_a_no_op(user: Client, write: Writer) -> None:
    item_id = write()
    assert _command(user, item_id, "read").json()["version"] == 2
    again = _command(user, item_id, "read")
    assert (again.status, again.json()["version"]) == (200, 2)


@pytest.mark.parametrize(
    ("start", "command"),
    [
        ("archived", "acknowledge"),
        ("archived", "read"),
        ("acknowledged", "snooze"),
        ("read", "unsnooze"),
        ("archived", "assign"),
    ],
)
def test_senseless_transitions_are_409(user: Client, write: Writer, start: str, command: str) -> None:
    item_id = write(status=start)
    body = {"snooze": {"until": _in(timedelta(hours=1))}, "assign": {"assignee": "x"}}.get(command)
    document = problem(_command(user, item_id, command, body), 409, "invalid_transition")
    assert (document["current_status"], document["command"]) == (start, command)


def test_an_unknown_command_is_404(user: Client, write: Writer) -> None:
    problem(_command(user, write(), "delete"), 404, "unknown_command")


def test_snooze_and_unsnooze(user: Client, write: Writer) -> None:
    item_id = write()
    until = datetime.now(UTC) + timedelta(hours=3)
    snoozed = _command(user, item_id, "snooze", {"until": until.isoformat()}).json()
    assert snoozed["status"] == "snoozed"
    assert datetime.fromisoformat(snoozed["snoozed_until"]) == until.replace(
        microsecond=until.microsecond // 1000 * 1000
    )
    assert _page(user).counts.snoozed == 1
    back = _command(user, item_id, "unsnooze").json()
    assert (back["status"], back["snoozed_until"], back["version"]) == ("unread", None, 3)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"until": _in(timedelta(minutes=2))},
        {"until": _in(-timedelta(hours=1))},
        {"until": _in(timedelta(days=31))},
        {"until": "2030-01-01T00:00:00"},  # no offset: ambiguous
        {"until": "tomorrow"},
        {"until": _in(timedelta(hours=1)), "note": "x"},
    ],
)
def test_invalid_snooze_times_are_422(user: Client, write: Writer, body: Any) -> None:
    item_id = write()
    document = problem(_command(user, item_id, "snooze", body), 422, "validation_failed")
    assert document["errors"]
    assert user.call("GET", f"/notifications/{item_id}").json()["version"] == 1


def test_assign_to_a_user_to_me_and_unassign(user: Client, write: Writer) -> None:
    item_id = write()
    assert _command(user, item_id, "assign", {"assignee": "otto@acme"}).json()["assignee"] == "otto@acme"
    assert _command(user, item_id, "assign", {"assignee": "me"}).json()["assignee"] == user.subject
    assert [n.id for n in _page(user, "assignee=me").items] == [item_id]
    cleared = _command(user, item_id, "assign", {"assignee": None}).json()
    assert (cleared["assignee"], cleared["status"], cleared["version"]) == (None, "unread", 4)


@pytest.mark.parametrize("assignee", ["", "has space", "#sk#forge", "x" * 200, 7])
def test_invalid_assignees_are_422(user: Client, write: Writer, assignee: Any) -> None:
    problem(_command(user, write(), "assign", {"assignee": assignee}), 422, "validation_failed")


def test_if_match_guards_a_command(user: Client, write: Writer) -> None:
    item_id = write()
    problem(_command(user, item_id, "read", etag='"n7"'), 412, "precondition_failed")
    answer = _command(user, item_id, "read", etag='"n1"')
    assert answer.status == 200
    problem(_command(user, item_id, "archive", etag='"n1"'), 412, "precondition_failed")
    assert _command(user, item_id, "archive", etag=answer.header("etag")).status == 200


def test_two_commands_with_the_same_etag_exactly_one_wins(user: Client, write: Writer, backend: Any) -> None:
    item_id = write()

    def request(command: str, body: Any) -> HttpRequest:
        return HttpRequest(
            "POST",
            f"/service/gui/notifications/{item_id}/{command}",
            headers=(
                ("Authorization", f"Bearer {user.token()}"),
                ("Content-Type", "application/json"),
                ("If-Match", '"n1"'),
            ),
            body=json.dumps(body).encode() if body else b"",
        )

    async def race() -> list[Any]:
        gateway = backend.gateways[REGION]
        return list(
            await asyncio.gather(
                gateway.invoke(request("acknowledge", None)),
                gateway.invoke(request("snooze", {"until": _in(timedelta(hours=1))})),
            )
        )

    answers = asyncio.run(race())
    assert sorted(a.status for a in answers) == [200, 412]
    winner = next(a for a in answers if a.status == 200).json()
    assert user.call("GET", f"/notifications/{item_id}").json() == winner


def test_a_conditional_write_never_overwrites_a_newer_version(
    user: Client, write: Writer, repository: InboxRepository
) -> None:
    # The race past the If-Match check: both commands read version 1, the second write must fail.
    item_id = write()
    stored = repository.get(user.tenant, item_id)
    assert stored
    repository.save({**stored, "status": "read", "version": 2})
    with pytest.raises(Conflict):
        repository.save({**stored, "status": "archived", "version": 2})
    assert user.call("GET", f"/notifications/{item_id}").json()["status"] == "read"


def test_a_command_persists_a_due_snooze(user: Client, write: Writer, repository: InboxRepository) -> None:
    item_id = write(status="snoozed", snoozed_until=_in(-timedelta(hours=1)))
    _command(user, item_id, "assign", {"assignee": "me"})
    stored = repository.get(user.tenant, item_id)
    assert stored
    assert (stored["status"], stored.get("snoozed_until")) == ("unread", None)


# -- read-all ----------------------------------------------------------------------------------


def test_read_all_marks_every_unread_item_the_caller_sees(user: Client, write: Writer) -> None:
    wide, own = write(), write(audience=user.subject)
    due = write(status="snoozed", snoozed_until=_in(-timedelta(minutes=5)))
    later = write(status="snoozed", snoozed_until=_in(timedelta(hours=5)))
    acknowledged = write(status="acknowledged")
    someone_elses = write(audience="someone-else")
    answer = user.call("POST", "/notifications/read-all")
    assert answer.status == 200
    assert ReadAllResult.model_validate(answer.json()) == ReadAllResult(marked=3, remaining=False)
    seen = {n.id: n.status for n in _page(user).items}
    assert seen == {wide: "read", own: "read", due: "read", later: "snoozed", acknowledged: "acknowledged"}
    assert someone_elses not in seen
    assert user.call("POST", "/notifications/read-all").json() == {"marked": 0, "remaining": False}
    other = user.as_user("someone-else", SCOPE)
    assert other.call("GET", f"/notifications/{someone_elses}").json()["status"] == "unread"


# -- the writer and the demo data --------------------------------------------------------------


def test_append_is_idempotent_on_the_notification_id(user: Client, repository: InboxRepository) -> None:
    note = {
        "id": notification_id(datetime.now(UTC), "event-1"),
        "category": "cost",
        "severity": "warning",
        "title": "t",
    }
    assert repository.append(user.tenant, note)
    assert _command(user, note["id"], "read").status == 200
    assert not repository.append(user.tenant, note)  # a redelivery does not reset the status
    assert user.call("GET", f"/notifications/{note['id']}").json()["status"] == "read"


@pytest.fixture
def repository_table(backend: Any, dynamodb: Any) -> Table:
    return Table(table("inbox"), dynamodb)


def test_demo_inbox_has_every_category_severity_and_status(
    user: Client, backend: Any, repository_table: Table
) -> None:
    others = ["ada@x", "otto@x"]
    written = seed_notifications(
        MANIFEST,
        endpoint_url=backend.aws_endpoint_url,
        region=REGION,
        tenant=user.tenant,
        users=[user.subject, *others],
    )
    assert 20 <= written <= 40
    again = seed_notifications(
        MANIFEST,
        endpoint_url=backend.aws_endpoint_url,
        region=REGION,
        tenant=user.tenant,
        users=[user.subject],
    )
    assert again == 0
    migrate_inbox(repository_table, user.tenant)  # the demo is seeded in the shape before 0001
    items = _page(user, "limit=100").items
    assert {n.category for n in items} == set(CATEGORIES)
    assert {n.severity for n in items} == set(SEVERITIES)
    assert {n.status for n in items} == set(STATUSES)
    assert any(n.audience == user.subject for n in items)
    assert any(n.assignee for n in items)


# -- audit ------------------------------------------------------------------------------------


def test_every_command_is_audited_with_its_outcome(user: Client, write: Writer, dynamodb: Any) -> None:
    item_id = write()
    _command(user, item_id, "read")
    _command(user, item_id, "read", etag='"n1"')  # stale: 412
    _command(user, item_id, "snooze", {"until": _in(timedelta(minutes=1))})  # 422
    user.call("POST", "/notifications/read-all")
    user.call("GET", "/notifications")  # not a mutation
    items = dynamodb.query(
        TableName=table("audit"),
        KeyConditionExpression="pk = :t",
        ExpressionAttributeValues={":t": {"S": user.tenant}},
    )["Items"]
    records = sorted(items, key=lambda i: i["sk"]["S"])
    assert [(r["endpoint"]["S"], r["path"]["S"], int(r["status"]["N"])) for r in records] == [
        ("/service/gui/notifications/{id}/{command}", f"/service/gui/notifications/{item_id}/read", 200),
        ("/service/gui/notifications/{id}/{command}", f"/service/gui/notifications/{item_id}/read", 412),
        ("/service/gui/notifications/{id}/{command}", f"/service/gui/notifications/{item_id}/snooze", 422),
        ("/service/gui/notifications/read-all", "/service/gui/notifications/read-all", 200),
    ]
    assert all(r["actor"]["S"] == user.subject for r in records)
    assert [r.get("code", {}).get("S") for r in records][1:3] == ["precondition_failed", "validation_failed"]


def test_demo_tenants_get_an_inbox_in_their_home_region_only(backend: Any, dynamodb: Any) -> None:
    seed_demo_inboxes(MANIFEST, endpoint_url=backend.aws_endpoint_url, regions=(REGION,))
    counts = {
        tenant: dynamodb.query(
            TableName=table("inbox"),
            KeyConditionExpression="pk = :t",
            ExpressionAttributeValues={":t": {"S": tenant}},
            Select="COUNT",
        )["Count"]
        for tenant in ("acme", "globex")
    }
    assert counts == {"acme": DEMO_ITEMS, "globex": 0}  # globex lives in us-east-1
