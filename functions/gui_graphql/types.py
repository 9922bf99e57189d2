"""GraphQL types made from the REST models (pydantic), so a field means one thing at every door.

A REST response model becomes an object type of the same name with the same field names (snake
case, as the JSON of the REST answers: one vocabulary for the GUI), a `Literal` of names becomes an
enum named after its model and field (the first model that uses a set of values names it), a free
mapping (`dict[str, Any]`: a job's parameters) the `JSON` scalar. A field is non-null unless its
type allows None or its default is None (a REST answer always holds every field of its model).
Nothing here is written twice: a field added to a REST model appears in the schema, and
`tests/unit/test_graphql_schema.py` checks that the SDL in docs/gui/schema.graphql is current.
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLFloat,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
)
from pydantic import BaseModel

_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_SCALARS: dict[Any, GraphQLScalarType] = {bool: GraphQLBoolean, int: GraphQLInt, float: GraphQLFloat}


def _json(value: Any) -> Any:
    return value


JSON = GraphQLScalarType(
    "JSON",
    description="Any JSON value, as REST answers it (a job's parameters).",
    serialize=_json,
    parse_value=_json,
)


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\W]+", name) if part)


def _json_name(field: str, alias: str | None) -> str:
    """A model field's name in the schema: its JSON name in REST's answers (its alias: `from` for
    `from_`), unless that is no GraphQL name."""
    return alias if alias and _NAME.match(alias) else field


def _by_attribute(field: str) -> Any:
    """The resolver of a field named by its alias: the value under the model's own name (answers are
    dumped without aliases)."""

    def resolve(source: Any, _info: Any) -> Any:
        return source.get(field) if isinstance(source, dict) else getattr(source, field, None)

    return resolve


class ModelTypes:
    """Output types of pydantic models, each made once."""

    def __init__(self) -> None:
        self._objects: dict[type[BaseModel], GraphQLObjectType] = {}
        self._enums: dict[tuple[str, ...], GraphQLEnumType] = {}
        self.page_info = GraphQLObjectType(
            "PageInfo",
            {
                "hasNextPage": GraphQLField(GraphQLNonNull(GraphQLBoolean)),
                "endCursor": GraphQLField(
                    GraphQLString, description="Pass as `after` for the next page; null on the last."
                ),
            },
        )

    def object(self, model: type[BaseModel], name: str | None = None) -> GraphQLObjectType:
        found = self._objects.get(model)
        if found is None:
            type_name = name or model.__name__
            found = GraphQLObjectType(
                type_name,
                lambda: self._fields(model, type_name),
                description=(model.__doc__ or "").strip() or None,
            )
            self._objects[model] = found
        return found

    def _fields(self, model: type[BaseModel], type_name: str) -> dict[str, GraphQLField]:
        made: dict[str, GraphQLField] = {}
        for field, info in model.model_fields.items():
            name = _json_name(field, info.serialization_alias)
            # An answer always holds the field (a default fills it): null only where its type allows None.
            always = info.default is not None
            made[name] = GraphQLField(
                self.output(info.annotation, f"{type_name}{pascal(field)}", required=always),
                description=info.description,
                resolve=None if name == field else _by_attribute(field),
            )
        return made

    def output(self, annotation: Any, name: str, *, required: bool = True) -> GraphQLOutputType:
        """The type of a field annotated `annotation` (`name`: an enum's name if it is one)."""
        origin = get_origin(annotation)
        if origin is Annotated:
            return self.output(get_args(annotation)[0], name, required=required)
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                return self.output(members[0], name, required=False)
            # Several types (`int | float`): JSON, nullable if None is one of them (a figure's value).
            nullable = not required or len(members) < len(get_args(annotation))
            return JSON if nullable else GraphQLNonNull(JSON)
        made = self._nullable(annotation, origin, name)
        return GraphQLNonNull(made) if required else made

    def _nullable(self, annotation: Any, origin: Any, name: str) -> Any:
        if origin in (list, tuple, set, frozenset):
            (member, *_) = get_args(annotation) or (Any,)
            return GraphQLList(self.output(member, name))
        if origin is Literal:
            return self._enum(tuple(get_args(annotation)), name)
        if origin is dict or annotation in (dict, Any, object):
            return JSON
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self.object(annotation)
        # str and date-times (REST answers them as RFC 3339 strings) are strings
        return _SCALARS.get(annotation, GraphQLString)

    def _enum(self, values: tuple[Any, ...], name: str) -> Any:
        if not all(isinstance(v, str) and _NAME.match(v) for v in values):
            return GraphQLString
        key = tuple(sorted(values))
        found = self._enums.get(key)
        if found is None:
            found = self._enums[key] = GraphQLEnumType(name, {v: GraphQLEnumValue(v) for v in values})
        return found

    def literal_enum(self, annotation: Any, name: str) -> GraphQLEnumType:
        """The enum of a `Literal` (or an optional one) of names, for an argument."""
        while get_origin(annotation) in (Annotated, Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        assert get_origin(annotation) is Literal, annotation
        return self.enum(tuple(get_args(annotation)), name)

    def enum(self, values: tuple[str, ...], name: str) -> GraphQLEnumType:
        """The enum of these values (made under `name` if no model made it first)."""
        made = self._enum(values, name)
        assert isinstance(made, GraphQLEnumType)
        return made
