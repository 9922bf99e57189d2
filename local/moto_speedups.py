"""A faster answer from moto's DynamoDB, for the local AWS endpoint (`local/moto_process.py`).

moto 5.2 writes every answer through its generic, model-driven serializer, which walks the
service model for each value: an item's attributes, each one an `AttributeValue` structure, cost
most of an answer's time (`bench/moto_serializer.py` measures both serializers; the figures are in
docs/performance.md).
In AWS JSON 1.0, which DynamoDB speaks, an `AttributeValue` is written as it is held: `{"S": ...}`,
`{"N": "1"}`, `{"M": {...}}`, blobs in base64. `FastDynamoDBSerializer` writes those structures
directly and hands every other shape to moto's serializer; it is registered through moto's own
table of per-service serializers (`SERVICE_SPECIFIC_SERIALIZERS`), never by replacing moto's code.
`tests/unit/test_moto_speedups.py` checks that both give the same answer for every attribute type.

A TransactWriteItems rolls back only the items it touched (`journaled_transactions`): moto deep-copies
every table a transaction names before each one, to restore it whole if the transaction fails, so a
transaction's cost grew with what the tables held (seconds at a few thousand items; the inbox's
counters, the jobs' and views' key items, the lineage's degrees and the dashboard's rollups write
in transactions). The journal keeps each touched item as it was and each table's stream records'
count, and restores them when the transaction fails: what moto's copy restored, no more.

An update expression is checked once, at its root (`root_only_validators`): moto checks the clause
counts and the overlapping paths at every node of the expression's tree (each clause and action is
an `UpdateExpression`), each check walking the node's subtree, so an expression of n actions cost
n² (a rollup bucket's whole layout names 122 counters; such writes were most of the local
backend's start, `bench/local_start.py`). The root's check sees every action: the same refusals.

A TransactWriteItems is idempotent by its `ClientRequestToken`, as in DynamoDB
(`idempotent_transactions`): botocore fills the token and sends it again when it retries a call
whose answer timed out; moto ignored it and applied the transaction a second time, whose conditions
then failed, so a transaction that took longer than the client's read timeout looked refused though
it was applied. A token seen in the last 10 minutes gets the first call's answer and changes nothing,
or `IdempotentParameterMismatchException` with other parameters.

An expression longer than DynamoDB's 4 KB is refused as DynamoDB refuses it (`expression_limits`;
moto took any length): an UpdateExpression that grew with what it counts fails locally first.
"""

from __future__ import annotations

import base64
import contextvars
import copy
import hashlib
import json
import threading
import time
from typing import Any

from moto.core import serialize
from moto.core.serialize import JSONSerializer

ATTRIBUTE_VALUE = "AttributeValue"
IDEMPOTENCY_WINDOW_S = 600.0  # DynamoDB keeps a client request token 10 minutes
MAX_EXPRESSION_BYTES = 4096  # DynamoDB's "maximum length of any expression string"
# The actions whose requests carry expressions, and the parts of a request that hold none (items).
_EXPRESSION_ACTIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "transact_get_items",
    "transact_write_items",
)
_NO_EXPRESSIONS = frozenset({"Item", "Key", "Keys", "ExpressionAttributeValues", "ExclusiveStartKey"})


def _blob(value: str | bytes) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(raw).strip().decode("utf-8")


def attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    """One `AttributeValue` as DynamoDB's JSON protocol writes it."""
    written: dict[str, Any] = {}
    for kind, member in value.items():
        if member is None:
            continue
        if kind == "M":
            written[kind] = {name: attribute_value(v) for name, v in member.items()}
        elif kind == "L":
            written[kind] = [attribute_value(v) for v in member]
        elif kind == "B":
            written[kind] = _blob(member)
        elif kind == "BS":
            written[kind] = [_blob(v) for v in member]
        elif kind in ("S", "N"):
            written[kind] = str(member)
        elif kind in ("SS", "NS"):
            written[kind] = [str(v) for v in member]
        else:  # BOOL, NULL
            written[kind] = member
    return written


