"""One GraphQL request from its text to its answer, with the limits checked before anything runs.

In order: the document is parsed (at most `MAX_TOKENS` tokens), measured (depth, aliases, cost:
each refused with a 400 and nothing executed), validated against the schema (introspection only
where the stage allows it), then executed. The answer is GraphQL's `{"data", "errors"}`: an error
of a field carries the problem `code` and `status` REST answers for the same failure, and the
other fields stand (partial data). A request error (no document, a syntax error, a limit, an
invalid document or variables) is a problem document (400, `RefusedDocument`) like every refusal
of the API, with GraphQL's `errors` in it.

Cost: the objects a request may answer. Each field with a selection counts 1, and what is under a
list counts that many times over (its `first`, a graph's `fan_out` times its `depth`, or the list's
default page size: `Limits.pages`); scalars come with their objects. So what a request may make the
backend read is known from its text.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    execute_sync,
    parse,
    specified_rules,
    validate,
)

from gui_core.errors import BadRequest, MethodNotAllowed, ProblemError

logger = logging.getLogger(__name__)

MAX_TOKENS = 5_000
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_SAME_ROOT = 5
INTROSPECTION = frozenset({"__schema", "__type"})
MAX_COST = 5_000  # objects; the largest lineage REST answers in one call (1,000 nodes) fits


@dataclass(frozen=True)
class Limits:
    depth: int = MAX_DEPTH
    aliases: int = MAX_ALIASES
    cost: int = MAX_COST
    introspection: bool = False
    # How many times one request may ask the same root field (each is charged as its REST call).
    same_root: int = MAX_SAME_ROOT
    # The lists of pages by field name, with their default page size (what a field costs without `first`).
    pages: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    operation: OperationType | None = None
    mutations: tuple[str, ...] = ()


class RefusedDocument(BadRequest):
    """A request error: nothing executed. The problem document also carries GraphQL's `errors`
    (one, with the same code and status in `extensions`), so a GraphQL client reads it as a
    GraphQL answer without data."""

    def __init__(self, detail: str) -> None:
        error = {"message": detail, "extensions": {"code": self.code, "status": self.status}}
        super().__init__(detail, errors=[error])


class InvalidGraphQLRequest(RefusedDocument):
    status, code, title = 400, "graphql_request_invalid", "The body is not one GraphQL request"


class GraphQLParseFailed(RefusedDocument):
    status, code, title = 400, "graphql_parse_failed", "The GraphQL document does not parse"


class GraphQLValidationFailed(RefusedDocument):
    status, code, title = (
        400,
        "graphql_validation_failed",
        "The GraphQL document or its variables do not fit the schema",
    )


class QueryTooDeep(RefusedDocument):
    status, code, title = 400, "query_too_deep", "The GraphQL query nests too deep"


class TooManyAliases(RefusedDocument):
    status, code, title = 400, "too_many_aliases", "The GraphQL document has too many aliases"


class QueryTooCostly(RefusedDocument):
    status, code, title = 400, "query_too_costly", "The GraphQL query would read too much"


class DeadlineExceeded(ProblemError):
    """A field not started before the request's deadline (an error of that field)."""

    status, code, title = 504, "deadline_exceeded", "The request's time ran out before this field began"


class SubscriptionOverHttp(RefusedDocument):
    status, code, title = 400, "subscription_over_http", "A subscription is served over the WebSocket API"


