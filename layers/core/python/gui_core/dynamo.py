"""DynamoDB adapter: plain Python values in and out, conditional writes, transactions, paging.

The only module of gui_core that talks to DynamoDB. Logic modules receive a `Table` (or a fake
with the same methods) and never see boto3.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from gui_core.credentials import client_credentials, signing_identity
from gui_core.rate_limit import CounterThrottled
from gui_core.storable import dynamo_number

if TYPE_CHECKING:
    from botocore.client import BaseClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Item = dict[str, Any]
BATCH_GET_KEYS = 100  # DynamoDB's limit of one BatchGetItem
BATCH_GET_ATTEMPTS = 5  # calls for one batch's unprocessed keys (the client retries throttles itself)


class ConditionFailed(Exception):
    """A conditional write found the item not in the expected state."""


class TransactionCancelled(Exception):
    """A transaction was refused; `failed` lists the indexes of operations whose condition failed."""

    def __init__(self, failed: list[int], reasons: list[str]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.failed = failed
        self.reasons = reasons


def dynamodb_client(region: str) -> BaseClient:
    """One client per region, endpoint and container; the endpoint comes from AWS_ENDPOINT_URL when set.

    The endpoint is part of the cache key: a process that imports functions for several endpoints
    (the local runtime after tests that used another one) must not get a client of another endpoint.
    """
    return _dynamodb_client(region, os.environ.get("AWS_ENDPOINT_URL") or None, signing_identity())


@cache
def _dynamodb_client(region: str, endpoint_url: str | None, signer: str | None) -> BaseClient:
    del signer  # a part of the cache key only
    return boto3.client(
        "dynamodb",
        **client_credentials(),
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5),
    )


def to_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_to_decimal(v)) for k, v in item.items() if v is not None}


def from_dynamo(item: Mapping[str, Any]) -> Item:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _to_decimal(value: Any) -> Any:
    """Numbers as the Decimals DynamoDB keeps. The last line: a model types what it stores
    (gui_core.storable), so a number DynamoDB cannot hold raises UnstorableValue here before
    anything is sent, rather than failing in boto3 or being refused as a cancelled transaction."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return dynamo_number(value)
    if isinstance(value, dict):
        return {k: _to_decimal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_decimal(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


@dataclass(frozen=True)
class Condition:
    """A condition expression with its placeholders."""

    expression: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"ConditionExpression": self.expression}
        if self.names:
            params["ExpressionAttributeNames"] = self.names
        if self.values:
            params["ExpressionAttributeValues"] = to_dynamo(self.values)
        return params


def item_absent(key_attribute: str = "pk") -> Condition:
    return Condition("attribute_not_exists(#k)", names={"#k": key_attribute})


def version_is(expected: int, attribute: str = "version") -> Condition:
    """The stored item has version `expected`; version 0 means the item must not exist yet."""
    if expected == 0:
        return Condition("attribute_not_exists(#v)", names={"#v": attribute})
    return Condition("#v = :v", names={"#v": attribute}, values={":v": expected})


@dataclass(frozen=True)
class Page:
    items: list[Item]
    last_key: dict[str, Any] | None


@dataclass(frozen=True)
class Put:
    item: Item
    condition: Condition | None = None


@dataclass(frozen=True)
class Delete:
    key: Item
    condition: Condition | None = None


@dataclass(frozen=True)
class Check:
    key: Item
    condition: Condition


@dataclass(frozen=True)
class Update:
    """Set, add to (numbers) and remove attributes of one item, in a transaction."""

    key: Item
    values: Mapping[str, Any] = field(default_factory=dict)
    add: Mapping[str, int | float] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    condition: Condition | None = None


def update_expression(
    values: Mapping[str, Any], add: Mapping[str, int | float], remove: Sequence[str]
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """An UpdateExpression (SET, ADD, REMOVE clauses) with its name and value placeholders."""
    names: dict[str, str] = {}
    placeholders: dict[str, Any] = {}
    clauses = []
    if values:
        names |= {f"#a{i}": name for i, name in enumerate(values)}
        placeholders |= {f":a{i}": value for i, value in enumerate(values.values())}
        clauses.append("SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(values))))
    if add:
        names |= {f"#n{i}": name for i, name in enumerate(add)}
        placeholders |= {f":n{i}": value for i, value in enumerate(add.values())}
        clauses.append("ADD " + ", ".join(f"#n{i} :n{i}" for i in range(len(add))))
    if remove:
        names |= {f"#r{i}": name for i, name in enumerate(remove)}
        clauses.append("REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove))))
    if not clauses:
        raise ValueError("an update changes at least one attribute")
    return " ".join(clauses), names, placeholders


class Table:
    def __init__(self, name: str, client: BaseClient) -> None:
        self.name = name
        self._client = client

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> Item | None:
        answer = self._client.get_item(TableName=self.name, Key=to_dynamo(key), ConsistentRead=consistent)
        item = answer.get("Item")
        return from_dynamo(item) if item else None

    def put(self, item: Mapping[str, Any], *, condition: Condition | None = None) -> None:
        params: dict[str, Any] = {"TableName": self.name, "Item": to_dynamo(item)}
        if condition:
            params.update(condition.params())
        try:
            self._client.put_item(**params)
        except ClientError as exc:
            raise _condition_error(exc) from exc

    def delete(self, key: Mapping[str, Any], *, condition: Condition | None = None) -> Item | None:
        params: dict[str, Any] = {"TableName": self.name, "Key": to_dynamo(key), "ReturnValues": "ALL_OLD"}
        if condition:
            params.update(condition.params())
        try:
            answer = self._client.delete_item(**params)
        except ClientError as exc:
            raise _condition_error(exc) from exc
        old = answer.get("Attributes")
        return from_dynamo(old) if old else None

    def update(
        self,
        key: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        condition: Condition | None = None,
        add: Mapping[str, int | float] | None = None,
        remove: Sequence[str] = (),
        returning: bool = False,
    ) -> Item | None:
        """Set attributes of an existing item (condition: the item exists, unless one is given; a
        condition of its own may let the update make the item), add to numbers (`add`) and remove
        attributes; with `returning`, the whole item as it is after the update."""
        expression, names, placeholders = update_expression(values, add or {}, remove)
        condition = condition or Condition("attribute_exists(#pk)", names={"#pk": next(iter(key))})
        params: dict[str, Any] = {
            "TableName": self.name,
            "Key": to_dynamo(key),
            "UpdateExpression": expression,
            **condition.params(),
        }
        params["ExpressionAttributeNames"] = {**names, **condition.names}
        if placeholders or condition.values:
            params["ExpressionAttributeValues"] = to_dynamo({**placeholders, **condition.values})
        if returning:
            params["ReturnValues"] = "ALL_NEW"
        try:
            answer = self._client.update_item(**params)
        except ClientError as exc:
            raise _condition_error(exc) from exc
        new = answer.get("Attributes")
        return from_dynamo(new) if returning and new else None

    def approximate_count(self) -> int:
        """The table's item count as DynamoDB reports it (updated about every six hours): an
        estimate that costs one DescribeTable, whatever the table holds."""
        answer = self._client.describe_table(TableName=self.name)
        return int(answer["Table"].get("ItemCount") or 0)

    def query(
        self,
        partition: tuple[str, str],
        *,
        sort_prefix: tuple[str, str] | None = None,
        sort_between: tuple[str, str, str] | None = None,
        index: str | None = None,
        limit: int = 50,
        start_key: Mapping[str, Any] | None = None,
        forward: bool = True,
        consistent: bool = False,
    ) -> Page:
        names = {"#p": partition[0]}
        values: dict[str, Any] = {":p": partition[1]}
        expression = "#p = :p"
        if sort_prefix:
            names["#s"] = sort_prefix[0]
            values[":s"] = sort_prefix[1]
            expression += " AND begins_with(#s, :s)"
        elif sort_between:
            names["#s"] = sort_between[0]
            values[":lo"], values[":hi"] = sort_between[1], sort_between[2]
            expression += " AND #s BETWEEN :lo AND :hi"
        params: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_dynamo(values),
            "Limit": limit,
            "ScanIndexForward": forward,
        }
        if index:
            params["IndexName"] = index
        elif consistent:
            params["ConsistentRead"] = True
        if start_key:
            params["ExclusiveStartKey"] = to_dynamo(start_key)
        answer = self._client.query(**params)
        last = answer.get("LastEvaluatedKey")
        return Page([from_dynamo(i) for i in answer.get("Items", [])], from_dynamo(last) if last else None)

    def batch_get(self, keys: Sequence[Mapping[str, Any]], *, consistent: bool = True) -> list[Item]:
        """The items of `keys` that exist, in no particular order: BatchGetItem, 100 keys a call,
        the keys DynamoDB left unprocessed asked again. Duplicate keys are asked once."""
        unique = list({tuple(sorted((k, str(v)) for k, v in key.items())): key for key in keys}.values())
        found: list[Item] = []
        for start in range(0, len(unique), BATCH_GET_KEYS):
            request: dict[str, Any] = {
                self.name: {
                    "Keys": [to_dynamo(key) for key in unique[start : start + BATCH_GET_KEYS]],
                    "ConsistentRead": consistent,
                }
            }
            for _ in range(BATCH_GET_ATTEMPTS):
                answer = self._client.batch_get_item(RequestItems=request)
                found += [from_dynamo(item) for item in answer.get("Responses", {}).get(self.name, [])]
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise RuntimeError(f"{self.name}: keys left unprocessed after {BATCH_GET_ATTEMPTS} attempts")
        return found

    def scan(
        self, *, attribute_equals: tuple[str, str] | None = None, page_size: int = 200
    ) -> Iterator[Item]:
        """Every item (all pages), optionally only those whose attribute equals a value (a filter:
        DynamoDB still reads the others). For small tables only: the tenants of a region."""
        params: dict[str, Any] = {"TableName": self.name, "Limit": page_size}
        if attribute_equals:
            params["FilterExpression"] = "#f = :f"
            params["ExpressionAttributeNames"] = {"#f": attribute_equals[0]}
            params["ExpressionAttributeValues"] = to_dynamo({":f": attribute_equals[1]})
        while True:
            answer = self._client.scan(**params)
            yield from (from_dynamo(item) for item in answer.get("Items", []))
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    def increment(
        self,
        key: Mapping[str, Any],
        attribute: str,
        *,
        below: int,
        set_if_absent: Mapping[str, Any] | None = None,
        by: int = 1,
    ) -> int | None:
        """Atomically add `by` (1) to `attribute` unless it is already >= `below`; the new value, or None."""
        names = {"#c": attribute}
        values: dict[str, Any] = {":one": by, ":below": below}
        update = "ADD #c :one"
        for i, (name, value) in enumerate((set_if_absent or {}).items()):
            names[f"#s{i}"] = name
            values[f":s{i}"] = value
            update += f"{' SET' if i == 0 else ','} #s{i} = if_not_exists(#s{i}, :s{i})"
        try:
            answer = self._client.update_item(
                TableName=self.name,
                Key=to_dynamo(key),
                UpdateExpression=update,
                ConditionExpression="attribute_not_exists(#c) OR #c < :below",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_dynamo(values),
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return int(from_dynamo(answer["Attributes"])[attribute])

    def transact(self, operations: Sequence[Put | Delete | Check | Update]) -> None:
        """All or nothing, on this table."""
        transact_items: list[dict[str, Any]] = []
        for op in operations:
            if isinstance(op, Put):
                body: dict[str, Any] = {"TableName": self.name, "Item": to_dynamo(op.item)}
                kind = "Put"
            elif isinstance(op, Update):
                expression, names, placeholders = update_expression(op.values, op.add, op.remove)
                condition = op.condition or Condition(
                    "attribute_exists(#pk)", names={"#pk": next(iter(op.key))}
                )
                body = {
                    "TableName": self.name,
                    "Key": to_dynamo(op.key),
                    "UpdateExpression": expression,
                    "ConditionExpression": condition.expression,
                    "ExpressionAttributeNames": {**names, **condition.names},
                }
                if placeholders or condition.values:
                    body["ExpressionAttributeValues"] = to_dynamo({**placeholders, **condition.values})
                transact_items.append({"Update": body})
                continue
            elif isinstance(op, Delete):
                body = {"TableName": self.name, "Key": to_dynamo(op.key)}
                kind = "Delete"
            else:
                body = {"TableName": self.name, "Key": to_dynamo(op.key)}
                kind = "ConditionCheck"
            if op.condition:
                body.update(op.condition.params())
            transact_items.append({kind: body})
        try:
            self._client.transact_write_items(TransactItems=transact_items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if not reasons:  # some endpoints put the reasons only in the message
                message = exc.response["Error"].get("Message", "")
                inside = message.partition("[")[2].partition("]")[0]
                reasons = [r.strip() for r in inside.split(",")] if inside else []
            if "ValidationError" in reasons:  # an item DynamoDB refused: no condition failed, no race
                raise
            failed = [i for i, r in enumerate(reasons) if r == "ConditionalCheckFailed"]
            raise TransactionCancelled(failed, reasons) from exc


class Queryable(Protocol):
    """What `read_up_to` needs of a table: `Table.query` (fakes have it too)."""

    def query(
        self,
        partition: tuple[str, str],
        *,
        sort_prefix: tuple[str, str] | None = None,
        sort_between: tuple[str, str, str] | None = None,
        limit: int = 50,
        start_key: Mapping[str, Any] | None = None,
        consistent: bool = False,
    ) -> Page: ...


@dataclass(frozen=True)
class ReadUpTo:
    """The items `read_up_to` read, in key order, and whether they are all the range holds."""

    items: list[Item]
    complete: bool


def read_up_to(
    table: Queryable,
    partition: tuple[str, str],
    *,
    limit: int | None,
    chunk: int,
    sort_prefix: tuple[str, str] | None = None,
    sort_between: tuple[str, str, str] | None = None,
    consistent: bool = False,
) -> ReadUpTo:
    """A key range's items, at most `limit` (None: every one), one query of at most `chunk` items at
    a time, each asking no more than is still wanted. `complete` is false when the reads stopped at
    `limit` while DynamoDB said more may follow."""
    items: list[Item] = []
    start: dict[str, Any] | None = None
    while limit is None or len(items) < limit:
        page = table.query(
            partition,
            sort_prefix=sort_prefix,
            sort_between=sort_between,
            limit=chunk if limit is None else min(chunk, limit - len(items)),
            start_key=start,
            consistent=consistent,
        )
        items.extend(page.items)
        if page.last_key is None:
            return ReadUpTo(items, complete=True)
        start = page.last_key
    return ReadUpTo(items, complete=False)


# What DynamoDB answers when a key's partition (or the table's account quota) takes no more writes;
# the SDK's own retries came first.
THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


class DynamoCounters:
    """Atomic counters (the rate limiter's store)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def increment_below(
        self, key: Mapping[str, Any], *, ceiling: int, expires_at: int, amount: int = 1
    ) -> int | None:
        if amount > ceiling:
            return None
        try:
            return self._table.increment(
                key, "count", below=ceiling - amount + 1, set_if_absent={"expires_at": expires_at}, by=amount
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] in THROTTLING_CODES:
                raise CounterThrottled(str(exc)) from exc
            raise

    def read_count(self, key: Mapping[str, Any]) -> int:
        item = self._table.get(key, consistent=False)
        return int(item["count"]) if item else 0


def _condition_error(exc: ClientError) -> Exception:
    if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
        return ConditionFailed(str(exc))
    error: Exception = exc
    return error
