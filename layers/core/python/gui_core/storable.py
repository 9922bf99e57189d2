"""What a DynamoDB item can hold, checked where a value enters: in the models, before anything is written.

DynamoDB keeps a number to 38 significant digits with a magnitude from 1E-130 to 9.99...E+125 (or 0)
and has neither NaN nor infinities. Python's JSON parser reads `1e309` as infinity, `NaN` as NaN and
an integer at any length, so a model that stores a number types it `StoredInt`, `StoredFloat` or a
`JsonUnion` of JSON types: a number DynamoDB cannot hold is a 422 at its own field, never a 500 on
the write nor a refused transaction that looks like a conflict. `gui_core.dynamo.to_dynamo` checks
every number again (`dynamo_number`) as the last line, before anything is sent.

Numbers are strict: a string is never turned into a number (nor a number into a string), so what a
client sent comes back as it was sent: a string as the same string, a number as the same number.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    TypeAdapter,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

MAX_DIGITS = 38
MIN_EXPONENT = -130  # 1E-130, the smallest magnitude but 0
MAX_EXPONENT = 125  # 9.99...E+125, the largest

JsonType = Literal["string", "integer", "number", "boolean", "array", "object", "null"]


class UnstorableValue(ValueError):
    """A value DynamoDB cannot hold: a model let it through (its field lacks a Stored* type)."""


def dynamo_number(value: int | float | Decimal) -> Decimal:
    """`value` as a Decimal DynamoDB takes (exact; written without its trailing zeros when they
    alone make it longer than 38 digits, so `10**40` is `1E+40`); UnstorableValue, saying why, when
    DynamoDB cannot hold it."""
    if isinstance(value, bool):
        raise UnstorableValue("a boolean is not a number")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise UnstorableValue("NaN and infinities cannot be stored")
    if number.is_zero():
        return Decimal(0)
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # a finite number
    significant = len(digits)
    while digits[significant - 1] == 0:
        significant -= 1
    if significant > MAX_DIGITS:
        raise UnstorableValue(f"more than {MAX_DIGITS} significant digits cannot be stored")
    magnitude = exponent + len(digits) - 1
    if not MIN_EXPONENT <= magnitude <= MAX_EXPONENT:
        raise UnstorableValue(
            f"a magnitude outside 1E{MIN_EXPONENT} to 9.99E+{MAX_EXPONENT} (or 0) cannot be stored"
        )
    if len(digits) <= MAX_DIGITS:
        return number
    return Decimal((sign, digits[:significant], exponent + len(digits) - significant))


_N = TypeVar("_N", int, float)


def _number_field(value: _N) -> _N:
    try:
        dynamo_number(value)
    except UnstorableValue as exc:
        raise _number_error(exc) from None
    return value


def _number_error(exc: UnstorableValue) -> PydanticCustomError:
    return PydanticCustomError("unstorable_number", "Number cannot be stored: {reason}", {"reason": str(exc)})


# The magnitudes of `dynamo_number` as a JSON schema says them (its 38 significant digits no JSON
# schema can count: the API reference states that rule, and the fuzzing excuses it by name).
_LARGEST = 1e126  # exclusive: 9.99...E+125 is the largest
_SMALLEST = 1e-130
_MAGNITUDES: list[dict[str, float]] = [
    {"const": 0},
    {"minimum": _SMALLEST, "exclusiveMaximum": _LARGEST},
    {"exclusiveMinimum": -_LARGEST, "maximum": -_SMALLEST},
]


def storable_numbers(schema: JsonSchemaValue) -> JsonSchemaValue:
    """`schema` (a number's, an integer's or a union's) saying which numbers DynamoDB can hold."""
    for member in schema.get("anyOf", []):
        storable_numbers(member)
    if schema.get("type") == "integer":
        schema.setdefault("exclusiveMinimum", -_LARGEST)
        schema.setdefault("exclusiveMaximum", _LARGEST)
    elif schema.get("type") == "number":
        schema["anyOf"] = [dict(m) for m in _MAGNITUDES]
    return schema


class StorableJsonSchema:
    """Metadata giving a number's JSON schema DynamoDB's magnitudes (`storable_numbers`)."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return storable_numbers(handler(schema))


Storable = AfterValidator(_number_field)
"""The check alone, for a number parsed leniently (a domain event's: a producer's `"0.5"` is 0.5)."""
StoredInt = Annotated[int, Strict(), Storable, StorableJsonSchema()]
"""An integer DynamoDB can hold; a string or a boolean is refused, never converted."""
StoredFloat = Annotated[float, Strict(), Storable, StorableJsonSchema()]
"""A number DynamoDB can hold (an integer is taken as it is); a string or a boolean is refused."""


class JsonUnion:
    """A union of JSON types validated by its one member of the value's own JSON type, as
    `Annotated[str | int | float | bool | list[str], JsonUnion()]`: a value of no member's type is
    one error at the value (not one error per member at pointers naming the members), a value of
    a member's type gets that member's errors. Members are strict (a string is never a number nor a
    number a string; pydantic's strict strings refuse lone surrogates), and every number of the
    value, nested ones too, must be storable, else an error at its own place. The JSON schema and
    the serialization are the union's."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        if get_origin(source) not in (Union, types.UnionType):
            raise TypeError(f"JsonUnion annotates a union of JSON types, not {source}")
        members: dict[JsonType, TypeAdapter[Any]] = {}
        for member in get_args(source):
            json_type = _json_type(member)
            if json_type in members:
                raise TypeError(f"{source}: two members take JSON {json_type}s")
            members[json_type] = TypeAdapter(member)
        names = ", ".join(sorted(members))

        def validate(value: Any, _union: core_schema.ValidatorFunctionWrapHandler) -> Any:
            json_type = _json_type_of(value)
            if json_type == "integer" and "integer" not in members:
                json_type = "number"
            adapter = members.get(json_type) if json_type else None
            if adapter is None:
                raise PydanticCustomError("json_type", "Input should be one of: {types}", {"types": names})
            # A member's ValidationError propagates: pydantic puts its errors under this value.
            valid = adapter.validate_python(value, strict=True)
            errors = list(_unstorable(valid, ()))
            if errors:
                raise ValidationError.from_exception_data("JsonUnion", errors)
            return valid

        # Around the union's own schema, whose validation it never calls: the schema gives the
        # JSON schema (of requests and answers) and the serialization.
        return core_schema.no_info_wrap_validator_function(validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return storable_numbers(handler(schema))  # the union's, its numbers storable


def _unstorable(value: Any, at: tuple[str | int, ...]) -> Iterator[InitErrorDetails]:
    """The errors of the numbers in `value` DynamoDB cannot hold, at their places."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            dynamo_number(value)
        except UnstorableValue as exc:
            yield InitErrorDetails(type=_number_error(exc), loc=at, input=value)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _unstorable(item, (*at, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unstorable(item, (*at, key))


# Python's type of each JSON type, as the JSON parser gives it (a bool before int: it is one).
_PYTHON_TYPES: tuple[tuple[type, JsonType], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)


def _json_type(member: Any) -> JsonType:
    base = get_args(member)[0] if get_origin(member) is Annotated else member
    origin = get_origin(base) or base
    for python_type, json_type in _PYTHON_TYPES:
        if origin is python_type:
            return json_type
    raise TypeError(f"{member} is not a JSON type")


def _json_type_of(value: Any) -> JsonType | None:
    return next(
        (json_type for python_type, json_type in _PYTHON_TYPES if isinstance(value, python_type)), None
    )
