"""Date-times a client sends: ISO 8601 text, never a number; one type for every query parameter.

`QueryTime`, the type of `from`, `to`, `updated_from` and the like on every route, takes an ISO 8601
date-time (RFC 3339's: `T` or a space between date and time, seconds and their fraction optional),
with an offset or without one (UTC); never a bare number, which pydantic alone reads as a Unix time
(`to=0.5`), nor a date alone. The value is an aware datetime in UTC. A time whose UTC falls before
the year 1 or after 9999 (`0001-01-01T00:00:00+05:00`) is taken as the first or last instant of the
calendar: nothing is stored beyond either, so the bound selects what the client meant, and no
conversion of it overflows later (an answer of 500 before).

`IsoOnly` alone keeps a body's date-time to the same text (a JSON number is no date-time either).
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


IsoOnly = BeforeValidator(_iso_text)
"""A date-time given as ISO 8601 text (or a datetime, in code), never a number."""
QueryTime = Annotated[datetime, IsoOnly, AfterValidator(in_utc)]
"""A query parameter's date-time: ISO 8601 only, in UTC, within the calendar."""
