"""The per-tenant full-text index of artifacts behind the GUI's federated search box.

A pure module (stdlib, tantivy and `gui_core.errors`): the S3 storage of index versions, the Lambda
handler and the indexer live elsewhere and use this API. One index folder holds one tenant.

- Text is split into runs of letters and runs of digits, lowercased, ASCII-folded and stemmed
  (English): `icd10`, `ICD-10` and `icd 10` are the same two-word phrase, `Café` finds `cafe`,
  `mappings` finds `map`.
- Ranking is BM25 over title, tags, summary, owner, licensing_notes and source_text with the boosts
  of `FIELD_BOOSTS`, a bonus (`TITLE_ALL_TERMS_BOOST`) when the title holds every query word, and
  deprecated artifacts scored lower (x1 against x1.58 for current ones); all chosen by nDCG@10 on
  tests/fixtures/search_judgements.json. Words are OR'ed (`AND` and `+word` when needed).
- Query text follows tantivy's syntax: `AND`/`OR`/`NOT`, `+must`, `-exclude`, `"phrases"`,
  `"phrase pre"*`, `field:word`, `word^2`, `version:>3`, `kind:*`. A query that does not parse, holds
  no words (`"`, `(`, `AND`, `title:`, `!!!`), names an unknown field or is longer than
  `MAX_QUERY_CHARS` raises `QuerySyntaxError` (400 `invalid_query`).
- Hidden fields (license masking) are left out of the default fields and never highlighted; a query
  that names one (`source_text:foo`, `-licensing_notes:x`, `source_text:*`) raises
  `QuerySyntaxError` with the message an unknown field gets, so nothing of its content leaks; so
  does a tags or owner filter when that field is hidden. `Hit.document` still carries every stored
  field: the caller masks it (`gui_core.masking`) as it masks any artifact answer.
- Empty query text (or `*`, or a query of exclusions only such as `-draft`) browses: every document
  within the filters, newest `updated_at` first (undated documents last), score 0, no highlights.
- `facets` holds every kind of `ARTIFACT_KINDS`, zeros included (plus any other kind present), each
  counted for the query with every filter except `kinds`; `total` follows from the same pass.
- Highlights: see `_Highlighter`; ranges are character offsets into `Highlight.text`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tantivy

from gui_core.errors import ValidationFailed

SCHEMA_VERSION = 1
SEARCHABLE_FIELDS = ("title", "summary", "tags", "owner", "licensing_notes", "source_text")
_PREFIX_FIELDS = frozenset(SEARCHABLE_FIELDS)  # text fields a lone `word*` expands over
HIGHLIGHT_FIELDS = ("title", "summary", "tags")
MASKABLE_HIGHLIGHT_FIELDS = ("licensing_notes", "source_text")  # highlighted unless hidden
ARTIFACT_KINDS = ("coverage", "mapping", "overlay", "readiness", "prompt_pack", "ingestion", "governance")

FIELD_BOOSTS: Mapping[str, float] = {
    "title": 4.0,
    "tags": 2.0,
    "summary": 1.0,
    "owner": 0.5,
    "licensing_notes": 0.5,
    "source_text": 0.5,
}
CURRENT_RANK = 1  # deprecated documents score x1, current ones x log2(2 + CURRENT_RANK)
CONJUNCTION_BY_DEFAULT = False  # AND-ing the words lost recall: nDCG@10 0.82 against 0.94
TITLE_ALL_TERMS_BOOST = 1.0
MAX_QUERY_CHARS = 512
MAX_TAG_CHARS = 256  # longer "tags" are dropped by document_of
MAX_LIMIT = 100
MAX_OFFSET = 10_000
WRITER_HEAP_BYTES = 64_000_000
WRITER_THREADS = 1
SCHEMA_FILE = "dd_search_schema.json"  # beside tantivy's files; tantivy never garbage-collects it
TEXT_TOKENIZER = "dd_text"

# A field the caller may not see also hides the keyword twin that filters on it.
_ALIASES: Mapping[str, tuple[str, ...]] = {"tags": ("tags_raw",), "owner": ("owner_raw",)}
# Highlight fragment length per field; title and tags are shown whole.
_FRAGMENT_CHARS: Mapping[str, int] = {
    "title": 1_000,
    "summary": 300,
    "tags": 2_000,
    "licensing_notes": 200,
    "source_text": 200,
}
HIGHLIGHT_SCAN_CHARS = 4_000  # long fields are highlighted from their beginning only
_SEPARATOR = "\x00"
_NO_KIND = " none"  # aggregation key of documents without a kind (kinds are stripped: never a kind)


class QuerySyntaxError(ValidationFailed):
    status, code, title = 400, "invalid_query", "The search query is not valid"


# -- documents ------------------------------------------------------------------------------------

_TEXT_KEYS = ("kind", "title", "summary", "owner", "license_tag", "governance_status", "licensing_notes")
# Public registry fields kept so that a stored document can stand for the record (an indexer compares
# versions and content hashes against it); not searched.
_KEPT_KEYS = ("diff_hash", "previous_diff_hash", "deprecation_reason", "replaced_by")
_LONG_TEXT_KEYS = ("source_text", "source_uri")
_DATE_KEYS = ("published_at", "updated_at", "created_at", "deprecated_at")


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bool, int, float)):
        text = str(value)
    else:  # None, containers, bytes, arbitrary objects: dropped
        return None
    return text.strip() or None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            return None
    return number if number is not None and abs(number) < 2**63 else None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def _iso(value: Any) -> str | None:
    moment = _instant(value)
    return moment.isoformat(timespec="milliseconds") if moment else None


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple, set, frozenset)):
        return []
    items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
    tags: list[str] = []
    for item in items:
        tag = _text(item)
        if tag and len(tag) <= MAX_TAG_CHARS and tag not in tags:
            tags.append(tag)
    return tags


def document_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The normalized search document of an artifact registry record or an ArtifactPublished
    detail (`id` or `artifact_id`). Odd types are coerced or dropped, never raised on: text fields
    become a stripped string or None, `tags` a list of distinct strings, `version` an int (0 when
    missing), timestamps UTC ISO strings with milliseconds or None, `deprecated` a bool (status
    `deprecated` or a `deprecated_at`), `input_count` the number of `inputs` (None if unknown).
    Also kept, not searched: diff_hash, previous_diff_hash, deprecation_reason, replaced_by.
    Idempotent: document_of(document_of(r)) == document_of(r)."""
    if not isinstance(record, Mapping):
        record = {}
    doc: dict[str, Any] = {"id": _text(record.get("id")) or _text(record.get("artifact_id"))}
    for key in _TEXT_KEYS + _LONG_TEXT_KEYS + _KEPT_KEYS:
        doc[key] = _text(record.get(key))
    doc["tags"] = _tags(record.get("tags"))
    doc["version"] = _int(record.get("version")) or 0
    for key in _DATE_KEYS:
        doc[key] = _iso(record.get(key))
    doc["deprecated"] = (
        doc["governance_status"] == "deprecated"
        or doc["deprecated_at"] is not None
        or record.get("deprecated") is True
    )
    inputs = record.get("inputs")
    if isinstance(inputs, (list, tuple)):
        doc["input_count"] = len(inputs)
    else:
        doc["input_count"] = _int(record.get("input_count", record.get("in_degree")))
    return doc


