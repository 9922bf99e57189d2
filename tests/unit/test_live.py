"""The replay log's continuity rules: a resume is gap-free exactly when every later event is still
in the log, from a real cursor or from the origin of an empty channel."""

from __future__ import annotations

from gui_core.connections import ConnectionRegistry
from gui_core.replay_log import ORIGIN, LiveEvent, ReplayLog, to_cursor
from local.memory_table import MemoryTable
from tests.fakes import CountedTable, ManualClock

WINDOW_S = 3600


def _event(sequence: int, event_id: str | None = None) -> LiveEvent:
    return LiveEvent(
        tenant="acme",
        channel="jobs",
        cursor=to_cursor(sequence),
        event_id=event_id or f"e{sequence}",
        kind="JobStatusChanged",
        at="2026-11-27T10:00:00+00:00",
        payload={"job_id": f"j{sequence}"},
    )


def _log() -> tuple[ReplayLog, ManualClock]:
    clock = ManualClock(1_800_000_000.0)
    return ReplayLog(MemoryTable(), window_s=WINDOW_S, clock=clock), clock


def test_an_empty_channel_answers_the_origin_and_its_first_events_follow_it() -> None:
    log, _ = _log()
    assert log.latest("acme", "jobs") == ORIGIN
    assert log.after("acme", "jobs", ORIGIN).events == []
    log.append(_event(5))
    log.append(_event(9))
    page = log.after("acme", "jobs", ORIGIN)
    assert (page.gap, [e.cursor for e in page.events]) == (False, [to_cursor(5), to_cursor(9)])
    assert page.latest == to_cursor(9)


def test_from_the_origin_is_a_gap_once_the_first_event_has_expired() -> None:
    log, clock = _log()
    log.append(_event(5))
    clock.now += WINDOW_S / 2
    log.append(_event(9))
    clock.now += WINDOW_S / 2 + 1  # the first event is past the window, the second is not
    page = log.after("acme", "jobs", ORIGIN)
    assert (page.gap, page.events, page.latest) == (True, [], to_cursor(9))


def test_a_known_cursor_resumes_in_order_and_an_expired_or_unknown_one_is_a_gap() -> None:
    log, clock = _log()
    for sequence in (3, 4, 7):
        log.append(_event(sequence))
    assert [e.cursor for e in log.after("acme", "jobs", to_cursor(3)).events] == [to_cursor(4), to_cursor(7)]
    assert log.after("acme", "jobs", to_cursor(5)).gap  # never an event's cursor
    assert log.after("acme", "jobs", "garbage").gap
    clock.now += WINDOW_S + 1
    assert log.after("acme", "jobs", to_cursor(3)).gap


def test_an_event_is_logged_once_per_event_id_whatever_its_record() -> None:
    log, _ = _log()
    first = log.append(_event(3, "same"))
    again = log.append(_event(3, "same"))  # a redelivered record
    repeat = log.append(_event(8, "same"))  # the producer's repeat, in another record
    assert (first.new, again.new, repeat.new) == (True, False, False)
    assert repeat.event.cursor == to_cursor(3)
    log.mark_pushed(first.event)
    assert log.append(_event(8, "same")).pushed
    assert [e.event_id for e in log.after("acme", "jobs", ORIGIN).events] == ["same"]


def test_a_connection_lasts_until_its_token_expires_when_that_comes_first() -> None:
    clock = ManualClock(1_800_000_000.0)
    registry = ConnectionRegistry(MemoryTable(), ttl_s=7200, clock=clock)
    short = registry.register(
        "acme", "c-short", subject="ada", scopes=["gui:jobs"], served_until=int(clock.now) + 600
    )
    long = registry.register("acme", "c-long", subject="bob", scopes=["gui:jobs"])
    registry.subscribe(short, ["jobs"])
    registry.subscribe(long, ["jobs"])
    assert sorted(registry.subscribers("acme", "jobs")) == ["c-long", "c-short"]
    clock.now += 601
    assert registry.subscribers("acme", "jobs") == ["c-long"]
    assert registry.get("acme", "c-short") is None
    assert registry.get("acme", "c-long") is not None


def test_a_read_after_a_cursor_takes_the_latest_from_its_page_unless_the_page_is_full() -> None:
    """An SSE hold reads every 0.25 s: one query per read when nothing or little arrived."""
    table = CountedTable()
    log = ReplayLog(table, window_s=WINDOW_S, clock=ManualClock(1_800_000_000.0))
    for sequence in (3, 4, 7):
        log.append(_event(sequence))
    table.queries = 0
    page = log.after("acme", "jobs", to_cursor(7))
    assert (page.events, page.latest, page.more, table.queries) == ([], to_cursor(7), False, 1)
    page = log.after("acme", "jobs", to_cursor(3))
    assert ([e.cursor for e in page.events], page.latest, page.more) == (
        [to_cursor(4), to_cursor(7)],
        to_cursor(7),
        False,
    )
    assert table.queries == 2
    page = log.after("acme", "jobs", to_cursor(3), limit=1)  # a full page: the latest is read
    assert ([e.cursor for e in page.events], page.latest, page.more) == ([to_cursor(4)], to_cursor(7), True)
    assert table.queries == 4
