"""A DynamoDB table in memory, behind the same methods as `gui_core.dynamo.Table`."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gui_core.dynamo import Check, Condition, ConditionFailed, Delete, Page, Put, TransactionCancelled


class MemoryTable:
    """The `gui_core.dynamo.Table` contract in memory: the conditions this app writes (absent, exists,
    one attribute equal to a value), paging by key, transactions. Unit tests use it as the fake
    behind the adapter; the local runtime applies demo events to it before writing the result to
    moto in batches."""

    def __init__(self, items: Sequence[Mapping[str, Any]] = ()) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items:
            self.put(item)

    @staticmethod
    def _key(key: Mapping[str, Any]) -> tuple[str, str]:
        return str(key["pk"]), str(key.get("sk", ""))

    @staticmethod
    def _holds(existing: Mapping[str, Any] | None, condition: Condition | None) -> bool:
        if condition is None:
            return True
        expression, names, values = condition.expression, condition.names, condition.values
        if expression.startswith("attribute_not_exists("):
            return existing is None or names[expression[21:-1]] not in existing
        if expression.startswith("attribute_exists("):
            return existing is not None and names[expression[17:-1]] in existing
        name, equals, value = expression.partition(" = ")
        if equals and name in names and value in values:  # `#name = :value`
            return existing is not None and existing.get(names[name]) == values[value]
        raise NotImplementedError(expression)

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict[str, Any] | None:
        item = self.items.get(self._key(key))
        return copy.deepcopy(item) if item is not None else None

    def put(self, item: Mapping[str, Any], *, condition: Condition | None = None) -> None:
        key = self._key(item)
        if not self._holds(self.items.get(key), condition):
            raise ConditionFailed(str(key))
        self.items[key] = copy.deepcopy({k: v for k, v in item.items() if v is not None})

    def delete(self, key: Mapping[str, Any], *, condition: Condition | None = None) -> dict[str, Any] | None:
        k = self._key(key)
        if not self._holds(self.items.get(k), condition):
            raise ConditionFailed(str(k))
        return self.items.pop(k, None)

    def update(
        self, key: Mapping[str, Any], values: Mapping[str, Any], *, condition: Condition | None = None
    ) -> None:
        k = self._key(key)
        existing = self.items.get(k)
        holds = existing is not None if condition is None else self._holds(existing, condition)
        if not holds:
            raise ConditionFailed(str(k))
        self.items[k] = {**(existing or dict(key)), **copy.deepcopy(dict(values))}

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
        rows = sorted(
            (item for (pk, _), item in self.items.items() if pk == partition[1]),
            key=lambda item: str(item.get("sk", "")),
            reverse=not forward,
        )
        if sort_prefix:
            rows = [r for r in rows if str(r[sort_prefix[0]]).startswith(sort_prefix[1])]
        if sort_between:
            rows = [r for r in rows if sort_between[1] <= str(r[sort_between[0]]) <= sort_between[2]]
        if start_key:
            after = str(start_key["sk"])
            rows = [r for r in rows if (str(r["sk"]) > after if forward else str(r["sk"]) < after)]
        page = rows[:limit]
        last = {"pk": page[-1]["pk"], "sk": page[-1]["sk"]} if len(rows) > limit else None
        return Page([copy.deepcopy(r) for r in page], last)

    def transact(self, operations: Sequence[Put | Delete | Check]) -> None:
        reasons = []
        for op in operations:
            key = self._key(op.item if isinstance(op, Put) else op.key)
            reasons.append(
                "None" if self._holds(self.items.get(key), op.condition) else "ConditionalCheckFailed"
            )
        failed = [i for i, reason in enumerate(reasons) if reason != "None"]
        if failed:
            raise TransactionCancelled(failed, reasons)
        for op in operations:
            if isinstance(op, Put):
                self.put(op.item)
            elif isinstance(op, Delete):
                self.delete(op.key)