def _sort_instant(doc: Mapping[str, Any]) -> datetime | None:
    """The date the index filters and sorts on: updated_at, else published_at, else created_at."""
    for key in ("updated_at", "published_at", "created_at"):
        moment = _instant(doc.get(key))
        if moment is not None:
            return moment
    return None


# -- query and answer types -----------------------------------------------------------------------


@dataclass(frozen=True)
class SearchQuery:
    text: str
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # all must be present
    owner: str | None = None
    license_tags: tuple[str, ...] = ()  # any of
    statuses: tuple[str, ...] = ()  # governance_status, any of
    updated_from: datetime | None = None  # inclusive
    updated_to: datetime | None = None  # exclusive
    limit: int = 20
    offset: int = 0
    hidden_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Highlight:
    field: str
    text: str
    ranges: tuple[tuple[int, int], ...]  # [start, end) in characters of `text`


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


# -- text analysis --------------------------------------------------------------------------------


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"[^\W\d_]+|\d+"))
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


_ANALYZER = _analyzer()


def analyze(text: str) -> list[str]:
    """The terms the index makes of `text` (the same analyzer as the text fields)."""
    return list(_ANALYZER.analyze(text))


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", tokenizer_name="raw", index_option="basic")
    # "<id>\x00<version>": versions() walks this field's term dictionary instead of the documents.
    builder.add_text_field("id_version", tokenizer_name="raw", index_option="basic")
    for name in ("kind", "owner_raw", "license_tag", "governance_status", "tags_raw"):
        builder.add_text_field(name, fast=name == "kind", tokenizer_name="raw", index_option="basic")
    for name in SEARCHABLE_FIELDS:
        builder.add_text_field(name, tokenizer_name=TEXT_TOKENIZER)
    builder.add_date_field("updated_at", indexed=True, fast=True)
    builder.add_integer_field("version", fast=True)
    builder.add_integer_field("rank", fast=True)  # score multiplier log2(2 + rank): demotes deprecated
    builder.add_bytes_field("doc", stored=True)
    return builder.build()