class FastDynamoDBSerializer(JSONSerializer):
    def _serialize_type_structure(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == ATTRIBUTE_VALUE and isinstance(value, dict) and key:
            serialized[self.get_serialized_name(shape, key)] = attribute_value(value)
            return
        super()._serialize_type_structure(serialized, value, shape, key)


def install() -> None:
    """Use the fast serializer for DynamoDB's answers, journaled transactions, update expressions
    checked at their root, DynamoDB's expression length and idempotent transactions, in this
    process."""
    serialize.SERVICE_SPECIFIC_SERIALIZERS.setdefault("dynamodb", {})["json"] = FastDynamoDBSerializer
    journaled_transactions()
    root_only_validators()
    expression_limits()
    idempotent_transactions()


def root_only_validators() -> None:
    """moto's clause-count and overlapping-path checks of an update expression done at its root
    alone (see the module's doc). Idempotent."""
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import UpdateExpression  # type: ignore[attr-defined]  # untyped in moto

    checks = (
        (validators.ActionCountValidator, "verify_action_counts"),
        (validators.OverlappingPathsValidator, "check_for_overlapping_paths"),
    )
    for validator, name in checks:
        check = getattr(validator, name)
        if getattr(check, "root_only", False):
            continue

        def at_root(self: Any, node: Any, check: Any = check) -> Any:
            if isinstance(node.parent, UpdateExpression):
                return node  # a part of the expression: its root's check covers it
            return check(self, node)

        at_root.root_only = True  # type: ignore[attr-defined]
        at_root.moto_check = check  # type: ignore[attr-defined]  # moto's own (the tests compare)
        setattr(validator, name, at_root)


# Set while a journaled transaction runs: moto's copy of a table for its rollback is the table itself.
_JOURNALED: contextvars.ContextVar[bool] = contextvars.ContextVar("journaled", default=False)


def journaled_transactions() -> None:
    """TransactWriteItems restores the items it touched when it fails, instead of moto's copy of
    every table it names (see the module's doc). Idempotent."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend.transact_write_items, "journaled", False):
        return
    transact = DynamoDBBackend.transact_write_items

    def table_copy(self: Table, memo: dict[int, Any]) -> Table:
        if _JOURNALED.get():
            return self  # the journal restores what the transaction touched
        clone: Table = object.__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    def journaled(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        items: list[tuple[Table, Any, Any, Any]] = []
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            try:
                (_, op), *_ = entry.items()
                table = self.tables[op["TableName"]]
                key = op.get("Key") or op["Item"]
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                before = copy.deepcopy(table.get_item(hash_key, range_key))
            except Exception:  # noqa: S112  # moto refuses the entry below, before writing any of it
                continue
            items.append((table, hash_key, range_key, before))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
        token = _JOURNALED.set(True)
        try:
            transact(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(items):
                if range_key is None:
                    if item is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = item
                elif item is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = item
            for shard, count in streams.values():
                del shard.items[count:]  # no stream record of a write that did not happen
            raise
        finally:
            _JOURNALED.reset(token)

    journaled.journaled = True  # type: ignore[attr-defined]
    Table.__deepcopy__ = table_copy  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = journaled  # type: ignore[method-assign]


def idempotent_transactions() -> None:
    """TransactWriteItems applied once per client request token (see the module's doc). Idempotent."""
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.transact_write_items, "idempotent", False):
        return
    handle = DynamoHandler.transact_write_items
    done: dict[tuple[str, str, str], tuple[float, str, Any]] = {}  # token -> (when, parameters, answer)
    lock = threading.Lock()

    def idempotent(self: DynamoHandler) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return handle(self)
        others = {
            k: v for k, v in self.body.items() if k not in ("ClientRequestToken", "ReturnConsumedCapacity")
        }
        parameters = hashlib.sha256(json.dumps(others, sort_keys=True).encode()).hexdigest()
        key = (self.current_account, self.region, str(token))
        with lock:
            now = time.monotonic()
            for old in [k for k, (at, _, _) in done.items() if now - at > IDEMPOTENCY_WINDOW_S]:
                del done[old]
            seen = done.get(key)
        if seen is not None:
            if seen[1] != parameters:
                raise DynamodbException(
                    ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
                    "The request uses the same client token as a previous, but non-identical request.",
                )
            return seen[2]
        answer = handle(self)
        with lock:
            done[key] = (time.monotonic(), parameters, answer)
        return answer

    idempotent.idempotent = True  # type: ignore[attr-defined]
    DynamoHandler.transact_write_items = idempotent  # type: ignore[method-assign]


def _expressions(value: Any) -> Any:
    """(parameter, expression) of each expression a request holds, its transaction's too."""
    if isinstance(value, dict):
        for name, part in value.items():
            if name.endswith("Expression") and isinstance(part, str):
                yield name, part
            elif name not in _NO_EXPRESSIONS:
                yield from _expressions(part)
    elif isinstance(value, list):
        for part in value:
            yield from _expressions(part)


def expression_limits() -> None:
    """A request with an expression longer than MAX_EXPRESSION_BYTES is a ValidationException, as
    DynamoDB answers it (see the module's doc). Idempotent; installed before the idempotency of
    transactions, so a refused transaction is not remembered."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.responses import DynamoHandler

    for action in _EXPRESSION_ACTIONS:
        handle = getattr(DynamoHandler, action)
        if getattr(handle, "expression_limits", False):
            continue

        def limited(self: DynamoHandler, handle: Any = handle) -> Any:
            for name, expression in _expressions(self.body):
                size = len(expression.encode())
                if size > MAX_EXPRESSION_BYTES:
                    raise MockValidationException(
                        f"Invalid {name}: Expression size has exceeded the maximum allowed size; "
                        f"expression size: {size}"
                    )
            return handle(self)

        limited.expression_limits = True  # type: ignore[attr-defined]
        setattr(DynamoHandler, action, limited)
