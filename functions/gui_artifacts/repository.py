"""DynamoDB layout of the artifact registry, behind the methods the routes and the event consumer need.

One table, partition = tenant; sort keys by kind of item:
  ART#<id>              an artifact (its latest version), with degree counts and recent event ids
  OUT#<from>#<to>       a lineage edge, filed under its upstream end (downstream walks)
  IN#<to>#<from>        the same edge, filed under its downstream end (upstream walks)
Ids match `[A-Za-z0-9_.:-]`, so `#` never occurs inside one and prefixes never overlap.
Every record write is conditional on the `revision` read; a publication writes its record and its
edge changes in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gui_artifacts.logic import Edge, Publication
from gui_artifacts.models import Side
from gui_core.dynamo import (
    Condition,
    ConditionFailed,
    Delete,
    Put,
    Table,
    TransactionCancelled,
    item_absent,
)
from gui_core.errors import Conflict

ART_PREFIX = "ART#"
MAX_EDGES_READ = 1000  # edges read per node and side; a node with more shows the first ones
MAX_REGISTRY_READ = 10_000  # records a search reads (see the decision log: scale assumption)


class ArtifactChanged(Conflict):
    code, title = "artifact_changed", "The artifact changed while the event was applied"


def art_sk(artifact_id: str) -> str:
    return f"{ART_PREFIX}{artifact_id}"


def _edge_items(tenant: str, edge: Edge) -> tuple[dict[str, Any], dict[str, Any]]:
    body = {"kind": "edge", "from": edge.source, "to": edge.target, "relation": edge.relation}
    return (
        {"pk": tenant, "sk": f"OUT#{edge.source}#{edge.target}", **body},
        {"pk": tenant, "sk": f"IN#{edge.target}#{edge.source}", **body},
    )


def _revision_is(stored: dict[str, Any] | None) -> Condition:
    if stored is None:
        return item_absent("sk")
    return Condition("#r = :r", names={"#r": "revision"}, values={":r": int(stored.get("revision") or 0)})


class ArtifactsRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def artifact(self, tenant: str, artifact_id: str) -> dict[str, Any] | None:
        item = self._table.get({"pk": tenant, "sk": art_sk(artifact_id)})
        return _plain(item) if item else None

    def neighbours(self, tenant: str, artifact_id: str, side: Side) -> list[Edge]:
        """Edges of the artifact on `side`, ordered by the neighbour's id (the sort key's order)."""
        prefix = f"{'IN' if side == 'upstream' else 'OUT'}#{artifact_id}#"
        edges: list[Edge] = []
        start: dict[str, Any] | None = None
        while len(edges) < MAX_EDGES_READ:
            page = self._table.query(
                ("pk", tenant), sort_prefix=("sk", prefix), limit=min(500, MAX_EDGES_READ), start_key=start
            )
            edges += [Edge(str(i["from"]), str(i["to"]), str(i["relation"])) for i in page.items]
            if page.last_key is None:
                break
            start = page.last_key
        return edges[:MAX_EDGES_READ]

    def count_downstream(self, tenant: str, artifact_id: str) -> int:
        return len(self.neighbours(tenant, artifact_id, "downstream"))

    def registry(self, tenant: str, *, limit: int = MAX_REGISTRY_READ) -> Iterator[dict[str, Any]]:
        """The tenant's artifacts in id order, at most `limit`."""
        start: dict[str, Any] | None = None
        read = 0
        while read < limit:
            page = self._table.query(
                ("pk", tenant), sort_prefix=("sk", ART_PREFIX), limit=min(500, limit - read), start_key=start
            )
            for item in page.items:
                read += 1
                yield _plain(item)
            if page.last_key is None:
                return
            start = page.last_key

    def publish(self, tenant: str, stored: dict[str, Any] | None, publication: Publication) -> None:
        """Write the record and its edge changes, all or nothing, if the record is still `stored`."""
        record = {
            "pk": tenant,
            "sk": art_sk(publication.record["id"]),
            "type": "artifact",
            **publication.record,
        }
        operations: list[Put | Delete] = [Put(record, _revision_is(stored))]
        for edge in publication.added:
            operations += [Put(item) for item in _edge_items(tenant, edge)]
        for edge in publication.removed:
            operations += [Delete({"pk": i["pk"], "sk": i["sk"]}) for i in _edge_items(tenant, edge)]
        try:
            self._table.transact(operations)
        except TransactionCancelled as exc:
            if 0 in exc.failed:
                raise ArtifactChanged("The artifact was written meanwhile; read it again.") from exc
            raise

    def replace(self, tenant: str, stored: dict[str, Any], record: dict[str, Any]) -> None:
        """Write `record` if the stored one is still `stored` (same revision); else ArtifactChanged."""
        try:
            self._table.put(
                {"pk": tenant, "sk": art_sk(record["id"]), "type": "artifact", **_plain(record)},
                condition=_revision_is(stored),
            )
        except ConditionFailed as exc:
            raise ArtifactChanged("The artifact was written meanwhile; read it again.") from exc


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in {"pk", "sk", "type"}}
