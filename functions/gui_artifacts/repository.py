"""DynamoDB layout of the artifact registry, behind the methods the routes and the event consumer need.

One table, partition = tenant; sort keys by kind of item:
  ART#<id>              an artifact (its latest version), with its inputs (its edges in) and recent
                        event ids; `listed` once its order items and the tenant's count have it
  ORD#<sort>#<id>       the artifact's place in one search order (`updated`, `created`, `title`): the
                        `by_order` index's partition `order_pk` = <tenant>#<sort>, its sort key
                        `order_sk` = <sort value>\\x01<id>, and the attributes the filters read
  OUT#<from>#<to>       a lineage edge, filed under its upstream end (downstream walks); `counted`
                        once its upstream end's DEG item counts it
  DEG#<id>              `out`: the edges out of the artifact (written with each edge, so exact)
  STAT#artifacts        `count`: the tenant's artifacts listed (written with each first publication);
                        `pairs`, `pairs_sum`: the fingerprint of its (id, version) pairs
                        (gui_core.registry_fingerprint), moved by each publication in its transaction
                        and counted in `pairs_writes`; exact once a drift check's full read has set
                        them (`pairs_set_at`), partial before
  IN#<to>#<from>        written by releases before issue 14 and no longer read nor written: an
                        artifact's edges in are its record's `inputs`
Ids match `[A-Za-z0-9_.:-]`, so `#` never occurs inside one and prefixes never overlap.
Every record write is conditional on the `revision` read; a publication writes its record, its order
items, the tenant's counts, its edge changes and the counters they move in one transaction (at most
1 + 3 + 1 + 2 x 47 = 99 operations; a version that removes 24 inputs and adds 24 others would take
101, so one removed input is dropped first, in a transaction of its own: see `publish`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gui_artifacts.logic import Edge, Publication, SortField, SortOrder, order_value
from gui_core.dynamo import (
    Condition,
    ConditionFailed,
    Delete,
    Put,
    Table,
    TransactionCancelled,
    Update,
    item_absent,
    read_up_to,
)
from gui_core.errors import Conflict
from gui_core.registry_fingerprint import Fingerprint

ART_PREFIX = "ART#"
ORDER_INDEX = "by_order"
SORTS: tuple[SortField, ...] = ("updated", "created", "title")
ORDER_SEPARATOR = "\x01"  # below every printable character: (value, id) order, as tuples compare
STAT_SK = "STAT#artifacts"
PAIRS, PAIRS_SUM, PAIRS_WRITES, PAIRS_SET_AT = "pairs", "pairs_sum", "pairs_writes", "pairs_set_at"
MAX_TRANSACTION = 100  # DynamoDB's limit of operations in one TransactWriteItems
MAX_REGISTRY_READ = 10_000  # records the search reads before a tenant's 0030 backfill is done
SEARCH_READ_BUDGET = 1_000  # order items one search page reads at most (a setting may lower it)
LEGACY_MAX_EDGES = 1000  # edges a degree read before the 0031 backfill counts at most (as before)
# The attributes an order item copies from its record: what the search's filters read.
ORDER_FIELDS = ("id", "kind", "owner", "license_tag", "governance_status", "tags", "created_at", "updated_at")
# Always true: a counter item may not exist yet.
ANYWAY = Condition("attribute_not_exists(#pk) OR attribute_exists(#pk)", names={"#pk": "pk"})


class ArtifactChanged(Conflict):
    code, title = "artifact_changed", "The artifact changed while the event was applied"


def art_sk(artifact_id: str) -> str:
    return f"{ART_PREFIX}{artifact_id}"


def out_sk(source: str, target: str) -> str:
    return f"OUT#{source}#{target}"


def deg_sk(artifact_id: str) -> str:
    return f"DEG#{artifact_id}"


def order_sk(sort: SortField, artifact_id: str) -> str:
    return f"ORD#{sort}#{artifact_id}"


def order_items(tenant: str, record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The record's three order items (migration 0030 writes the same: a unit test keeps them equal)."""
    fields = {k: record.get(k) for k in ORDER_FIELDS}
    return [
        {
            "pk": tenant,
            "sk": order_sk(sort, str(record["id"])),
            "kind_of_item": "order",
            "order_pk": f"{tenant}#{sort}",
            "order_sk": f"{order_value(record, sort)}{ORDER_SEPARATOR}{record['id']}",
            **fields,
        }
        for sort in SORTS
    ]


def _revision_is(stored: Mapping[str, Any] | None, *, listed: bool | None = None) -> Condition:
    if stored is None:
        return item_absent("sk")
    expression = "#r = :r"
    names = {"#r": "revision"}
    if listed is not None:
        names["#l"] = "listed"
        expression += " AND attribute_exists(#l)" if listed else " AND attribute_not_exists(#l)"
    return Condition(expression, names=names, values={":r": int(stored.get("revision") or 0)})