_KEYWORD_FIELDS = ("id", "kind", "owner_raw", "license_tag", "governance_status", "tags_raw")
_FAST_FIELDS = frozenset({"kind", "updated_at", "version"})
_QUERY_FIELDS = frozenset(SEARCHABLE_FIELDS + _KEYWORD_FIELDS + ("updated_at", "version"))


def _tantivy_document(doc: Mapping[str, Any]) -> tantivy.Document:
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
    moment = _sort_instant(doc)
    if moment is not None and tantivy.MIN_DATETIME <= moment <= tantivy.MAX_DATETIME:
        out.add_date("updated_at", moment)
    out.add_integer("version", int(doc.get("version") or 0))
    out.add_integer("rank", 0 if doc.get("deprecated") else CURRENT_RANK)
    out.add_bytes("doc", json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
    return out


# -- query parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    query: tantivy.Query | None  # None: no text restriction
    ranked: bool  # False: browse, newest first
    terms: dict[str | None, set[str]]  # positive query terms by field (None: default fields)
    prefixes: dict[str | None, set[str]]


@dataclass
class _Ast:
    """What a query's syntax tree holds: the fields it names, its literals (with whether they sit
    under a negation) and the kinds of its other nodes (range, set, exists, all, ...)."""

    fields: set[str] = field(default_factory=set)
    literals: list[tuple[dict[str, Any], bool]] = field(default_factory=list)
    others: set[str] = field(default_factory=set)
    exists_fields: set[str] = field(default_factory=set)

    def walk(self, node: Any, negated: bool = False) -> _Ast:
        if isinstance(node, list):
            for item in node:
                self.walk(item, negated)
            return self
        if not isinstance(node, dict):
            return self
        for key in ("field_name", "field"):
            name = node.get(key)
            if isinstance(name, str):
                self.fields.add(name)
        kind = node.get("type")
        if kind == "literal":
            self.literals.append((node, negated))
        elif kind == "bool":
            for occur, clause in node.get("clauses") or ():
                self.walk(clause, negated or occur == "must_not")
            return self
        elif isinstance(kind, str) and kind != "boost":
            self.others.add(kind)
            if kind == "exists" and isinstance(node.get("field"), str):
                self.exists_fields.add(node["field"])
        for value in node.values():
            if isinstance(value, (dict, list)):
                self.walk(value, negated)
        return self

    def has_words(self) -> bool:
        """Whether some literal yields a term (on a text field) or a value (on a keyword field)."""
        for node, _ in self.literals:
            name = node.get("field_name")
            phrase = str(node.get("phrase") or "")
            if (name in _KEYWORD_FIELDS and phrase) or analyze(phrase):
                return True
        return bool(self.others)

    def positive_terms(self) -> tuple[dict[str | None, set[str]], dict[str | None, set[str]]]:
        """The analyzed terms and prefix terms of the literals not under a negation, by the field
        they name (None: the default fields); highlights are made of these."""
        terms: dict[str | None, set[str]] = {}
        prefixes: dict[str | None, set[str]] = {}
        for node, negated in self.literals:
            if negated:
                continue
            target: str | None = node.get("field_name")
            words = analyze(str(node.get("phrase") or ""))
            if (node.get("prefix") or _bare_prefix(node)) and words:
                prefixes.setdefault(target, set()).add(words[-1])
                words = words[:-1]
            terms.setdefault(target, set()).update(words)
        return terms, prefixes


def _bare_prefix(node: Mapping[str, Any]) -> bool:
    """A lone `word*`: tantivy's parser keeps it as the literal `word*` (not a prefix), which the
    analyzer reads as `word`."""
    phrase = str(node.get("phrase") or "")
    return node.get("delimiter") == "none" and phrase.endswith("*") and " " not in phrase.strip()


def _browses(ast: Any) -> bool:
    """Whether a query only excludes (`-deprecated`, `* -draft`): it filters, it does not rank."""
    if not isinstance(ast, dict):
        return False
    if ast.get("type") == "all":
        return True
    if ast.get("type") != "bool":
        return False
    clauses = ast.get("clauses") or ()
    return bool(clauses) and all(
        occur == "must_not" or (isinstance(clause, dict) and clause.get("type") == "all")
        for occur, clause in clauses
    )


def _clamp(moment: datetime | None) -> datetime | None:
    """A bound within the dates tantivy stores (1677..2262)."""
    if moment is None:
        return None
    return min(max(moment, tantivy.MIN_DATETIME), tantivy.MAX_DATETIME)


def _count(result: tantivy.SearchResult) -> int:
    """The match count of a search made with count=True (absent from tantivy's type stubs)."""
    return int(getattr(result, "count", 0) or 0)


# -- the index ------------------------------------------------------------------------------------


class SearchIndex:
    """One tenant's index in one folder. Searches may run from several threads at once; writes
    (upsert, delete, commit, close) come from one caller at a time and are serialized by a lock."""

    def __init__(self, index: tantivy.Index, path: Path) -> None:
        self._index = index
        self._path = path
        self._schema = index.schema
        self._writer: tantivy.IndexWriter | None = None
        self._lock = threading.Lock()
        index.register_tokenizer(TEXT_TOKENIZER, _analyzer())
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
        index = tantivy.Index(_schema(), path=str(path), reuse=False)
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
                writer.add_document(_tantivy_document(doc))
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
        return int(present)

    def commit(self) -> None:
        """Publishes pending writes and reloads the searcher."""
        with self._lock:
            if self._writer is not None:
                self._writer.commit()
            self._index.reload()

    def rollback(self) -> None:
        """Drops the writes since the last commit."""
        with self._lock:
            if self._writer is not None:
                self._writer.rollback()

    def close(self) -> None:
        """Releases the writer after its merges end (uncommitted writes are dropped), so the folder
        is a complete snapshot to copy. The index stays searchable."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.rollback()
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
        stored document is read: about 15-25 ms for 10,000 documents, 0.3 s for 100,000."""
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
        hidden = self._hidden(query.hidden_fields)
        parsed = self._parse(query.text, hidden)
        filters = self._filters(query, hidden)
        kinds = [self._any_of("kind", query.kinds)] if query.kinds else []
        base = parsed.query if parsed.query is not None else tantivy.Query.all_query()
        searcher = self._index.searcher()
        # One full pass counts per kind; the total follows from it (a document has one kind), so the
        # top-k search needs no count of its own.
        try:
            facets, unkinded = self._facets(searcher, self._combine(base, filters))
        except ValueError as error:  # a query tantivy parsed but cannot run
            raise QuerySyntaxError("the query cannot be run") from error
        if query.kinds:
            total = sum(facets.get(kind, 0) for kind in set(query.kinds))
        else:
            total = sum(facets.values()) + unkinded
        if query.offset >= total:
            return SearchPage((), total, facets)
        main = self._combine(base, filters + kinds)
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
        highlighter = _Highlighter(parsed, hidden) if parsed.ranked else None
        hits: list[Hit] = []
        for key, address in found.hits:
            doc = self._stored(searcher, address)
            score = float(key) if parsed.ranked else 0.0
            highlights = highlighter.highlights(doc) if highlighter is not None else ()
            hits.append(Hit(str(doc["id"]), str(doc.get("kind") or ""), score, doc, highlights))
        return SearchPage(tuple(hits), total, facets)

    @staticmethod
    def _hidden(names: Iterable[str]) -> frozenset[str]:
        hidden: set[str] = set()
        for name in names:
            hidden.add(name)
            hidden.update(_ALIASES.get(name, ()))
        return frozenset(hidden)

    def _parse(self, text: str, hidden: frozenset[str]) -> _Parsed:
        text = text.strip()
        if not text:
            return _Parsed(None, False, {}, {})
        if len(text) > MAX_QUERY_CHARS:
            raise QuerySyntaxError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        try:
            ast = tantivy.parse_query(text)
        except ValueError as error:
            raise QuerySyntaxError("the query cannot be parsed") from error
        tree = _Ast().walk(ast)
        for named in sorted(tree.fields):
            if named in hidden or named not in _QUERY_FIELDS:
                raise QuerySyntaxError(f"the field {named!r} cannot be searched")
        if tree.exists_fields - _FAST_FIELDS:
            raise QuerySyntaxError("`field:*` only works on kind, updated_at and version")
        if not tree.has_words():
            raise QuerySyntaxError("the query has no words to search for")
        browse = _browses(ast)
        if browse and not tree.literals and tree.others == {"all"}:
            return _Parsed(None, False, {}, {})  # `*`: everything
        fields = [name for name in SEARCHABLE_FIELDS if name not in hidden]
        boosts = {name: FIELD_BOOSTS[name] for name in fields}
        try:
            parsed = self._index.parse_query(
                f"* {text}" if browse else text,
                default_field_names=fields,
                field_boosts=boosts,
                conjunction_by_default=CONJUNCTION_BY_DEFAULT,
            )
        except ValueError as error:
            raise QuerySyntaxError("the query cannot be parsed") from error
        if browse:
            return _Parsed(parsed, False, {}, {})
        if TITLE_ALL_TERMS_BOOST and "title" not in hidden and len(tree.literals) > 1:
            parsed = self._with_title_bonus(parsed, text)
        terms, prefixes = tree.positive_terms()
        parsed = self._with_word_prefixes(parsed, tree, text, fields)
        return _Parsed(parsed, True, terms, prefixes)

    def _with_word_prefixes(
        self, parsed: tantivy.Query, tree: _Ast, text: str, fields: list[str]
    ) -> tantivy.Query:
        """tantivy's parser expands the last word of a phrase prefix (`"lab res"*`) but reads a
        lone `word*` as the exact term `word`. Each lone prefix of an any-of query (no `+`, `-`,
        AND, NOT: every clause optional) also matches, through a regex over the analyzed terms, the
        words of the default fields (or its field) that start with it, at a third of the weight."""
        if re.search(r"(^|\s)[+-]|\b(AND|NOT)\b", text):
            return parsed
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for node, negated in tree.literals:
            words = analyze(str(node.get("phrase") or ""))
            if negated or not _bare_prefix(node) or len(words) != 1:
                continue
            targets = [str(node["field_name"])] if node.get("field_name") else fields
            pattern = re.escape(words[0]) + ".*"
            for name in targets:
                if name in _PREFIX_FIELDS:
                    regex = tantivy.Query.regex_query(self._schema, name, pattern)
                    boost = FIELD_BOOSTS.get(name, 1.0) / 3
                    clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(regex, boost)))
        if not clauses:
            return parsed
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, parsed), *clauses])

    def _with_title_bonus(self, parsed: tantivy.Query, text: str) -> tantivy.Query:
        """`parsed`, plus a bonus for documents whose title holds every word of the query."""
        try:
            whole_title = self._index.parse_query(
                text, default_field_names=["title"], conjunction_by_default=True
            )
        except ValueError:  # the query parsed with the default fields; without the bonus then
            return parsed
        bonus = tantivy.Query.boost_query(whole_title, TITLE_ALL_TERMS_BOOST)
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, parsed), (tantivy.Occur.Should, bonus)])

    def _any_of(self, name: str, values: Iterable[str]) -> tantivy.Query:
        """Documents whose keyword `name` is one of `values`, scoring nothing (term queries: they
        intersect with the text query through skip lists, where a term set query reads every
        matching posting first)."""
        terms = [tantivy.Query.term_query(self._schema, name, value) for value in sorted(set(values))]
        either = (
            terms[0]
            if len(terms) == 1
            else tantivy.Query.boolean_query([(tantivy.Occur.Should, t) for t in terms])
        )
        return self._const(either)

    @staticmethod
    def _const(query: tantivy.Query) -> tantivy.Query:
        return tantivy.Query.const_score_query(query, 0.0)

    @staticmethod
    def _combine(base: tantivy.Query, filters: Sequence[tantivy.Query]) -> tantivy.Query:
        if not filters:
            return base
        clauses = [(tantivy.Occur.Must, base)] + [(tantivy.Occur.Must, f) for f in filters]
        return tantivy.Query.boolean_query(clauses)

    def _filters(self, query: SearchQuery, hidden: frozenset[str]) -> list[tantivy.Query]:
        schema = self._schema
        if query.tags and "tags_raw" in hidden:
            raise QuerySyntaxError("the field 'tags' cannot be searched")
        if query.owner and "owner_raw" in hidden:
            raise QuerySyntaxError("the field 'owner' cannot be searched")
        filters = [self._const(tantivy.Query.term_query(schema, "tags_raw", tag)) for tag in query.tags]
        if query.owner:
            filters.append(self._const(tantivy.Query.term_query(schema, "owner_raw", query.owner)))
        if query.license_tags:
            filters.append(self._any_of("license_tag", query.license_tags))
        if query.statuses:
            filters.append(self._any_of("governance_status", query.statuses))
        if query.updated_from is not None or query.updated_to is not None:
            lower = _clamp(_instant(query.updated_from))
            upper = _clamp(_instant(query.updated_to))
            filters.append(
                tantivy.Query.range_query(
                    schema,
                    "updated_at",
                    tantivy.FieldType.Date,
                    lower_bound=lower,
                    upper_bound=upper,
                    include_lower=True,
                    include_upper=upper is None,
                )
            )
        return filters

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


