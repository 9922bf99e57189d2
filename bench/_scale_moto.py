"""The AWS endpoint of `bench/scale.py`: moto's server as the local runtime runs it (`local.moto_process`:
a process of its own, `local.moto_speedups`, DynamoDB requests one at a time, IAM enforced), plus
what a 100,000-item tenant needs of a bench and DynamoDB does not need at all. Not a benchmark:
`make bench` skips `_*.py`. `python bench/_scale_moto.py HOST PORT` prints `ready <port>` and serves
until its stdin closes.

- `POST /_scale/load` (`{"region", "table", "items": [AttributeValue maps]}`) puts the items straight
  into moto's table: no request per 25 items, no condition, no stream record. Seeding only.
- A Query reads its own partition. moto 5.2.5 sorts every item of the table for every Query, then
  walks them (0.2 s per Query at 100,000 items, 10 s with a jobs table of 800,000 key items); here
  a base-table Query starts from the partition's items kept sorted, narrowed by bisection to its
  sort-key condition, its start key and its `Limit` plus one, and an index Query the same way from
  the index partition's items (those that carry its partition key value) kept sorted until a write.
  moto's own code still pages, filters, counts and answers, so answers are moto's.
- A failed TransactWriteItems restores the items it touched. moto deep-copies every table a
  transaction names before each one to roll back from (seconds per transaction at 100,000 items).
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import copy
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python")]

_CHEAP_COPY: contextvars.ContextVar[bool] = contextvars.ContextVar("scale_cheap_copy", default=False)
_SCOPE: contextvars.ContextVar[tuple[Any, ...] | None] = contextvars.ContextVar(
    "scale_query_scope", default=None
)
_HIGH = "\U0010ffff"
_QUERY_ARGUMENTS = frozenset(
    (
        "limit",
        "exclusive_start_key",
        "scan_index_forward",
        "projection_expressions",
        "index_name",
        "consistent_read",
        "filter_expression",
        "hash_key_conditions",
        "range_key_conditions",
    )
)
_OPERATORS = {"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}


def _sorted_partition(table: Any, hash_key: Any) -> tuple[list[Any], list[str] | None]:
    """The partition's items in sort-key order, and their sort keys when they are strings (cached on
    the table until a write to the partition)."""
    cache = table.__dict__.setdefault("_scale_sorted", {})
    found = cache.get(hash_key)
    if found is None:
        partition = table.items.get(hash_key) or {}
        items = sorted(partition.values(), key=lambda item: item.range_key)
        keys = (
            [item.range_key.value for item in items] if all(i.range_key.type == "S" for i in items) else None
        )
        found = cache[hash_key] = (items, keys)
    return found


def _bounds(keys: list[str], comparison: str | None, values: list[Any]) -> tuple[int, int]:
    """The range of sorted `keys` that can meet the Query's sort-key condition."""
    low, high = 0, len(keys)
    if not comparison or not values or any(v.type != "S" for v in values):
        return low, high
    comparison = _OPERATORS.get(comparison, comparison.upper())
    first = str(values[0].value)
    if comparison == "BEGINS_WITH":
        low, high = bisect.bisect_left(keys, first), bisect.bisect_left(keys, first + _HIGH)
    elif comparison == "BETWEEN" and len(values) == 2:
        low, high = bisect.bisect_left(keys, first), bisect.bisect_right(keys, str(values[1].value))
    elif comparison == "EQ":
        low, high = bisect.bisect_left(keys, first), bisect.bisect_right(keys, first)
    elif comparison == "GT":
        low = bisect.bisect_right(keys, first)
    elif comparison == "GE":
        low = bisect.bisect_left(keys, first)
    elif comparison == "LT":
        high = bisect.bisect_left(keys, first)
    elif comparison == "LE":
        high = bisect.bisect_right(keys, first)
    return low, high