@dataclass(frozen=True)
class OrderPage:
    """Order items of one search page (at most `limit`), where the next page starts, and whether the
    read budget stopped the page before it was full (`partial`: the next page may hold none)."""

    items: list[dict[str, Any]]
    next_after: tuple[str, str] | None
    partial: bool
    read: int  # order items read


@dataclass(frozen=True)
class PairsMark:
    """The tenant's registry fingerprint as stored: None until a full read set it (the sums before
    are partial), and the writes that moved it, which that read's write-back is conditional on."""

    fingerprint: Fingerprint | None
    writes: int


class ArtifactsRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # -- reads ---------------------------------------------------------------------------------------

    def artifact(self, tenant: str, artifact_id: str) -> dict[str, Any] | None:
        item = self._table.get({"pk": tenant, "sk": art_sk(artifact_id)})
        return _plain(item) if item else None

    def artifacts(self, tenant: str, artifact_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The records of these ids that exist, by id (BatchGetItem)."""
        if not artifact_ids:
            return {}
        found = self._table.batch_get([{"pk": tenant, "sk": art_sk(i)} for i in artifact_ids])
        return {str(item["id"]): _plain(item) for item in found if "id" in item}

    def out_degrees(self, tenant: str, artifact_ids: list[str]) -> dict[str, int]:
        """Edges out of each artifact, exact (its DEG item; none is 0)."""
        if not artifact_ids:
            return {}
        found = self._table.batch_get([{"pk": tenant, "sk": deg_sk(i)} for i in artifact_ids])
        counted = {str(item["sk"]).removeprefix("DEG#"): int(item.get("out") or 0) for item in found}
        return {i: counted.get(i, 0) for i in artifact_ids}

    def counted_out_degrees(self, tenant: str, artifact_ids: list[str]) -> dict[str, int]:
        """Edges out of each artifact as the releases before issue 14 counted them (their edges
        read, up to `LEGACY_MAX_EDGES`): until migration 0031 has counted the tenant's edges."""
        degrees: dict[str, int] = {}
        for artifact_id in artifact_ids:
            edges = read_up_to(
                self._table,
                ("pk", tenant),
                limit=LEGACY_MAX_EDGES,
                chunk=LEGACY_MAX_EDGES,
                sort_prefix=("sk", f"OUT#{artifact_id}#"),
            )
            degrees[artifact_id] = len(edges.items)
        return degrees

    def downstream(
        self, tenant: str, artifact_id: str, *, limit: int, after: str | None = None
    ) -> list[Edge]:
        """The first `limit` edges out of the artifact whose target's id is after `after`, by that id
        (one query of `limit` items: the sort key's order)."""
        prefix = f"OUT#{artifact_id}#"
        start = {"pk": tenant, "sk": f"{prefix}{after}"} if after is not None else None
        page = self._table.query(("pk", tenant), sort_prefix=("sk", prefix), limit=limit, start_key=start)
        return [Edge(str(i["from"]), str(i["to"]), str(i["relation"])) for i in page.items]

    def artifact_count(self, tenant: str) -> int:
        item = self._table.get({"pk": tenant, "sk": STAT_SK}, consistent=False)
        return int((item or {}).get("count") or 0)

    def order_page(
        self,
        tenant: str,
        *,
        sort: SortField,
        order: SortOrder,
        after: tuple[str, str] | None,
        accept: Callable[[Mapping[str, Any]], bool],
        limit: int,
        budget: int,
        key_range: tuple[str, str] | None = None,
        filtered: bool = True,
    ) -> OrderPage:
        """Up to `limit` order items that `accept` in the sort's order after the position `after`,
        reading at most `budget` items (and `limit + 1` when nothing is filtered; with filters, a
        query of `limit + 1`, then each twice the one before, so at most twice what the page needed
        is read): one item more than
        the page tells that more follow, so a cursor leads to a page that is not empty; a budget spent
        first makes the page `partial` and its cursor the last position read."""
        partition = f"{tenant}#{sort}"
        start = None
        if after is not None:
            start = {
                "pk": tenant,
                "sk": order_sk(sort, after[1]),
                "order_pk": partition,
                "order_sk": f"{after[0]}{ORDER_SEPARATOR}{after[1]}",
            }
        between = ("order_sk", key_range[0], key_range[1]) if key_range else None
        found: list[dict[str, Any]] = []
        read = 0
        last_read: dict[str, Any] | None = None
        chunk = limit + 1
        while True:
            if filtered:  # the page and one more, then twice as many each query, within the budget
                chunk = min(budget - read, chunk if read == 0 else 2 * chunk)
            else:
                chunk = limit + 1 - len(found)
            page = self._table.query(
                ("order_pk", partition),
                sort_between=between,
                index=ORDER_INDEX,
                limit=chunk,
                start_key=start,
                forward=order == "asc",
            )
            for item in page.items:
                read += 1
                last_read = item
                if accept(item):
                    found.append(item)
                    if len(found) > limit:
                        return OrderPage(found[:limit], _position(found[limit - 1]), False, read)
            if page.last_key is None or not page.items:
                return OrderPage(found, None, False, read)
            if read >= budget:
                assert last_read is not None
                return OrderPage(found, _position(last_read), True, read)
            start = page.last_key

    def registry(
        self, tenant: str, *, limit: int = MAX_REGISTRY_READ, consistent: bool = False
    ) -> Iterator[dict[str, Any]]:
        """The tenant's artifacts in id order, at most `limit` (the search before its backfill)."""
        read = read_up_to(
            self._table,
            ("pk", tenant),
            limit=limit,
            chunk=500,
            sort_prefix=("sk", ART_PREFIX),
            consistent=consistent,
        )
        yield from (_plain(item) for item in read.items)

    def pairs(self, tenant: str) -> PairsMark:
        """The fingerprint of the tenant's (id, version) pairs (one strongly consistent read)."""
        item = self._table.get({"pk": tenant, "sk": STAT_SK}) or {}
        writes = int(item.get(PAIRS_WRITES) or 0)
        if PAIRS_SET_AT not in item:
            return PairsMark(None, writes)
        return PairsMark(Fingerprint(int(item.get(PAIRS) or 0), int(item.get(PAIRS_SUM) or 0)), writes)

    def set_pairs(self, tenant: str, fingerprint: Fingerprint, *, mark: PairsMark, at: str) -> bool:
        """Store `fingerprint`, read whole (strongly consistent) after `mark` was read, unless a
        publication moved the sums meanwhile (it may be in the read or not): False then, and the
        next full read tries again."""
        if mark.writes:
            unchanged = Condition("#w = :w", names={"#w": PAIRS_WRITES}, values={":w": mark.writes})
        else:
            unchanged = Condition("attribute_not_exists(#w)", names={"#w": PAIRS_WRITES})
        values = {PAIRS: fingerprint.count, PAIRS_SUM: fingerprint.total, PAIRS_SET_AT: at}
        try:
            self._table.update({"pk": tenant, "sk": STAT_SK}, values, condition=unchanged)
        except ConditionFailed:
            return False
        return True

    # -- writes --------------------------------------------------------------------------------------

    def publish(self, tenant: str, stored: dict[str, Any] | None, publication: Publication) -> None:
        """Write the record, its order items, the tenant's counts and fingerprint, its edge changes
        and the counts they move, all or nothing, if the record is still `stored` (else
        ArtifactChanged: read it again). A publication too large for one transaction first drops one
        of the inputs it removes, in a transaction of its own (the record keeps its version and
        loses that input and its edge): a redelivery after a failure in between decides again on it."""
        stored = self._listed(tenant, stored)
        # The record, its three order items and the count item, then up to two per edge changed.
        operations_needed = 5 + 2 * (len(publication.added) + len(publication.removed))
        if stored is not None and operations_needed > MAX_TRANSACTION:
            stored, publication = self._drop_input(tenant, stored, publication)
        record: dict[str, Any] = {"pk": tenant, "sk": art_sk(publication.record["id"]), "type": "artifact"}
        record |= {**publication.record, "listed": 1}
        operations: list[Put | Delete | Update] = [
            Put(record, _revision_is(stored, listed=stored is not None))
        ]
        operations += [Put(item) for item in order_items(tenant, publication.record)]
        pairs = Fingerprint.change(
            str(publication.record["id"]),
            int(stored["version"]) if stored is not None else None,
            int(publication.record["version"]),
        )
        counts = {"count": 1} if stored is None else {}
        operations.append(Update({"pk": tenant, "sk": STAT_SK}, add=counts | _moved(pairs), condition=ANYWAY))
        previous = {str(i["id"]) for i in (stored or {}).get("inputs") or []}
        moved: dict[str, int] = {}
        for edge in publication.added:
            key = {"pk": tenant, "sk": out_sk(edge.source, edge.target)}
            if edge.source in previous:  # another relation: the edge stays, counted as it was
                operations.append(Update(key, values={"relation": edge.relation}))
                continue
            body = {"kind": "edge", "from": edge.source, "to": edge.target, "relation": edge.relation}
            operations.append(Put({**key, **body, "counted": 1}, item_absent("sk")))
            moved[edge.source] = moved.get(edge.source, 0) + 1
        for edge in publication.removed:
            delete, delta = self._removal(tenant, edge)
            operations += delete
            moved[edge.source] = moved.get(edge.source, 0) + delta
        self._write(operations + _degree_updates(tenant, moved))

    def _drop_input(
        self, tenant: str, stored: dict[str, Any], publication: Publication
    ) -> tuple[dict[str, Any], Publication]:
        """The first input `publication` removes, dropped from the stored record (same version,
        next revision) with its edge and count; the record as stored now and what remains to do."""
        edge = publication.removed[0]
        inputs = [i for i in stored.get("inputs") or [] if str(i["id"]) != edge.source]
        revision = int(stored.get("revision") or 0) + 1
        dropped = {**stored, "inputs": inputs, "in_degree": len(inputs), "revision": revision}
        item = {"pk": tenant, "sk": art_sk(str(stored["id"])), "type": "artifact", **dropped}
        delete, delta = self._removal(tenant, edge)
        operations: list[Put | Delete | Update] = [Put(item, _revision_is(stored, listed=True)), *delete]
        self._write(operations + _degree_updates(tenant, {edge.source: delta}))
        rest = replace(
            publication,
            record={**publication.record, "revision": revision + 1},
            removed=publication.removed[1:],
        )
        return dropped, rest

    def _removal(self, tenant: str, edge: Edge) -> tuple[list[Put | Delete | Update], int]:
        """The delete of an edge the record no longer has, and what it moves its upstream end's count by."""
        key = {"pk": tenant, "sk": out_sk(edge.source, edge.target)}
        existing = self._table.get(key)
        if existing is None:
            return [], 0
        if existing.get("counted"):
            return [Delete(key, Condition("attribute_exists(#c)", names={"#c": "counted"}))], -1
        # Written before the counts: migration 0031 has not counted it (yet).
        return [Delete(key, Condition("attribute_not_exists(#c)", names={"#c": "counted"}))], 0

    def replace(self, tenant: str, stored: dict[str, Any], record: dict[str, Any]) -> None:
        """Write `record` (its edges unchanged) and its order items if the stored one is still
        `stored` (same revision); else ArtifactChanged."""
        listed = self._listed(tenant, stored)
        assert listed is not None
        stored = listed
        item = {"pk": tenant, "sk": art_sk(record["id"]), "type": "artifact", **_plain(record), "listed": 1}
        operations: list[Put | Delete | Update] = [Put(item, _revision_is(stored, listed=True))]
        operations += [Put(order) for order in order_items(tenant, record)]
        self._write(operations)

    def _listed(self, tenant: str, stored: dict[str, Any] | None) -> dict[str, Any] | None:
        """`stored`, listed: a record written before the order items gets them and is counted first,
        as migration 0030 does (exactly once: only while it is not `listed` and its `created` order
        item does not exist; a record a release before rewrote after it was listed has its order
        items rewritten, not counted again)."""
        if stored is None or stored.get("listed"):
            return stored
        record = {"pk": tenant, "sk": art_sk(stored["id"]), "type": "artifact", **stored, "listed": 1}
        orders = order_items(tenant, stored)
        counted = self._table.get({"pk": tenant, "sk": order_sk("created", str(stored["id"]))}) is not None
        operations: list[Put | Delete | Update] = [Put(record, _revision_is(stored, listed=False))]
        if counted:
            operations += [Put(order) for order in orders]
        else:
            operations += [
                Put(order, item_absent("sk") if order["sk"].startswith("ORD#created#") else None)
                for order in orders
            ]
            operations.append(Update({"pk": tenant, "sk": STAT_SK}, add={"count": 1}, condition=ANYWAY))
        self._write(operations)
        return {**stored, "listed": 1}

    def _write(self, operations: list[Put | Delete | Update]) -> None:
        try:
            self._table.transact(operations)
        except TransactionCancelled as exc:
            # A condition that failed (the record, or an edge counted meanwhile) or a transaction on
            # the same items at once (a count two publications move): decide again on what is stored.
            raise ArtifactChanged("The artifact was written meanwhile; read it again.") from exc


def _moved(pairs: Fingerprint) -> dict[str, int]:
    """The ADDs that move the tenant's fingerprint by `pairs`, and count the write."""
    return {PAIRS: pairs.count, PAIRS_SUM: pairs.total, PAIRS_WRITES: 1}


def _degree_updates(tenant: str, moved: Mapping[str, int]) -> list[Put | Delete | Update]:
    return [
        Update({"pk": tenant, "sk": deg_sk(source)}, add={"out": delta}, condition=ANYWAY)
        for source, delta in sorted(moved.items())
        if delta
    ]


def _position(item: Mapping[str, Any]) -> tuple[str, str]:
    value, _, artifact_id = str(item["order_sk"]).rpartition(ORDER_SEPARATOR)
    return value, artifact_id


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in {"pk", "sk", "type"}}
