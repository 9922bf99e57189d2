"""Date-times a client sends (gui_core.date_times): the query parameters' type, QueryTime, is ISO 8601
only, in UTC, held within the calendar at its ends, never a bare number; IsoOnly keeps a body's
date-time to the same text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from gui_core.date_times import EARLIEST, LATEST, QueryTime, iso
from gui_notifications.models import CommandInput

QUERY_TIME: TypeAdapter[datetime] = TypeAdapter(QueryTime)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-01-31T08:00:00Z", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("2026-01-31T08:00:00.250+02:00", datetime(2026, 1, 31, 6, 0, 0, 250_000, tzinfo=UTC)),
        ("2026-01-31 08:00", datetime(2026, 1, 31, 8, tzinfo=UTC)),  # no offset: UTC
        ("2026-01-31t08:00:00z", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("2026-01-31T08:00:00-0130", datetime(2026, 1, 31, 9, 30, tzinfo=UTC)),
        ("0001-01-01T00:00:00+05:00", EARLIEST),  # 0000-12-31T19:00Z: the calendar's first instant
        ("0001-01-01T04:59:59+05:00", EARLIEST),
        ("0001-01-01T05:00:00+05:00", EARLIEST),
        ("0001-01-01T05:00:01+05:00", EARLIEST + timedelta(seconds=1)),
        ("9999-12-31T23:59:59-05:00", LATEST),  # 10000-01-01T04:59:59Z: its last
        ("9999-12-31T23:59:59.999999Z", LATEST),
    ],
)
def test_a_date_time_is_read_as_an_instant_in_utc(text: str, instant: datetime) -> None:
    parsed = QUERY_TIME.validate_python(text)
    assert parsed == instant
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "0.5",  # a Unix time to pydantic alone: GET /jobs?to=0.5 was a 200
        "1700000000",
        "-1",
        "1e3",
        "2026-01-31",  # a date alone
        "2026-01-31T08:00:00 05:00",  # an offset's + sent unencoded
        "2026-01-31T08:00:00+05",
        "2026-13-01T00:00:00Z",
        "2026-01-31T24:00:00Z",
        "10000-01-01T00:00:00Z",
        "yesterday",
        "",
    ],
)
def test_anything_but_an_iso_date_time_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        QUERY_TIME.validate_python(text)


OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(moment=st.datetimes(), offset=OFFSETS, separator=st.sampled_from(["T", "t", " "]))
@settings(max_examples=300, deadline=None)
def test_every_date_time_of_the_calendar_with_any_offset_is_an_instant_within_it(
    moment: datetime, offset: timezone, separator: str
) -> None:
    text = moment.replace(tzinfo=offset).isoformat(sep=separator)
    parsed = QUERY_TIME.validate_python(text)
    assert EARLIEST <= parsed <= LATEST
    wanted = moment.replace(tzinfo=offset)
    if EARLIEST <= wanted <= LATEST:  # aware comparisons do not overflow
        assert parsed == wanted
    else:
        assert parsed == (EARLIEST if wanted < EARLIEST else LATEST)


@given(st.one_of(st.integers().map(str), st.floats().map(str)))
@settings(max_examples=100, deadline=None)
def test_no_number_is_a_date_time(text: str) -> None:
    with pytest.raises(ValidationError):
        QUERY_TIME.validate_python(text)


@pytest.mark.parametrize("value", ["1797000000", 1797000000, 1797000000.5, "2026-12-08"])
def test_a_body_date_time_is_iso_text_never_a_number(value: object) -> None:
    with pytest.raises(ValidationError):
        CommandInput.model_validate({"until": value})
    assert CommandInput.model_validate({"until": "2026-12-08T10:00:00+01:00"}).until == datetime(
        2026, 12, 8, 9, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (datetime(2026, 11, 27, 19, 35, tzinfo=UTC), "2026-11-27T19:35:00.000+00:00"),
        (
            datetime(2026, 11, 27, 20, 35, 0, 123_999, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-27T19:35:00.123+00:00",
        ),
        (datetime(2026, 11, 27, 19, 35), "2026-11-27T19:35:00.000+00:00"),  # naive: already UTC
    ],
)
def test_iso_spells_every_time_in_utc_with_milliseconds(instant: datetime, text: str) -> None:
    assert iso(instant) == text


def test_iso_spellings_sort_as_the_times_do() -> None:
    times = [datetime(2026, 11, 27, 19, 35, tzinfo=UTC) + timedelta(milliseconds=n * 997) for n in range(50)]
    assert sorted(iso(t) for t in reversed(times)) == [iso(t) for t in times]
