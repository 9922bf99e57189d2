"""Pages served from key items: a filter's items in the base table, read a chunk at a time.

A store that serves a filter from keys keeps, beside each record, a small key item per filter value
(`<prefix>#<value>#<record id>`), written in the same transaction as the record. A page reads the
filter's key items in key order, the records they name (BatchGetItem), and keeps the records that
still match (a key item written by an older release, or left by one, may be stale: it is skipped,
never answered). It reads one item more than the page, so it knows whether more follow: a page with
a cursor always has a next page that is not empty.

The reads are the page's, plus a constant: one chunk of key items (`limit + 1`) per key range and
the records they name, more only when a stale key item was skipped.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gui_core.dynamo import Page

if TYPE_CHECKING:
    from gui_core.cursors import Pages

Item = dict[str, Any]
Reader = Callable[[Mapping[str, Any] | None, int], Page]  # (exclusive start key, limit) -> a page


def key_items(read: Reader, *, start: Mapping[str, Any] | None, chunk: int) -> Iterator[Item]:
    """The key items of one range, lazily: one query of `chunk` items at a time, the next only when
    the items before are used up."""
    while True:
        page = read(start, chunk)
        yield from page.items
        if page.last_key is None or not page.items:
            return
        start = page.last_key


def first_matching(read: Reader, accept: Callable[[Item], bool], *, want: int) -> list[Item]:
    """The first `want` items of one range that `accept` keeps, in key order: the range read `want`
    items at a time, on until `want` are kept or the range ends (a filter that keeps few items reads
    as many as lie between them). A list reads `want = limit + 1`: one more tells that more follow."""
    matching = (item for item in key_items(read, start=None, chunk=want) if accept(item))
    return list(itertools.islice(matching, want))


def merged(
    streams: Sequence[Iterator[Item]], *, order: Callable[[Item], str], descending: bool = False
) -> Iterator[Item]:
    """Several ranges' key items as one, in `order`, each value once (a record in two ranges: a
    shared view is in the shared range and in its owner's)."""
    last: str | None = None
    for item in heapq.merge(*streams, key=order, reverse=descending):
        value = order(item)
        if value != last:
            last = value
            yield item


@dataclass(frozen=True)
class Collected:
    """Records that matched, in key order (at most `want`), and whether the key items ran out."""

    found: list[tuple[Item, Item]]  # (key item, record)
    exhausted: bool


def collect(
    candidates: Iterator[Item],
    *,
    fetch: Callable[[list[Item]], Mapping[str, Item]],
    name: Callable[[Item], str],
    accept: Callable[[Item, Item], bool],
    want: int,
) -> Collected:
    """Up to `want` (key item, record) pairs whose record `accept`s: the records of the candidates
    are fetched by `name` a batch at a time, as many as are still wanted."""
    found: list[tuple[Item, Item]] = []
    while len(found) < want:
        batch = _take(candidates, want - len(found))
        if not batch:
            return Collected(found, exhausted=True)
        records = fetch(batch)
        for entry in batch:
            record = records.get(name(entry))
            if record is not None and accept(entry, record):
                found.append((entry, record))
    return Collected(found, exhausted=False)


def _take(items: Iterator[Item], n: int) -> list[Item]:
    taken: list[Item] = []
    for item in items:
        taken.append(item)
        if len(taken) == n:
            break
    return taken


def by_name(records: Iterable[Item], name: Callable[[Item], str]) -> dict[str, Item]:
    return {name(record): record for record in records}


def first_and_cursor(records: list[Item], limit: int, pages: Pages) -> tuple[list[Item], str | None]:
    """The first `limit` of the records a list read (`limit + 1`), and the cursor after the last of
    them (its `id`) only when one more was found."""
    shown = records[:limit]
    return shown, pages.issue({"id": shown[-1]["id"]}) if len(records) > limit else None
