"""What DynamoDB holds, as its documentation says, written apart from gui_core.storable: the oracle of
the tests that send values through the models and the stores, and the hypothesis strategies that
make those values (JSON as a client may send it: NaN, infinities, integers of any length, numbers
outside DynamoDB's range, numeric strings, lone surrogates)."""

from __future__ import annotations

import json
from decimal import Context, Decimal
from typing import Any

from hypothesis import strategies as st


def holds(number: int | float) -> bool:
    """A number DynamoDB keeps: finite, at most 38 significant digits, a magnitude from 1E-130 up to
    9.99...E+125, or zero."""
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    if not exact.is_finite():
        return False
    if exact.is_zero():
        return True
    significant = exact.normalize(Context(prec=100_000))
    return len(significant.as_tuple().digits) <= 38 and -130 <= significant.adjusted() <= 125


def is_text(value: str) -> bool:
    """A string DynamoDB keeps and a JSON answer carries: no lone surrogates."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def same_number(answered: Any, sent: int | float) -> bool:
    """The same number in JSON: the decimal the JSON text of each denotes (`1e+125` is the integer
    10**125, which DynamoDB keeps and gives back, while Python's float 1e125 is only near it)."""
    return type(answered) in (int, float) and Decimal(json.dumps(answered)) == Decimal(json.dumps(sent))


def same_json(answered: Any, sent: Any) -> bool:
    """The same JSON value: strings the same string, booleans the same, numbers the same number
    (never a string for a number or a number for a string), containers alike item by item."""
    if isinstance(sent, bool) or sent is None or isinstance(sent, str):
        return type(answered) is type(sent) and answered == sent
    if isinstance(sent, int | float):
        return same_number(answered, sent)
    if isinstance(sent, list):
        return (
            isinstance(answered, list)
            and len(answered) == len(sent)
            and all(same_json(a, s) for a, s in zip(answered, sent, strict=True))
        )
    if isinstance(sent, dict):
        return (
            isinstance(answered, dict)
            and answered.keys() == sent.keys()
            and all(same_json(answered[k], v) for k, v in sent.items())
        )
    raise TypeError(f"not JSON: {sent!r}")


def body(value: Any) -> bytes:
    """`value` as the JSON text a client sends: NaN and infinities as Python's parser reads them."""
    return json.dumps(value, allow_nan=True).encode()


NUMBERS = st.one_of(
    st.floats(),  # NaN, infinities, subnormals
    st.integers(min_value=-(10**45), max_value=10**45),
    st.builds(lambda m, e: float(f"{m}e{e}"), st.integers(-999, 999), st.integers(-340, 310)),
    st.builds(lambda m, e: m * 10**e, st.integers(-(10**39), 10**39), st.integers(0, 130)),
)
NUMERIC_TEXT = st.one_of(
    st.builds(lambda digit, n: digit * n, st.sampled_from("09"), st.integers(1, 400)),
    NUMBERS.map(lambda n: json.dumps(n, allow_nan=True)),
    st.sampled_from(["007", "-0", "1e5", "NaN", "Infinity", "true", "null", ""]),
)
TEXT = st.one_of(
    st.text(max_size=300),
    NUMERIC_TEXT,
    st.sampled_from(["\ud800", "a\udfffb"]),  # lone surrogates: JSON allows them as escapes
)
SCALARS = st.one_of(TEXT, NUMBERS, st.booleans(), st.none())
JSON_VALUES = st.one_of(
    SCALARS,
    st.lists(st.one_of(TEXT, NUMBERS), max_size=55),
    st.dictionaries(st.sampled_from(["a", "b"]), SCALARS, max_size=2),
)
