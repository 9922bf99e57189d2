"""The two shared reads of a key range: `gui_core.dynamo.read_up_to` (a range's items up to a
limit, a chunk a query, saying whether it read them all) and `gui_core.key_pages.first_matching`
(the first items a filter keeps, read on until it has them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from gui_core.dynamo import Page, read_up_to
from gui_core.key_pages import first_matching
from local.memory_table import MemoryTable


class CountedTable(MemoryTable):
    """The memory table, remembering the `limit` of each query."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__(items)
        self.limits: list[int] = []

    def query(self, partition: tuple[str, str], **options: Any) -> Page:  # type: ignore[override]
        self.limits.append(int(options.get("limit", 50)))
        return super().query(partition, **options)


def _table(count: int) -> CountedTable:
    items = [{"pk": "acme", "sk": f"ITEM#{n:04d}", "n": n} for n in range(count)]
    return CountedTable([*items, {"pk": "acme", "sk": "OTHER#1"}, {"pk": "zenith", "sk": "ITEM#0000"}])


def test_a_range_shorter_than_the_limit_is_read_whole_a_chunk_at_a_time() -> None:
    table = _table(25)
    read = read_up_to(table, ("pk", "acme"), limit=100, chunk=10, sort_prefix=("sk", "ITEM#"))
    assert ([i["n"] for i in read.items], read.complete) == (list(range(25)), True)
    assert table.limits == [10, 10, 10]


def test_a_range_longer_than_the_limit_stops_at_it_and_says_so() -> None:
    table = _table(25)
    read = read_up_to(table, ("pk", "acme"), limit=15, chunk=10, sort_prefix=("sk", "ITEM#"))
    assert ([i["n"] for i in read.items], read.complete) == (list(range(15)), False)
    assert table.limits == [10, 5]  # no query asks for more than is still wanted


def test_no_limit_reads_every_item_of_the_range() -> None:
    table = _table(7)
    read = read_up_to(
        table, ("pk", "acme"), limit=None, chunk=3, sort_between=("sk", "ITEM#0002", "ITEM#9999")
    )
    assert ([i["n"] for i in read.items], read.complete) == ([2, 3, 4, 5, 6], True)


def test_a_limit_of_nothing_reads_nothing() -> None:
    table = _table(3)
    assert read_up_to(table, ("pk", "acme"), limit=0, chunk=10).items == []
    assert table.limits == []


def _reader(table: MemoryTable) -> Any:
    def read(start: Mapping[str, Any] | None, count: int) -> Page:
        return table.query(("pk", "acme"), sort_prefix=("sk", "ITEM#"), limit=count, start_key=start)

    return read


@pytest.mark.parametrize("want", [1, 3, 4])
def test_first_matching_reads_on_until_the_filter_kept_enough(want: int) -> None:
    table = _table(40)
    found = first_matching(_reader(table), lambda item: item["n"] % 10 == 0, want=want)
    assert [i["n"] for i in found] == [0, 10, 20, 30][:want]
    assert table.limits == [want] * len(table.limits)  # a chunk is the page and one more


def test_first_matching_answers_what_the_range_holds_when_it_ends_first() -> None:
    table = _table(12)
    assert [i["n"] for i in first_matching(_reader(table), lambda item: item["n"] > 9, want=5)] == [10, 11]