class MutationOverGet(MethodNotAllowed):
    status, code, title = 405, "mutation_over_get", "A mutation is sent with POST"

    def __init__(self) -> None:
        error = {"message": self.title, "extensions": {"code": self.code, "status": self.status}}
        super().__init__(self.title, errors=[error])


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None

    @classmethod
    def of(cls, document: Any, resolve: Callable[[Any, Any], Any] | None = None) -> GraphQLRequest:
        """The request of a POST body or of GET's parameters (`variables` and `extensions` as JSON
        text there); `resolve(query, extensions)`: the document to run (persisted queries)."""
        if not isinstance(document, Mapping):
            raise InvalidGraphQLRequest("The body is one GraphQL request: a JSON object (no batches).")
        query = document.get("query")
        extensions = document.get("extensions")
        if isinstance(extensions, str):
            try:
                extensions = json.loads(extensions)
            except ValueError:
                raise InvalidGraphQLRequest("`extensions` is not JSON.") from None
        if resolve is not None:
            query = resolve(query, extensions)
        if not isinstance(query, str) or not query.strip():
            raise InvalidGraphQLRequest("`query` is required: the GraphQL document, as text.")
        variables = document.get("variables")
        if isinstance(variables, str):
            try:
                variables = json.loads(variables)
            except ValueError:
                raise InvalidGraphQLRequest("`variables` is not JSON.") from None
        if variables is not None and not isinstance(variables, dict):
            raise InvalidGraphQLRequest("`variables` is a JSON object.")
        name = document.get("operationName")
        if name is not None and not isinstance(name, str):
            raise InvalidGraphQLRequest("`operationName` is a string.")
        return cls(query, variables, name or None)


# The documents a container saw last, parsed and validated: a GUI sends the same few operations
# again and again (their variables change, not their text), so each is parsed and validated once.
# Both are cached by the text (validation with the rules: introspection on or off); the limits,
# which read the variables, are measured on every request.
DOCUMENT_CACHE = 256


@functools.lru_cache(maxsize=DOCUMENT_CACHE)
def _parsed(query: str) -> DocumentNode:
    try:
        return parse(query, no_location=False, max_tokens=MAX_TOKENS)
    except GraphQLError as error:
        raise GraphQLParseFailed(error.message) from None


@functools.lru_cache(maxsize=DOCUMENT_CACHE)
def _validated(schema: GraphQLSchema, query: str, rules: tuple[Any, ...]) -> list[GraphQLError]:
    """Keyed by the text (its parse is cached by it too), not by the parsed document, whose
    hash walks its whole tree."""
    return validate(schema, _parsed(query), list(rules))


def prepare(
    schema: GraphQLSchema, request: GraphQLRequest, limits: Limits
) -> tuple[DocumentNode, OperationDefinitionNode]:
    """The parsed, measured and validated document and the operation to run; a RefusedDocument else."""
    document = _parsed(request.query)
    operation = _operation(document, request.operation_name)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    measure = _Measure(fragments, request.variables or {}, limits.pages)
    depth = measure.depth(operation.selection_set)
    if depth > limits.depth:
        raise QueryTooDeep(f"The query is {depth} levels deep; at most {limits.depth}.")
    aliases = sum(
        measure.aliases(d.selection_set) for d in document.definitions if hasattr(d, "selection_set")
    )
    if aliases > limits.aliases:
        raise TooManyAliases(f"The document has {aliases} aliases; at most {limits.aliases}.")
    repeated = [(name, n) for name, n in root_fields(document, operation).items() if n > limits.same_root]
    if repeated:
        name, n = repeated[0]
        raise TooManyAliases(f"`{name}` is asked {n} times; at most {limits.same_root} in one request.")
    cost = measure.cost(operation.selection_set)
    if cost > limits.cost:
        raise QueryTooCostly(f"The query costs {cost}; at most {limits.cost}.")
    rules = list(specified_rules)
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    errors = _validated(schema, request.query, tuple(rules))
    if errors:
        raise GraphQLValidationFailed("; ".join(e.message for e in errors[:5]))
    if operation.operation == OperationType.SUBSCRIPTION:
        raise SubscriptionOverHttp(
            "Subscribe over the WebSocket API with the subprotocol graphql-transport-ws "
            "(docs/gui/live_channels.md)."
        )
    return document, operation


def cost_of(
    document: DocumentNode, operation: OperationDefinitionNode, variables: Any, limits: Limits
) -> int:
    """The objects the operation may answer (see the module's doc)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return _Measure(fragments, variables or {}, limits.pages).cost(operation.selection_set)


def root_fields(document: DocumentNode, operation: OperationDefinitionNode) -> Counter[str]:
    """How many times the operation asks each root field (aliases included, fragments followed)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return Counter(f.name.value for f in _Measure(fragments, {}, {})._fields(operation.selection_set))


