"""What DynamoDB can hold (gui_core.storable) and the adapter's last line (gui_core.dynamo.to_dynamo):
the numbers of DynamoDB's range pass and come back as the same number, the others are refused at
their own place; a union of JSON types answers one error at the value; a string is never a number."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from pydantic import BaseModel, Field, StringConstraints, TypeAdapter, ValidationError

from gui_core.domain_events import InvalidEvent, parse
from gui_core.dynamo import Put, Table, from_dynamo, to_dynamo
from gui_core.storable import JsonUnion, StoredFloat, StoredInt, UnstorableValue, dynamo_number
from tests.dynamodb_values import NUMBERS, holds, same_number


@given(NUMBERS)
@settings(max_examples=300, deadline=None)
def test_a_number_is_stored_exactly_when_dynamodb_holds_it_and_refused_otherwise(number: int | float) -> None:
    if not holds(number):
        with pytest.raises(UnstorableValue):
            dynamo_number(number)
        with pytest.raises(UnstorableValue):
            to_dynamo({"n": number})
        return
    stored = to_dynamo({"n": number, "nested": {"in": [number]}})
    assert len(Decimal(stored["n"]["N"]).as_tuple().digits) <= 38
    back = from_dynamo(stored)
    assert same_number(back["n"], number)
    assert back["nested"]["in"] == [back["n"]]


@pytest.mark.parametrize(
    ("number", "stored"),
    [
        (10**40, "1E+40"),  # 41 digits, one significant: boto3 alone refused it (a 500)
        (1e125, "1E+125"),
        (-9.999999999999998e125, "-9.999999999999998E+125"),
        (1e-130, "1E-130"),
        (12_300, "12300"),  # as it is, where it fits
        (200, "200"),
        (0.1, "0.1"),
        (-0.0, "0"),
        (int("9" * 38), "9" * 38),
    ],
)
def test_the_edges_of_the_range_are_stored(number: int | float, stored: str) -> None:
    assert to_dynamo({"n": number})["n"] == {"N": stored}
    assert same_number(from_dynamo(to_dynamo({"n": number}))["n"], number)


@pytest.mark.parametrize(
    "number",
    [
        float("inf"),
        float("-inf"),
        float("nan"),
        1e126,
        1e300,
        1e-131,
        1e-200,
        5e-324,
        int("9" * 39),
        10**40 + 7,
    ],
)
def test_the_adapter_refuses_what_dynamodb_cannot_hold_before_sending_it(number: int | float) -> None:
    class Refused:
        def transact_write_items(self, **_: Any) -> None:
            raise AssertionError("nothing is sent")

    with pytest.raises(UnstorableValue):
        Table("t", Refused()).transact([Put({"pk": "a", "filters": {"x": [number]}})])


def test_a_transaction_dynamodb_refuses_as_invalid_is_no_condition_failure() -> None:
    class Invalid:
        def transact_write_items(self, **_: Any) -> None:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": [{"Code": "ValidationError"}, {"Code": "None"}],
                },
                "TransactWriteItems",
            )

    with pytest.raises(ClientError):  # a 500 to look into, not a 409 or 412 to retry forever
        Table("t", Invalid()).transact([Put({"pk": "a"}), Put({"pk": "b"})])


Text = Annotated[str, StringConstraints(max_length=5)]


class Filters(BaseModel):
    value: Annotated[Text | int | float | bool | Annotated[list[Text], Field(max_length=2)], JsonUnion()]


@pytest.mark.parametrize(
    ("value", "pointer", "kind"),
    [
        ("toolong", ("value",), "string_too_long"),
        ("0" * 300, ("value",), "string_too_long"),  # once the integer 0
        (float("inf"), ("value",), "unstorable_number"),
        (1e-200, ("value",), "unstorable_number"),
        (int("9" * 39), ("value",), "unstorable_number"),
        (None, ("value",), "json_type"),
        ({"a": 1}, ("value",), "json_type"),
        (["ok", 3], ("value", 1), "string_type"),
        (["a", "b", "c"], ("value",), "too_long"),
    ],
)
def test_a_union_of_json_types_answers_one_error_at_the_value(
    value: Any, pointer: tuple[Any, ...], kind: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Filters.model_validate({"value": value})
    assert [(e["loc"], e["type"]) for e in raised.value.errors()] == [(pointer, kind)]


@pytest.mark.parametrize(
    "value", ["007", "1e5", "NaN", "true", "", 0, -0.5, 1.0, 10**40, True, False, ["1", "2"]]
)
def test_a_union_of_json_types_keeps_each_value_as_it_was_sent(value: Any) -> None:
    kept = Filters.model_validate_json(json.dumps({"value": value})).value
    assert kept == value
    assert type(kept) is type(value)


def test_a_union_of_json_types_has_the_union_s_json_schema() -> None:
    schema = Filters.model_json_schema()["properties"]["value"]
    assert [m["type"] for m in schema["anyOf"]] == ["string", "integer", "number", "boolean", "array"]


@pytest.mark.parametrize(
    ("annotation", "value"),
    [(StoredInt, "5"), (StoredInt, True), (StoredInt, 5.0), (StoredFloat, "0.5"), (StoredFloat, False)],
)
def test_a_stored_number_is_never_read_from_a_string_or_a_boolean(annotation: Any, value: Any) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(annotation).validate_python(value)


def test_a_stored_float_takes_an_integer_as_the_same_number() -> None:
    assert TypeAdapter(StoredFloat).validate_python(3) == 3.0


def _cost_alert(**detail: Any) -> dict[str, Any]:
    return {
        "tenant": "acme",
        "event_id": "e1",
        "schema_version": "1",
        "region": "eu-west-1",
        "time": "2026-11-27T10:00:00Z",
        "alert_id": "a1",
        "budget_id": "b1",
        "period": "month",
        "spent_usd": 10.0,
        "budget_usd": 100.0,
        **detail,
    }


@pytest.mark.parametrize(
    "detail",
    [
        {"spent_usd": 1e300},
        {"budget_usd": float("inf")},
        {"forecast_usd": 1e-200},
        {"time": "0001-01-01T00:00:00+05:00"},  # an OverflowError once, not an invalid event
    ],
)
def test_an_event_with_a_value_dynamodb_cannot_hold_is_invalid_not_a_failing_write(
    detail: dict[str, Any],
) -> None:
    with pytest.raises(InvalidEvent):
        parse("CostAlert", _cost_alert(**detail))


def test_an_event_s_numbers_stay_lenient_within_the_range() -> None:
    event = parse("CostAlert", _cost_alert(spent_usd="12.5"))
    assert getattr(event, "spent_usd") == 12.5  # noqa: B009