class _Highlighter:
    """Highlights of one query's hits, built from the stored values with the index's own analysis:
    words are the tokenizer's runs of letters or digits (found with the same pattern in Python, so
    offsets are characters), each analyzed by the index's analyzer (cached per word), and a word is
    highlighted when it is a positive query term of the field or starts with a prefix term. This is
    what tantivy's SnippetGenerator does, at a fraction of its cost: it re-tokenizes every field with
    the regex tokenizer, about 100 us per hit.

    In ASCII text only the words that start like a term are analyzed (English stems keep a word's
    first letters, so `term[:-1]` starts every word that analyzes to `term`; irregular forms such as
    "dying" -> "die" are missed); other text is analyzed word by word. Title and tags are shown
    whole, the other fields as the window of `_FRAGMENT_CHARS` holding the most matches."""

    def __init__(self, parsed: _Parsed, hidden: frozenset[str]) -> None:
        self._terms: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {}
        self._starts: dict[str, tuple[str, ...]] = {}
        self._candidates: dict[str, re.Pattern[str]] = {}
        for name in HIGHLIGHT_FIELDS + MASKABLE_HIGHLIGHT_FIELDS:
            terms = parsed.terms.get(None, set()) | parsed.terms.get(name, set())
            prefixes = parsed.prefixes.get(None, set()) | parsed.prefixes.get(name, set())
            if name in hidden or not terms | prefixes:
                continue
            starts = {term[:-1] if len(term) > 3 else term for term in terms} | prefixes
            self._terms[name] = (frozenset(terms), tuple(sorted(prefixes)))
            self._starts[name] = tuple(sorted(starts))
            self._candidates[name] = _candidates(starts)

    def highlights(self, doc: Mapping[str, Any]) -> tuple[Highlight, ...]:
        out: list[Highlight] = []
        for name in self._terms:
            value = doc.get(name)
            if name == "tags":
                out.extend(self._tags([tag for tag in value or () if isinstance(tag, str)]))
            elif isinstance(value, str) and value:
                text = value[:HIGHLIGHT_SCAN_CHARS]
                if spans := self._spans(name, text):
                    fragment, ranges = _fragment(text, spans, _FRAGMENT_CHARS[name])
                    out.append(Highlight(name, fragment, ranges))
        return tuple(out)

    def _tags(self, tags: list[str]) -> list[Highlight]:
        """Each tag holding a term, with its own ranges (the tags are scanned joined by spaces)."""
        joined = " ".join(tags)
        spans = self._spans("tags", joined)
        out: list[Highlight] = []
        start = 0
        for tag in tags:
            end = start + len(tag)
            ranges = tuple((a - start, b - start) for a, b in spans if start <= a and b <= end)
            if ranges:
                out.append(Highlight("tags", tag, ranges))
            start = end + 1
        return out

    def _spans(self, name: str, text: str) -> list[tuple[int, int]]:
        terms, prefixes = self._terms[name]
        if text.isascii():  # lowercasing keeps offsets; only words starting like a term are analyzed
            text = text.lower()
            if not any(start in text for start in self._starts[name]):
                return []
            words = self._candidates[name]
        else:
            words = _WORD
        spans: list[tuple[int, int]] = []
        for match in words.finditer(text):
            term = _term_of(match.group())
            if term and (term in terms or (prefixes and term.startswith(prefixes))):
                spans.append(match.span())
        return spans


