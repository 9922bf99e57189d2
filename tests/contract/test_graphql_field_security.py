"""Every root field and mutation of the GraphQL schema, through the real authorizer, gateway and
handler against moto's server, with the faults a field answers itself: a token without the field's
scope (403 `insufficient_scope`) and a tenant with the field's feature flag off (404
`feature_disabled`), each an error of that field only, with REST's code and status in
`extensions`, before its use case runs. (Token, tenant and residency faults refuse the whole
request: tests/security's matrix covers the route.) The fields are read from the schema, so a field
added later is covered without a change here."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)

from gui_core import rbac
from gui_graphql.fields.base import ACCESS, Access
from gui_graphql.operations import build_schema
from local.runtime import LocalBackend
from tests.contract.conftest import Client, aws, group_backend, provision

FUNCTIONS = ("gui_graphql", "gui_migrate", "gui_migrate_worker")
SCHEMA = build_schema()
_numbers = itertools.count()


def _literal(kind: Any) -> str:
    """A value of an input type, in GraphQL's syntax (only what validation needs)."""
    if isinstance(kind, GraphQLNonNull):
        return _literal(kind.of_type)
    if isinstance(kind, GraphQLList):
        return "[]"
    if isinstance(kind, GraphQLEnumType):
        return next(iter(kind.values))
    if isinstance(kind, GraphQLInputObjectType):
        required = {n: f for n, f in kind.fields.items() if isinstance(f.type, GraphQLNonNull)}
        return "{" + ", ".join(f"{n}: {_literal(f.type)}" for n, f in required.items()) + "}"
    assert isinstance(kind, GraphQLScalarType), kind
    return {"Int": "1", "Float": "1.5", "Boolean": "true", "JSON": "{}"}.get(kind.name, '"x"')


def _document(operation: str, name: str, field: GraphQLField) -> str:
    args = [
        f"{a}: {_literal(arg.type)}" for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)
    ]
    call = f"{name}({', '.join(args)})" if args else name
    selection = " { __typename }" if isinstance(get_named_type(field.type), GraphQLObjectType) else ""
    return f"{operation} {{ {call}{selection} }}"


def _fields() -> list[tuple[str, str, GraphQLField]]:
    found = []
    for operation, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type)):
        assert root is not None
        found += [(operation, name, field) for name, field in root.fields.items()]
    return found


FIELDS = _fields()


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    with group_backend(tmp_path_factory, *FUNCTIONS) as running:
        yield running


def _access(field: GraphQLField) -> Access:
    access = (field.extensions or {}).get(ACCESS)
    assert isinstance(access, Access), "a root field made without make_field: no scope, no flag"
    return access


def _refused(client: Client, document: str, name: str) -> dict[str, Any]:
    answer = client.call("POST", "/graphql", body={"query": document})
    assert answer.status == 200, answer.body[:500]
    body: dict[str, Any] = answer.json()
    assert body["data"] == {name: None}, body
    (error,) = body["errors"]
    assert error["path"] == [name]
    return dict(error["extensions"])


def test_every_root_field_is_covered() -> None:
    assert len(FIELDS) >= 30
    for _, _, field in FIELDS:
        _access(field)


@pytest.mark.parametrize(("operation", "name", "field"), FIELDS, ids=[f"{o}.{n}" for o, n, _ in FIELDS])
def test_a_field_without_its_scope_or_with_its_feature_off_is_an_error_of_its_own(
    backend: LocalBackend, operation: str, name: str, field: GraphQLField
) -> None:
    assert backend.keys is not None
    access = _access(field)
    document = _document(operation, name, field)
    ddb = aws(backend, "dynamodb")
    n = next(_numbers)

    provision(ddb, f"gql-sec-{n}")
    other_scope = rbac.JOBS if access.scope != rbac.JOBS else rbac.NOTIFICATIONS
    unscoped = Client(backend, backend.keys, f"gql-sec-{n}", "no-scope", scopes=(other_scope,))
    extensions = _refused(unscoped, document, name)
    assert (extensions["code"], extensions["status"]) == ("insufficient_scope", 403), extensions

    provision(ddb, f"gql-sec-{n}-off", flags={access.feature: False})
    scoped = Client(backend, backend.keys, f"gql-sec-{n}-off", "scoped", scopes=(access.scope,))
    extensions = _refused(scoped, document, name)
    assert (extensions["code"], extensions["status"]) == ("feature_disabled", 404), extensions