def _page_of(table: Any, scope: tuple[Any, ...]) -> list[Any]:
    """The partition's items a base-table Query can reach: those its sort-key condition allows,
    after its start key, and (without a legacy QueryFilter) only its `Limit` plus one, so moto's own
    loop pages, counts and sets LastEvaluatedKey as it would on the whole partition."""
    _, hash_key, comparison, values, limit, start_key, forward, legacy = scope
    items, keys = _sorted_partition(table, hash_key)
    if keys is None:
        return items
    low, high = _bounds(keys, comparison, values)
    after = (start_key or {}).get(table.range_key_attr)
    if after is not None and "S" in after:
        if forward:
            low = max(low, bisect.bisect_right(keys, after["S"]))
        else:
            high = min(high, bisect.bisect_left(keys, after["S"]))
    return _limited(items, low, high, limit, forward, legacy)


def _limited(items: list[Any], low: int, high: int, limit: Any, forward: bool, legacy: bool) -> list[Any]:
    """`items[low:high]` cut to `Limit` plus one in the Query's direction, and with one item past the
    sort-key condition's bound when there is one: moto sets LastEvaluatedKey at the limit when any
    item of the partition follows, met or not (its next page is then empty)."""
    if not limit or legacy:
        return items[low:high]
    if forward:
        end = low + int(limit) + 1
        return items[low : end if end < high else min(high + 1, len(items))]
    begin = high - int(limit) - 1
    return items[begin if begin > low else max(low - 1, 0) : high]


def _index_partition(table: Any, index_name: str, attribute: str, value: Any) -> list[Any]:
    """The table's items whose `attribute` is `value` (an index's partition), cached until a write."""
    cache = table.__dict__.setdefault("_scale_indexed", {})
    groups = cache.get((index_name, attribute))
    if groups is None:
        groups = {}
        for partition in table.items.values():
            for item in partition.values() if table.range_key_attr else (partition,):
                found = item.attrs.get(attribute)
                if found is not None:
                    groups.setdefault(found, []).append(item)
        cache[(index_name, attribute)] = groups
    return list(groups.get(value, ()))


def _index_order(table: Any, item: Any, sort_attribute: str) -> tuple[str, str, str] | None:
    """The item's place in an index with a string sort key (moto's order: the index's sort key,
    then the table's keys), or None when a key is not a string."""
    found = item.attrs.get(sort_attribute)
    keys = (found, item.hash_key, item.range_key)
    if any(k is None or k.type != "S" for k in keys):
        return None
    return (found.value, item.hash_key.value, item.range_key.value)


def _sorted_index_partition(
    table: Any, index_name: str, attribute: str, value: Any, sort_attribute: str
) -> tuple[list[Any], list[tuple[str, str, str]]] | None:
    """An index partition's items in moto's order and their places (`_index_order`), cached until a
    write; None when a key is not a string."""
    cache = table.__dict__.setdefault("_scale_indexed", {})
    key = ("sorted", index_name, attribute, value, sort_attribute)
    if key not in cache:
        placed = [
            (order, item)
            for item in _index_partition(table, index_name, attribute, value)
            if (order := _index_order(table, item, sort_attribute)) is not None
            or sort_attribute not in item.attrs
        ]
        if any(order is None for order, _ in placed):
            cache[key] = None
        else:
            placed.sort(key=lambda pair: pair[0])
            cache[key] = ([item for _, item in placed], [order for order, _ in placed])
    return cache[key]  # type: ignore[no-any-return]


def _index_page_of(table: Any, scope: tuple[Any, ...]) -> list[Any]:
    """An index Query's reachable items, as `_page_of` for the base table: bounded by its sort-key
    condition and start key, and to `Limit` plus one without a legacy QueryFilter (moto sorted the
    whole index partition, with its typed comparisons, for every Query: seconds at 100,000 items)."""
    _, index_name, attribute, value, comparison, values, limit, start_key, forward, legacy = scope
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    sort_keys = [k["AttributeName"] for k in (index.schema if index else []) if k["KeyType"] == "RANGE"]
    if len(sort_keys) != 1 or not table.range_key_attr:
        return _index_partition(table, index_name, attribute, value)
    found = _sorted_index_partition(table, index_name, attribute, value, sort_keys[0])
    if found is None:
        return _index_partition(table, index_name, attribute, value)
    items, places = found
    low, high = _bounds([p[0] for p in places], comparison, values)
    start = start_key or {}
    names = (sort_keys[0], table.hash_key_attr, table.range_key_attr)
    if all("S" in start.get(n, {}) for n in names):
        after = tuple(start[n]["S"] for n in names)
        if forward:
            low = max(low, bisect.bisect_right(places, after))
        else:
            high = min(high, bisect.bisect_left(places, after))
    return _limited(items, low, high, limit, forward, legacy)


