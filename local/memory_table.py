"""A DynamoDB table in memory, behind the same methods as `gui_core.dynamo.Table`."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from gui_core.dynamo import (
    Check,
    Condition,
    ConditionFailed,
    Delete,
    Page,
    Put,
    TransactionCancelled,
    Update,
)

_TOKEN = re.compile(
    r"attribute_not_exists\(#\w+\)|attribute_exists\(#\w+\)|#\w+\s*(?:<>|<=|>=|=|<|>)\s*:\w+"
    r"|\(|\)|\bAND\b|\bOR\b"
)
_COMPARISON = re.compile(r"(#\w+)\s*(<>|<=|>=|=|<|>)\s*(:\w+)")
_COMPARE = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class MemoryTable:
    """The `gui_core.dynamo.Table` contract in memory: the conditions this app writes (absent, exists,
    one attribute compared with a value), paging by key, transactions. Unit tests use it as the fake
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
        """Whether `condition` holds on `existing`: the forms this app writes (absent, exists, one
        attribute compared with a value: DynamoDB's comparison is false when the attribute is
        missing), joined by AND, OR and parentheses."""
        if condition is None:
            return True
        tokens = _TOKEN.findall(condition.expression)
        if "".join(tokens).replace(" ", "") != condition.expression.replace(" ", ""):
            raise NotImplementedError(condition.expression)
        position = 0

        def atom(text: str) -> bool:
            if text.startswith("attribute_not_exists("):
                return existing is None or condition.names[text[21:-1]] not in existing
            if text.startswith("attribute_exists("):
                return existing is not None and condition.names[text[17:-1]] in existing
            found = _COMPARISON.fullmatch(text)
            assert found is not None, text
            name, operator, value = found.groups()
            attribute = condition.names[name]
            if existing is None or attribute not in existing:
                return False
            return bool(_COMPARE[operator](existing[attribute], condition.values[value]))

        def factor() -> bool:
            nonlocal position
            part = tokens[position]
            position += 1
            if part == "(":
                held = disjunction()
                position += 1  # the closing parenthesis
                return held
            return atom(part)

        def conjunction() -> bool:
            nonlocal position
            held = factor()
            while position < len(tokens) and tokens[position] == "AND":
                position += 1
                held = factor() and held
            return held

        def disjunction() -> bool:
            nonlocal position
            held = conjunction()
            while position < len(tokens) and tokens[position] == "OR":
                position += 1
                held = conjunction() or held
            return held

        return disjunction()

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
        self,
        key: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        condition: Condition | None = None,
        add: Mapping[str, int | float] | None = None,
        remove: Sequence[str] = (),
        returning: bool = False,
    ) -> dict[str, Any] | None:
        k = self._key(key)
        existing = self.items.get(k)
        holds = existing is not None if condition is None else self._holds(existing, condition)
        if not holds:
            raise ConditionFailed(str(k))
        item = {**(existing or dict(key)), **copy.deepcopy(dict(values))}
        for name, amount in (add or {}).items():
            item[name] = _add(item.get(name, 0), amount)
        for name in remove:
            item.pop(name, None)
        self.items[k] = item
        return copy.deepcopy(item) if returning else None

    def batch_get(
        self, keys: Sequence[Mapping[str, Any]], *, consistent: bool = True
    ) -> list[dict[str, Any]]:
        found = {self._key(key): self.items.get(self._key(key)) for key in keys}
        return [copy.deepcopy(item) for item in found.values() if item is not None]

    def approximate_count(self) -> int:
        return len(self.items)

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

    def transact(self, operations: Sequence[Put | Delete | Check | Update]) -> None:
        reasons = []
        for op in operations:
            key = self._key(op.item if isinstance(op, Put) else op.key)
            existing = self.items.get(key)
            if isinstance(op, Update) and op.condition is None:
                holds = existing is not None
            else:
                holds = self._holds(existing, op.condition)
            reasons.append("None" if holds else "ConditionalCheckFailed")
        failed = [i for i, reason in enumerate(reasons) if reason != "None"]
        if failed:
            raise TransactionCancelled(failed, reasons)
        for op in operations:
            if isinstance(op, Put):
                self.put(op.item)
            elif isinstance(op, Delete):
                self.delete(op.key)
            elif isinstance(op, Update):
                self.update(op.key, op.values, condition=op.condition, add=op.add, remove=op.remove)


def _add(value: Any, amount: Any) -> Any:
    """`value + amount` as DynamoDB's ADD makes it: in decimal, so 0.1 + 0.2 is 0.3 and a counter of
    costs keeps the digits of what was added, not a binary float's 17 (the type of the operands
    kept: a float counter stays a float)."""
    if isinstance(value, bool) or isinstance(amount, bool):
        raise TypeError("ADD takes numbers")
    if not (isinstance(value, float) or isinstance(amount, float)):
        return value + amount
    total = Decimal(str(value)) + Decimal(str(amount))
    return total if isinstance(value, Decimal) or isinstance(amount, Decimal) else float(total)
