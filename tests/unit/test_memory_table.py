"""The in-memory table's ADD adds as DynamoDB does, in decimal: the bench seeds tenants through it, so
a counter of costs must hold the digits DynamoDB would store, not a binary float's."""

from __future__ import annotations

from local.memory_table import MemoryTable


def test_add_is_decimal_as_dynamodb_makes_it() -> None:
    table = MemoryTable()
    key = {"pk": "t", "sk": "ROLLUP#h"}
    table.put({**key, "n": 0})
    for cost in (0.1, 0.2, 1.493328, 0.000001) * 250:
        table.update(key, {}, add={"cost": cost, "n": 1})
    item = table.get(key)
    assert item is not None
    assert item["n"] == 1000
    assert repr(item["cost"]) == "448.33225"  # 250 x 1.793329, no float residue
    assert 0.1 + 0.2 != 0.3  # what plain float addition would have kept
    table.update(key, {}, add={"tenth": 0.1})
    table.update(key, {}, add={"tenth": 0.2})
    item = table.get(key)
    assert item is not None
    assert item["tenth"] == 0.3
    assert isinstance(item["tenth"], float)
