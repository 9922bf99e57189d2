"""One tenant's search index in one folder: writes, reads, the search itself and the files a
copy of it needs.

A pure module (stdlib, tantivy and `gui_core.errors`): the S3 storage of index versions
(`gui_search.store`), the Lambda handler and the indexer live elsewhere and use this API. The
parts it puts together: `gui_search.documents` (what is stored), `gui_search.analysis` (fields and
terms), `gui_search.query` (parsing, ranking, filters) and `gui_search.highlights`.

- `facets` holds every kind of `ARTIFACT_KINDS`, zeros included (plus any other kind present), each
  counted for the query with every filter except `kinds`; `total` follows from the same pass.
- Browsing (no ranked words) lists the documents within the filters newest `updated_at` first
  (undated documents last), score 0, no highlights.
- `Hit.document` carries every stored field, hidden ones included: the caller masks it
  (`gui_core.masking`) as it masks any artifact answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tantivy

from gui_core.errors import ValidationFailed
from gui_search import query as queries
from gui_search.analysis import TEXT_TOKENIZER, analyzer, schema
from gui_search.documents import ARTIFACT_KINDS, document_of, sort_instant
from gui_search.highlights import Highlight, Highlighter
from gui_search.query import MAX_LIMIT, MAX_OFFSET, QuerySyntaxError, SearchQuery

SCHEMA_VERSION = 1
SCHEMA_FILE = "dd_search_schema.json"  # beside tantivy's files; tantivy never garbage-collects it
CURRENT_RANK = 1  # deprecated documents score x1, current ones x log2(2 + CURRENT_RANK)
WRITER_HEAP_BYTES = 64_000_000
WRITER_THREADS = 1
_SEPARATOR = "\x00"
_NO_KIND = " none"  # aggregation key of documents without a kind (kinds are stripped: never a kind)


@dataclass(frozen=True)
class Hit:
    id: str
    kind: str
    score: float
    document: dict[str, Any]
    highlights: tuple[Highlight, ...]


@dataclass(frozen=True)
class SearchPage:
    hits: tuple[Hit, ...]
    total: int
    facets: dict[str, int] = field(default_factory=dict)


def tantivy_document(doc: Mapping[str, Any]) -> tantivy.Document:
    """The index's document of a search document (`document_of`'s answer)."""
    out = tantivy.Document()
    out.add_text("id", doc["id"])
    out.add_text("id_version", f"{doc['id']}{_SEPARATOR}{int(doc.get('version') or 0)}")
    for name, key in (
        ("kind", "kind"),
        ("owner_raw", "owner"),
        ("license_tag", "license_tag"),
        ("governance_status", "governance_status"),
    ):
        if doc.get(key):
            out.add_text(name, doc[key])
    for tag in doc.get("tags") or ():
        out.add_text("tags_raw", tag)
        out.add_text("tags", tag)
    for name in ("title", "summary", "owner", "licensing_notes", "source_text"):
        if doc.get(name):
            out.add_text(name, doc[name])
    moment = sort_instant(doc)
    if moment is not None and tantivy.MIN_DATETIME <= moment <= tantivy.MAX_DATETIME:
        out.add_date("updated_at", moment)
    out.add_integer("version", int(doc.get("version") or 0))
    out.add_integer("rank", 0 if doc.get("deprecated") else CURRENT_RANK)
    out.add_bytes("doc", json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
    return out


def _count(result: tantivy.SearchResult) -> int:
    """The match count of a search made with count=True (absent from tantivy's type stubs)."""
    return int(getattr(result, "count", 0) or 0)


META_FILE = "meta.json"  # tantivy's: the segments of the last commit; rewritten by every commit


def index_files(folder: Path) -> list[str]:
    """The files a copy of the committed index in `folder` needs, sorted: `meta.json`, this module's
    schema file, and every file of each segment `meta.json` names, the segment's deletes only as of
    its opstamp there. Segment files are written once and never change (`<segment>.<ext>`, a
    segment's deletes `<segment>.<opstamp>.del`); files of merged-away segments, older deletes, a
    merge's files in progress and the lock files are left out. Call it when no merge is running
    (`SearchIndex.close`): a merge ending meanwhile may remove files it names. FileNotFoundError
    when a named file is missing."""
    meta = json.loads((folder / META_FILE).read_text())
    deletes: dict[str, str | None] = {}
    for segment in meta.get("segments", []):
        segment_id = str(segment["segment_id"]).replace("-", "")
        opstamp = (segment.get("deletes") or {}).get("opstamp")
        deletes[segment_id] = f"{segment_id}.{opstamp}.del" if opstamp is not None else None
    names = {META_FILE, SCHEMA_FILE}
    for path in folder.iterdir():
        segment_id, _, rest = path.name.partition(".")
        if segment_id not in deletes or not path.is_file() or rest.endswith(".temp"):
            continue
        if rest.endswith("del") and path.name != deletes[segment_id]:
            continue
        names.add(path.name)
    expected = [f"{s}.idx" for s in deletes] + [d for d in deletes.values() if d] + [META_FILE, SCHEMA_FILE]
    missing = [name for name in expected if name not in names or not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(sorted(missing)[:5])} of its committed index")
    return sorted(names)


class SearchIndex:
    """One tenant's index in one folder. Searches may run from several threads at once; writes
    (upsert, delete, commit, close) come from one caller at a time and are serialized by a lock."""

    def __init__(self, index: tantivy.Index, path: Path) -> None:
        self._index = index
        self._path = path
        self._schema = index.schema
        self._writer: tantivy.IndexWriter | None = None
        self._pending = False  # writes since the last commit or rollback
        self._lock = threading.Lock()
        index.register_tokenizer(TEXT_TOKENIZER, analyzer())
        index.config_reader("Manual")
        index.reload()

    @property
    def path(self) -> Path:
        return self._path

    @classmethod
    def create(cls, path: Path) -> SearchIndex:
        """An empty index in folder `path` (created if missing; it must not hold an index)."""
        path.mkdir(parents=True, exist_ok=True)
        if tantivy.Index.exists(str(path)):
            raise FileExistsError(f"{path} already holds an index")
        index = tantivy.Index(schema(), path=str(path), reuse=False)
        (path / SCHEMA_FILE).write_text(json.dumps({"schema_version": SCHEMA_VERSION}))
        return cls(index, path)

    @classmethod
    def open(cls, path: Path) -> SearchIndex:
        """The index in folder `path`; ValueError when it was made with another SCHEMA_VERSION."""
        try:
            stored = json.loads((path / SCHEMA_FILE).read_text()).get("schema_version")
        except (OSError, ValueError, AttributeError) as error:
            raise ValueError(f"{path} holds no search index of this module") from error
        if stored != SCHEMA_VERSION:
            raise ValueError(f"{path} has search schema {stored}, this module reads {SCHEMA_VERSION}")
        return cls(tantivy.Index.open(str(path)), path)

    # -- writes -----------------------------------------------------------------------------------

    def _writer_locked(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=WRITER_THREADS)
        return self._writer

    def upsert(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Replaces (delete by id, then add) each document; visible after `commit`. Documents go
        through `document_of` first. ValueError, before anything is written, if one has no id."""
        docs = [document_of(record) for record in documents]
        if any(not doc["id"] for doc in docs):
            raise ValueError("every search document needs an id")
        with self._lock:
            writer = self._writer_locked()
            for doc in docs:
                writer.delete_documents_by_term("id", doc["id"])
                writer.add_document(tantivy_document(doc))
            self._pending = self._pending or bool(docs)
        return len(docs)

    def delete(self, ids: Iterable[str]) -> int:
        """Deletes the documents with these ids (visible after `commit`); returns how many of them
        the committed index holds."""
        wanted = sorted({str(i) for i in ids if i})
        if not wanted:
            return 0
        searcher = self._index.searcher()
        present = _count(searcher.search(tantivy.Query.term_set_query(self._schema, "id", wanted), 1))
        with self._lock:
            writer = self._writer_locked()
            for artifact_id in wanted:
                writer.delete_documents_by_term("id", artifact_id)
            self._pending = True
        return int(present)

    def commit(self) -> None:
        """Publishes pending writes and reloads the searcher."""
        with self._lock:
            if self._writer is not None:
                self._writer.commit()
            self._pending = False
            self._index.reload()

    def rollback(self) -> None:
        """Drops the writes since the last commit."""
        with self._lock:
            if self._writer is not None:
                self._writer.rollback()
            self._pending = False

    def close(self) -> None:
        """Releases the writer after its merges end, so the folder is a complete snapshot to copy
        (`index_files`). Uncommitted writes are dropped first, which abandons the merges running (a
        rollback restarts tantivy's segment updater): after a commit they run to their end. The
        index stays searchable."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                if self._pending:
                    writer.rollback()
                    self._pending = False
                writer.wait_merging_threads()
            self._index.reload()

    # -- reads ------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Sees commits made through another SearchIndex on the same folder."""
        self._index.reload()

    def count(self) -> int:
        return int(self._index.searcher().num_docs)

    def get(self, artifact_id: str) -> dict[str, Any] | None:
        searcher = self._index.searcher()
        found = searcher.search(tantivy.Query.term_query(self._schema, "id", artifact_id), 1)
        if not found.hits:
            return None
        return self._stored(searcher, found.hits[0][1])

    def versions(self) -> dict[str, int]:
        """id -> version of every document. Walks the `id_version` term dictionary, counting only
        live documents (a replaced or deleted version's term counts 0 and is left out), so no
        stored document is read."""
        searcher = self._index.searcher()
        terms = searcher.terms_with_prefix("id_version", "", filter_query=tantivy.Query.all_query())
        versions: dict[str, int] = {}
        for term, live in terms:
            artifact_id, _, version = term.rpartition(_SEPARATOR)
            if live and artifact_id:
                versions[artifact_id] = int(version)
        return versions

    @staticmethod
    def _stored(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> dict[str, Any]:
        raw = searcher.doc(address).get_first("doc")
        doc: dict[str, Any] = json.loads(raw or b"{}")
        return doc

    # -- search -----------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchPage:
        if not 1 <= query.limit <= MAX_LIMIT:
            raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}")
        if not 0 <= query.offset <= MAX_OFFSET:
            raise ValidationFailed(f"offset must be between 0 and {MAX_OFFSET}")
        hidden = queries.unqueryable_fields(query.hidden_fields)
        parsed = queries.parse(self._index, query.text, hidden)
        filters = queries.filters(self._schema, query, hidden)
        kinds = [queries.any_of(self._schema, "kind", query.kinds)] if query.kinds else []
        base = parsed.query if parsed.query is not None else tantivy.Query.all_query()
        searcher = self._index.searcher()
        # One full pass counts per kind; the total follows from it (a document has one kind), so the
        # top-k search needs no count of its own.
        try:
            facets, unkinded = self._facets(searcher, queries.combine(base, filters))
        except ValueError as error:  # a query tantivy parsed but cannot run
            raise QuerySyntaxError("the query cannot be run") from error
        if query.kinds:
            total = sum(facets.get(kind, 0) for kind in set(query.kinds))
        else:
            total = sum(facets.values()) + unkinded
        if query.offset >= total:
            return SearchPage((), total, facets)
        main = queries.combine(base, filters + kinds)
        if parsed.ranked:
            found = searcher.search(
                main, query.limit, count=False, offset=query.offset, weight_by_field="rank"
            )
        else:
            found = searcher.search(
                main,
                query.limit,
                count=False,
                order_by_field="updated_at",
                offset=query.offset,
                order=tantivy.Order.Desc,
            )
        highlighter = Highlighter(parsed, hidden) if parsed.ranked else None
        hits: list[Hit] = []
        for key, address in found.hits:
            doc = self._stored(searcher, address)
            score = float(key) if parsed.ranked else 0.0
            highlights = highlighter.highlights(doc) if highlighter is not None else ()
            hits.append(Hit(str(doc["id"]), str(doc.get("kind") or ""), score, doc, highlights))
        return SearchPage(tuple(hits), total, facets)

    @staticmethod
    def _facets(searcher: tantivy.Searcher, query: tantivy.Query) -> tuple[dict[str, int], int]:
        """Matches per kind (every ArtifactKind, zeros included) and matches without a kind."""
        facets = dict.fromkeys(ARTIFACT_KINDS, 0)
        unkinded = 0
        spec = {"kinds": {"terms": {"field": "kind", "size": 10_000, "missing": _NO_KIND}}}
        for bucket in searcher.aggregate(query, spec).get("kinds", {}).get("buckets", ()):
            if bucket["key"] == _NO_KIND:
                unkinded = int(bucket["doc_count"])
            else:
                facets[str(bucket["key"])] = int(bucket["doc_count"])
        return facets, unkinded
