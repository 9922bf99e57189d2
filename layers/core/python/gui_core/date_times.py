"""Date-times a client sends: ISO 8601 text, never a number; one type for every query parameter.

`QueryTime`, the type of `from`, `to`, `updated_from` and the like on every route, takes an ISO 8601
date-time (RFC 3339's: `T` or a space between date and time, seconds and their fraction optional),
with an offset or without one (UTC); never a bare number, which pydantic alone reads as a Unix time
(`to=0.5`), nor a date alone. The value is an aware datetime in UTC. A time whose UTC falls before
the year 1 or after 9999 (`0001-01-01T00:00:00+05:00`) is taken as the first or last instant of the
calendar: nothing is stored beyond either, so the bound selects what the client meant, and no
conversion of it overflows later (an answer of 500 before).

`IsoOnly` alone keeps a body's date-time to the same text (a JSON number is no date-time either).

`aware_time` and `parse_time` read a stored or sent time back: the first strictly (an event's time),
the second forgiving an absent or unreadable one (a record's, in UTC).

`iso` is the one spelling of a time the backend writes, in stored items and in answers: UTC,
milliseconds, `+00:00` (2026-11-27T19:35:00.000+00:00). Its width is fixed, so stored times sort as
strings in time order (the inbox's and the artifacts' sort keys are spelled so); the choice is in
docs/decision_log.md.
"""

from __future__ import annotations

import re
from datetime import MINYEAR, UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?")


def _iso_text(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _SHAPE.fullmatch(value)):
        return value
    raise PydanticCustomError(
        "date_time_format",
        "Input should be an ISO 8601 date-time such as 2026-01-31T08:00:00Z (an offset's + sent as %2B)",
    )


def in_utc(value: datetime) -> datetime:
    """`value` in UTC (naive: already UTC), held within the calendar (years 1 to 9999)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return EARLIEST if value.year == MINYEAR else LATEST


def iso(at: datetime) -> str:
    """`at` as the backend spells a time: UTC, milliseconds, `+00:00` (naive: already UTC)."""
    return in_utc(at).isoformat(timespec="milliseconds")


def aware_time(value: str) -> datetime:
    """ISO 8601 text as an aware datetime, its offset kept (naive: UTC); ValueError for other text."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_time(value: Any) -> datetime | None:
    """A stored ISO time as an aware UTC datetime; None when absent or unreadable (naive = UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = aware_time(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC)


IsoOnly = BeforeValidator(_iso_text)
"""A date-time given as ISO 8601 text (or a datetime, in code), never a number."""
QueryTime = Annotated[datetime, IsoOnly, AfterValidator(in_utc)]
"""A query parameter's date-time: ISO 8601 only, in UTC, within the calendar."""