def _candidates(starts: Iterable[str]) -> re.Pattern[str]:
    """The words (runs of letters, runs of digits) of lowercased ASCII text that begin with one of
    `starts`."""
    starts = set(starts)
    letters = sorted((re.escape(s) for s in starts if not s.isdigit()), key=len, reverse=True)
    digits = sorted((re.escape(s) for s in starts if s.isdigit()), key=len, reverse=True)
    patterns = []
    if letters:
        patterns.append(rf"(?<![^\W\d_])(?:{'|'.join(letters)})[^\W\d_]*")
    if digits:
        patterns.append(rf"(?<!\d)(?:{'|'.join(digits)})\d*")
    return re.compile("|".join(patterns))


_WORD = re.compile(r"[^\W\d_]+|\d+")  # the pattern of the index's tokenizer (see _analyzer)
_TERMS: dict[str, str] = {}  # word -> its term ("" when the analyzer drops it); bounded below
_TERMS_MAX = 200_000


def _term_of(word: str) -> str:
    term = _TERMS.get(word)
    if term is None:
        analyzed = _ANALYZER.analyze(word)
        term = analyzed[0] if len(analyzed) == 1 else ""
        if len(_TERMS) >= _TERMS_MAX:
            _TERMS.clear()
        _TERMS[word] = term
    return term


def _fragment(
    text: str, spans: Sequence[tuple[int, int]], size: int
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The text itself when it fits in `size` characters, else the window of about `size` that
    holds the most matched spans (cut at spaces), with the spans it holds moved into it."""
    if len(text) <= size:
        return text, tuple(spans)
    best, most, last = 0, 0, 0
    for first, (start, _) in enumerate(spans):
        last = max(last, first)
        while last < len(spans) and spans[last][1] - start <= size:
            last += 1
        if last - first > most:
            best, most = first, last - first
    anchor = spans[best][0]
    start = max(0, min(anchor - size // 5, len(text) - size))
    if start > 0:
        space = text.find(" ", start, anchor)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + size)
    if end < len(text):
        space = text.rfind(" ", spans[best + most - 1][1], end)
        end = space if space >= 0 else end
    inside = tuple((a - start, b - start) for a, b in spans if a >= start and b <= end)
    return text[start:end], inside