def _placed(table: Any, item: Any) -> None:
    """A put: into the partition's sorted items where they are kept, else they are forgotten."""
    table.__dict__.pop("_scale_indexed", None)
    entry = table.__dict__.get("_scale_sorted", {}).get(item.hash_key)
    if entry is None or entry[1] is None or item.range_key is None or item.range_key.type != "S":
        _forget(table, item.hash_key)
        return
    items, keys = entry
    key = item.range_key.value
    at = bisect.bisect_left(keys, key)
    if at < len(keys) and keys[at] == key:
        items[at] = item
    else:
        keys.insert(at, key)
        items.insert(at, item)


def _forget(table: Any, hash_key: Any) -> None:
    with contextlib.suppress(AttributeError, KeyError):
        del table.__dict__["_scale_sorted"][hash_key]
    table.__dict__.pop("_scale_indexed", None)


def install() -> None:
    _install_queries()
    _install_transactions()


def _install_queries() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    all_items, query, put_item, delete_item = Table.all_items, Table.query, Table.put_item, Table.delete_item
    update_item = DynamoDBBackend.update_item

    def scoped_all_items(self: Table) -> list[Any]:
        scope = _SCOPE.get()
        if scope is None:
            return all_items(self)
        if scope[0] == "base":
            return _page_of(self, scope)
        return _index_page_of(self, scope)

    def scoped_query(
        self: Table, hash_key: Any, range_comparison: Any, range_objs: Any, *args: Any, **kwargs: Any
    ) -> Any:
        index_name = (
            kwargs.get("index_name") if "index_name" in kwargs else (args[4] if len(args) > 4 else None)
        )
        conditions = kwargs.get("hash_key_conditions") or []
        limit = args[0] if args else kwargs.get("limit")
        start_key = args[1] if len(args) > 1 else kwargs.get("exclusive_start_key")
        forward = args[2] if len(args) > 2 else kwargs.get("scan_index_forward", True)
        legacy = any(k not in _QUERY_ARGUMENTS for k in kwargs)  # moto's **filter_kwargs
        if not self.range_key_attr:
            scope = None
        elif index_name:
            scope = (
                (
                    "index",
                    index_name,
                    conditions[0][0],
                    conditions[0][1],
                    range_comparison,
                    list(range_objs or []),
                    limit,
                    start_key,
                    forward,
                    legacy,
                )
                if len(conditions) == 1 and len(kwargs.get("range_key_conditions") or []) <= 1
                else None
            )
        else:
            scope = (
                "base",
                hash_key,
                range_comparison,
                list(range_objs or []),
                limit,
                start_key,
                forward,
                legacy,
            )
        token = _SCOPE.set(scope)
        try:
            return query(self, hash_key, range_comparison, range_objs, *args, **kwargs)
        finally:
            _SCOPE.reset(token)

    def forgetting_put(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        item = put_item(self, item_attrs, *args, **kwargs)
        _placed(self, item)
        return item

    def forgetting_delete(self: Table, hash_key: Any, range_key: Any) -> Any:
        gone = delete_item(self, hash_key, range_key)
        _forget(self, hash_key)
        return gone

    def forgetting_update(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        # An update changes its item in place (no put): an index's partitions may change with it.
        try:
            return update_item(self, table_name, *args, **kwargs)
        finally:
            with contextlib.suppress(Exception):
                self.get_table(table_name).__dict__.pop("_scale_indexed", None)

    Table.all_items = scoped_all_items  # type: ignore[method-assign]
    DynamoDBBackend.update_item = forgetting_update  # type: ignore[method-assign]
    Table.query = scoped_query  # type: ignore[method-assign]
    Table.put_item = forgetting_put  # type: ignore[method-assign]
    Table.delete_item = forgetting_delete  # type: ignore[method-assign]


def _install_transactions() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    transact = DynamoDBBackend.transact_write_items

    def deepcopy(self: Table, memo: dict[int, Any]) -> Table:
        if _CHEAP_COPY.get():
            return self  # the transaction below restores the items it touched instead
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if name not in ("_scale_sorted", "_scale_indexed"):
                setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    def journaled_transact(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            with contextlib.suppress(Exception):
                (_, op), *_ = entry.items()
                table = self.tables[op["TableName"]]
                key = op.get("Key") or op["Item"]
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        token = _CHEAP_COPY.set(True)
        try:
            transact(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(saved):
                if range_key is None:
                    table.items.pop(hash_key, None) if item is None else table.items.__setitem__(
                        hash_key, item
                    )
                elif item is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = item
                _forget(table, hash_key)
            raise
        finally:
            _CHEAP_COPY.reset(token)

    Table.__deepcopy__ = deepcopy  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = journaled_transact  # type: ignore[method-assign]


def _item(hash_key: Any, range_key: Any, attrs: Mapping[str, Any]) -> Any:
    """moto's `Item` without `LimitedSizeDict`'s size check at every attribute (as moto's own
    `Item.__deepcopy__` skips it: the bench's items are small)."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    item = Item.__new__(Item)
    item.hash_key, item.range_key = hash_key, range_key
    item.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(item.attrs, {name: DynamoType(value) for name, value in attrs.items()})
    return item


def load(body: bytes) -> int:
    """Put the items of one `/_scale/load` request into moto's table (see the module doc)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    request = json.loads(body)
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][request["region"]].get_table(request["table"])
    for attrs in request["items"]:
        hash_key = DynamoType(attrs[table.hash_key_attr])
        if table.range_key_attr:
            range_key = DynamoType(attrs[table.range_key_attr])
            table.items[hash_key][range_key] = _item(hash_key, range_key, attrs)
        else:
            table.items[hash_key] = _item(hash_key, None, attrs)
        _forget(table, hash_key)
    return len(request["items"])


class ScaleMoto:
    """This server in a child process (as `local.aws.MotoServer` starts moto's): `endpoint_url`,
    `load(region, table, items)`; stopped by closing its stdin."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._process: subprocess.Popen[str] | None = None
        self.endpoint_url = ""

    def __enter__(self) -> ScaleMoto:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), self._host, "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            process.kill()
            raise RuntimeError(f"the bench's moto server did not start: {line!r}")
        self._process = process
        self.endpoint_url = f"http://{self._host}:{int(line.split()[1])}"
        return self

    def __exit__(self, *_: object) -> None:
        from local.moto_process import stop_server

        process, self._process = self._process, None
        if process is not None:
            stop_server(process, wait_s=10)

    def load(self, region: str, table: str, items: Sequence[Mapping[str, Any]], *, chunk: int = 5_000) -> int:
        """Put `items` (AttributeValue maps) into `table` straight away (see the module doc)."""
        import httpx

        loaded = 0
        with httpx.Client(base_url=self.endpoint_url, timeout=600.0) as http:
            for start in range(0, len(items), chunk):
                body = {"region": region, "table": table, "items": list(items[start : start + chunk])}
                answer = http.post("/_scale/load", content=json.dumps(body).encode())
                answer.raise_for_status()
                loaded += int(answer.json()["loaded"])
        return loaded


def main(host: str, port: int) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from local import iam, moto_speedups

    moto_speedups.install()
    iam.enforce_in_moto()
    install()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/_scale/load":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            with lock:
                count = load(body)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"loaded": count}).encode()]
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):  # as local.moto_process
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    server = make_server(host, port, serve, True, request_handler=MotoRequestHandler)

    def watch_parent() -> None:
        sys.stdin.read()
        threading.Thread(target=server.shutdown, daemon=True).start()

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    sys.stdout.write(f"ready {server.server_port}\n")
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
