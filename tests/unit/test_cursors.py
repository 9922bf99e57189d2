"""Page cursors (gui_core.cursors): signed, bound to their place, keys read lazily and rotated."""

from __future__ import annotations

import base64
import re

import pytest
from starlette.requests import Request

from gui_core.cursors import (
    CURSOR_PATTERN,
    CursorKey,
    CursorPlace,
    Cursors,
    NoCursorKeys,
    SecretsManagerCursorKeys,
    StaticCursorKeys,
)
from gui_core.errors import InvalidCursor
from tests.fakes import ManualClock

JOBS = CursorPlace("GET /service/gui/jobs", "acme", (("status", "queued"),))
CURSORS = Cursors(StaticCursorKeys(b"k" * 64))


def test_a_cursor_reads_back_as_the_position_it_was_issued_with() -> None:
    cursor = CURSORS.issue({"sk": "JOB#0001", "n": 3}, JOBS)
    assert CURSORS.read(cursor, JOBS) == {"sk": "JOB#0001", "n": 3}
    assert CURSORS.read(None, JOBS) is None
    assert CURSORS.read("", JOBS) is None  # `cursor=`: the first page
    assert re.fullmatch(CURSOR_PATTERN, cursor)  # the pattern the OpenAPI documents


@pytest.mark.parametrize(
    "elsewhere",
    [
        CursorPlace("GET /service/gui/notifications", "acme", (("status", "queued"),)),
        CursorPlace("GET /service/gui/jobs", "globex", (("status", "queued"),)),
        CursorPlace("GET /service/gui/jobs", "acme", (("status", "failed"),)),
        CursorPlace("GET /service/gui/jobs", "acme", ()),
        CursorPlace("GET /service/gui/artifacts/{artifact_id}/lineage;artifact_id=b", "acme"),
    ],
    ids=["another route", "another tenant", "another filter", "no filter", "another path parameter"],
)
def test_a_cursor_is_refused_anywhere_but_where_it_was_issued(elsewhere: CursorPlace) -> None:
    with pytest.raises(InvalidCursor):
        CURSORS.read(CURSORS.issue({"sk": "JOB#0001"}, JOBS), elsewhere)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        _b64(b'{"pk":"acme"}'),
        _b64(b'{"pk":"acme"}') + "." + "A" * 51,
        "." + "A" * 51,
        "e30." + "A" * 52,
        "e30.\u00e9" + "A" * 50,
    ],
    ids=["a word", "unsigned JSON", "a made-up tag", "no position", "a long tag", "not base64"],
)
def test_anything_the_client_made_is_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        CURSORS.read(cursor, JOBS)


_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize("n", range(8))
def test_a_change_of_any_character_to_any_other_is_refused(n: int) -> None:
    """Every character, to every other base64url character: the last one of each part carries bits
    the encoding leaves unused (a tag of 38 bytes has 2), and a decoder that ignores them would
    read a changed cursor as the one issued (a CI run met it once in four on the jobs' cursor)."""
    cursor = CURSORS.issue({"sk": f"JOB#{n:04}", "n": n}, JOBS)
    for at, was in enumerate(cursor):
        if was == ".":
            continue
        for now in _BASE64URL.replace(was, ""):
            with pytest.raises(InvalidCursor):
                CURSORS.read(cursor[:at] + now + cursor[at + 1 :], JOBS)


def test_a_position_signed_by_us_but_not_an_object_is_refused() -> None:
    cursor = CURSORS.issue({"sk": "x"}, JOBS)
    # The same signature over another position: refused by the signature already.
    other = _b64(b'["acme"]') + "." + cursor.partition(".")[2]
    with pytest.raises(InvalidCursor):
        CURSORS.read(other, JOBS)


class Versions:
    """Secrets Manager's version stages of one secret, counting the reads."""

    def __init__(self, current: str) -> None:
        self.stages: dict[str, str] = {"AWSCURRENT": current}
        self.reads: list[str] = []

    def rotate(self, new: str) -> None:
        self.stages = {"AWSCURRENT": new, "AWSPREVIOUS": self.stages["AWSCURRENT"]}

    def __call__(self, stage: str) -> str | None:
        self.reads.append(stage)
        return self.stages.get(stage)


def _keys(versions: Versions, clock: ManualClock) -> SecretsManagerCursorKeys:
    return SecretsManagerCursorKeys("arn:secret", "eu-west-1", reader=versions, clock=clock, refresh_s=3600)