def run(
    schema: GraphQLSchema,
    document: DocumentNode,
    request: GraphQLRequest,
    context: Any,
    operation: OperationDefinitionNode,
) -> Answer:
    result: ExecutionResult = execute_sync(
        schema,
        document,
        context_value=context,
        variable_values=request.variables,
        operation_name=request.operation_name,
    )
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [_error(e) for e in result.errors]
    if result.data is None and result.errors and all(e.path is None for e in result.errors):
        # The variables could not be used: nothing ran.
        raise GraphQLValidationFailed("; ".join(e.message for e in result.errors[:5]))
    body["data"] = result.data
    return Answer(200, body, operation.operation, tuple(getattr(context, "mutations", ())))


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        found = [o for o in operations if o.name is not None and o.name.value == name]
        if not found:
            raise InvalidGraphQLRequest(f"No operation named {name!r} in the document.")
        return found[0]
    if len(operations) != 1:
        raise InvalidGraphQLRequest("The document has several operations: name one (`operationName`).")
    return operations[0]


def _error(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if isinstance(original, ProblemError):
        formatted["message"] = original.detail
        extensions = {k: v for k, v in original.extensions.items() if v is not None}
        formatted["extensions"] = {**extensions, "code": original.code, "status": original.status}
    elif original is not None:
        logger.error("field failed", exc_info=original)
        formatted["message"] = ProblemError.title
        formatted["extensions"] = {"code": ProblemError.code, "status": ProblemError.status}
    else:
        formatted["extensions"] = {"code": "graphql_validation_failed", "status": 400}
    return formatted


class _Measure:
    """Depth, aliases and cost of selections, following fragments (a cycle counts once)."""

    def __init__(
        self,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        pages: Mapping[str, int],
    ) -> None:
        self.fragments = fragments
        self.variables = variables
        self.pages = pages

    def _fields(
        self, selections: SelectionSetNode | None, seen: frozenset[str] = frozenset()
    ) -> list[FieldNode]:
        found: list[FieldNode] = []
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                found += self._fields(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    found += self._fields(fragment.selection_set, seen | {name})
        return found

    def depth(self, selections: SelectionSetNode | None) -> int:
        """How deep the selection nests; an introspection field counts 1 whatever is under it (the
        schema bounds it, and an explorer's introspection query nests 15 levels of `ofType`)."""
        fields = self._fields(selections)
        return max(
            (1 + (0 if f.name.value in INTROSPECTION else self.depth(f.selection_set)) for f in fields),
            default=0,
        )

    def aliases(self, selections: SelectionSetNode | None) -> int:
        total = 0
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode) and selection.alias is not None:
                total += 1
            below = getattr(selection, "selection_set", None)
            if below is not None:
                total += self.aliases(below)
        return total

    def cost(self, selections: SelectionSetNode | None) -> int:
        """The objects a selection may answer: each field with a selection of its own counts 1, and
        what is under a list counts as many times as the list's page (a scalar costs nothing: it
        comes with its object)."""
        total = 0
        for node in self._fields(selections):
            if node.selection_set is not None:
                total += 1 + self._multiplier(node) * self.cost(node.selection_set)
        return total

    def _multiplier(self, node: FieldNode) -> int:
        """How many times a list reads what is under it: its page (`first`, or a graph's `fan_out`
        per level, else the list's default) times its levels (`depth`, 1 by default)."""
        given = {argument.name.value: self._integer(argument.value) for argument in node.arguments or ()}
        page = given.get("first") or given.get("fan_out") or self.pages.get(node.name.value, 1)
        return max(1, page) * max(1, given.get("depth") or 1)

    def _integer(self, value: Any) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode) and isinstance(self.variables.get(value.name.value), int):
            return int(self.variables[value.name.value])
        return None