def test_the_key_is_read_at_the_first_cursor_and_kept() -> None:
    versions, clock = Versions("one"), ManualClock(1000.0)
    cursors = Cursors(_keys(versions, clock))
    assert versions.reads == []  # nothing at construction: the cold start reads no secret
    cursor = cursors.issue({"sk": "a"}, JOBS)
    assert cursors.read(cursor, JOBS) == {"sk": "a"}
    cursors.issue({"sk": "b"}, JOBS)
    assert versions.reads == ["AWSCURRENT"]


def test_after_a_rotation_the_previous_keys_cursors_are_accepted_until_the_next() -> None:
    versions, clock = Versions("one"), ManualClock(1000.0)
    old_container = Cursors(_keys(versions, clock))
    issued_before = old_container.issue({"sk": "a"}, JOBS)
    versions.rotate("two")
    new_container = Cursors(_keys(versions, clock))
    issued_after = new_container.issue({"sk": "b"}, JOBS)
    # A container started after the rotation reads the previous version for an older cursor...
    assert new_container.read(issued_before, JOBS) == {"sk": "a"}
    # ... and one started before reads the current version again for a newer cursor, then signs with it.
    assert old_container.read(issued_after, JOBS) == {"sk": "b"}
    assert CursorKey(b"two").id == _key_id(old_container.issue({"sk": "c"}, JOBS))
    versions.rotate("three")
    clock.now += 61
    with pytest.raises(InvalidCursor):
        Cursors(_keys(versions, clock)).read(issued_before, JOBS)  # two rotations ago: start again


def test_a_container_drops_a_key_two_rotations_old_at_its_next_read() -> None:
    versions, clock = Versions("zero"), ManualClock(1000.0)
    old_container = Cursors(_keys(versions, clock))
    leaked = old_container.issue({"sk": "a"}, JOBS)
    versions.rotate("one")
    versions.rotate("two")
    assert old_container.read(leaked, JOBS) == {"sk": "a"}  # it has read nothing since
    newer = Cursors(StaticCursorKeys(b"two")).issue({"sk": "b"}, JOBS)
    assert old_container.read(newer, JOBS) == {"sk": "b"}  # an unknown key: it reads both versions
    with pytest.raises(InvalidCursor):
        old_container.read(leaked, JOBS)


def test_an_unknown_key_is_looked_for_at_most_once_a_minute() -> None:
    versions, clock = Versions("one"), ManualClock(1000.0)
    cursors = Cursors(_keys(versions, clock))
    stranger = Cursors(StaticCursorKeys(b"not ours")).issue({"sk": "a"}, JOBS)
    for _ in range(5):
        with pytest.raises(InvalidCursor):
            cursors.read(stranger, JOBS)
    assert versions.reads == ["AWSCURRENT", "AWSCURRENT", "AWSPREVIOUS"]
    clock.now += 60
    with pytest.raises(InvalidCursor):
        cursors.read(stranger, JOBS)
    assert len(versions.reads) == 5


def test_a_container_reads_the_current_key_again_after_its_refresh_period() -> None:
    versions, clock = Versions("one"), ManualClock(1000.0)
    cursors = Cursors(_keys(versions, clock))
    cursors.issue({"sk": "a"}, JOBS)
    versions.rotate("two")
    clock.now += 3600
    assert _key_id(cursors.issue({"sk": "a"}, JOBS)) == CursorKey(b"two").id


def _key_id(cursor: str) -> bytes:
    tag = cursor.partition(".")[2]
    return base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4))[:6]


def test_a_function_without_a_key_fails_loudly_when_it_pages() -> None:
    with pytest.raises(RuntimeError, match="no cursor key"):
        Cursors(NoCursorKeys()).issue({"sk": "a"}, JOBS)


def _request(path: str, query: str, route_path: str, path_params: dict[str, str] | None = None) -> Request:
    class Route:
        pass

    route = Route()
    route.path = route_path  # type: ignore[attr-defined]
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": query.encode(),
            "headers": [],
            "route": route,
            "path_params": path_params or {},
        }
    )


def test_the_place_of_a_request_leaves_out_the_cursor_and_the_page_size_and_sorts_the_rest() -> None:
    place = CursorPlace.of(
        _request("/service/gui/search", "kind=b&limit=5&cursor=x&kind=a&q=", "/service/gui/search"),
        tenant="t",
    )
    assert place == CursorPlace("GET /service/gui/search", "t", (("kind", "a"), ("kind", "b"), ("q", "")))
    lineage = CursorPlace.of(
        _request(
            "/service/gui/artifacts/a%2Fb/lineage",
            "layer=upstream:1&fan_out=7",
            "/service/gui/artifacts/{artifact_id}/lineage",
            {"artifact_id": "a/b"},
        ),
        tenant="t",
    )
    assert lineage.route == "GET /service/gui/artifacts/{artifact_id}/lineage;artifact_id=a/b"
    assert lineage.query == (("layer", "upstream:1"),)
