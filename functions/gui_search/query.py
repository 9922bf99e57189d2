"""Search queries: what a caller asks (`SearchQuery`), how its text is parsed and checked, and the
ranking and filter clauses it becomes.

- Query text follows tantivy's syntax: `AND`/`OR`/`NOT`, `+must`, `-exclude`, `"phrases"`,
  `"phrase pre"*`, `field:word`, `word^2`, `version:>3`, `kind:*`. A query that does not parse, holds
  no words (`"`, `(`, `AND`, `title:`, `!!!`), names an unknown field or is longer than
  `MAX_QUERY_CHARS` raises `QuerySyntaxError` (400 `invalid_query`).
- Ranking is BM25 over the searchable fields with the boosts of `FIELD_BOOSTS`, a bonus
  (`TITLE_ALL_TERMS_BOOST`) when the title holds every query word, and deprecated artifacts scored
  lower (`gui_search.index.CURRENT_RANK`); all chosen by nDCG@10 on
  tests/fixtures/search_judgements.json. Words are OR'ed (`AND` and `+word` when needed).
- Hidden fields (license masking) are left out of the default fields; a query that names one
  (`source_text:foo`, `-licensing_notes:x`, `source_text:*`) raises `QuerySyntaxError` with the
  message an unknown field gets, so nothing of its content leaks; so does a tags or owner filter
  when that field is hidden.
- Empty query text (or `*`, or a query of exclusions only such as `-draft`) browses: every document
  within the filters, newest first, unranked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import tantivy

from gui_core.errors import ValidationFailed
from gui_search.analysis import FAST_FIELDS, KEYWORD_FIELDS, SEARCHABLE_FIELDS, analyze
from gui_search.documents import instant
from gui_search.models import MAX_QUERY_CHARS

FIELD_BOOSTS: Mapping[str, float] = {
    "title": 4.0,
    "tags": 2.0,
    "summary": 1.0,
    "owner": 0.5,
    "licensing_notes": 0.5,
    "source_text": 0.5,
}
CONJUNCTION_BY_DEFAULT = False  # AND-ing the words lost recall: nDCG@10 0.82 against 0.94
TITLE_ALL_TERMS_BOOST = 1.0
MAX_LIMIT = 100
MAX_OFFSET = 10_000

_PREFIX_FIELDS = frozenset(SEARCHABLE_FIELDS)  # text fields a lone `word*` expands over
_QUERY_FIELDS = frozenset(SEARCHABLE_FIELDS + KEYWORD_FIELDS + ("updated_at", "version"))
# A field the caller may not see also hides the keyword twin that filters on it.
_ALIASES: Mapping[str, tuple[str, ...]] = {"tags": ("tags_raw",), "owner": ("owner_raw",)}


class QuerySyntaxError(ValidationFailed):
    status, code, title = 400, "invalid_query", "The search query is not valid"


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
class ParsedQuery:
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
            if (name in KEYWORD_FIELDS and phrase) or analyze(phrase):
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


def unqueryable_fields(names: Iterable[str]) -> frozenset[str]:
    """The index fields a caller who may not see `names` may not query (keyword twins included)."""
    hidden: set[str] = set()
    for name in names:
        hidden.add(name)
        hidden.update(_ALIASES.get(name, ()))
    return frozenset(hidden)


def parse(index: tantivy.Index, text: str, hidden: frozenset[str]) -> ParsedQuery:
    """The query `text` makes on `index` for a caller who may not query `hidden`;
    QuerySyntaxError when it cannot be parsed, names a field it may not, or holds no words."""
    text = text.strip()
    if not text:
        return ParsedQuery(None, False, {}, {})
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
    if tree.exists_fields - FAST_FIELDS:
        raise QuerySyntaxError("`field:*` only works on kind, updated_at and version")
    if not tree.has_words():
        raise QuerySyntaxError("the query has no words to search for")
    browse = _browses(ast)
    if browse and not tree.literals and tree.others == {"all"}:
        return ParsedQuery(None, False, {}, {})  # `*`: everything
    fields = [name for name in SEARCHABLE_FIELDS if name not in hidden]
    boosts = {name: FIELD_BOOSTS[name] for name in fields}
    try:
        parsed = index.parse_query(
            f"* {text}" if browse else text,
            default_field_names=fields,
            field_boosts=boosts,
            conjunction_by_default=CONJUNCTION_BY_DEFAULT,
        )
    except ValueError as error:
        raise QuerySyntaxError("the query cannot be parsed") from error
    if browse:
        return ParsedQuery(parsed, False, {}, {})
    if TITLE_ALL_TERMS_BOOST and "title" not in hidden and len(tree.literals) > 1:
        parsed = _with_title_bonus(index, parsed, text)
    terms, prefixes = tree.positive_terms()
    parsed = _with_word_prefixes(index.schema, parsed, tree, text, fields)
    return ParsedQuery(parsed, True, terms, prefixes)


def _with_word_prefixes(
    schema: tantivy.Schema, parsed: tantivy.Query, tree: _Ast, text: str, fields: list[str]
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
                regex = tantivy.Query.regex_query(schema, name, pattern)
                boost = FIELD_BOOSTS.get(name, 1.0) / 3
                clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(regex, boost)))
    if not clauses:
        return parsed
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, parsed), *clauses])


def _with_title_bonus(index: tantivy.Index, parsed: tantivy.Query, text: str) -> tantivy.Query:
    """`parsed`, plus a bonus for documents whose title holds every word of the query."""
    try:
        whole_title = index.parse_query(text, default_field_names=["title"], conjunction_by_default=True)
    except ValueError:  # the query parsed with the default fields; without the bonus then
        return parsed
    bonus = tantivy.Query.boost_query(whole_title, TITLE_ALL_TERMS_BOOST)
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, parsed), (tantivy.Occur.Should, bonus)])


def _const(query: tantivy.Query) -> tantivy.Query:
    return tantivy.Query.const_score_query(query, 0.0)


def any_of(schema: tantivy.Schema, name: str, values: Iterable[str]) -> tantivy.Query:
    """Documents whose keyword `name` is one of `values`, scoring nothing (term queries: they
    intersect with the text query through skip lists, where a term set query reads every
    matching posting first)."""
    terms = [tantivy.Query.term_query(schema, name, value) for value in sorted(set(values))]
    either = (
        terms[0]
        if len(terms) == 1
        else tantivy.Query.boolean_query([(tantivy.Occur.Should, t) for t in terms])
    )
    return _const(either)


def combine(base: tantivy.Query, filters: list[tantivy.Query]) -> tantivy.Query:
    """`base` restricted to the documents every one of `filters` matches."""
    if not filters:
        return base
    clauses = [(tantivy.Occur.Must, base)] + [(tantivy.Occur.Must, f) for f in filters]
    return tantivy.Query.boolean_query(clauses)


def filters(schema: tantivy.Schema, query: SearchQuery, hidden: frozenset[str]) -> list[tantivy.Query]:
    """The clauses of `query`'s filters other than kinds (tags, owner, licenses, statuses, dates)."""
    if query.tags and "tags_raw" in hidden:
        raise QuerySyntaxError("the field 'tags' cannot be searched")
    if query.owner and "owner_raw" in hidden:
        raise QuerySyntaxError("the field 'owner' cannot be searched")
    clauses = [_const(tantivy.Query.term_query(schema, "tags_raw", tag)) for tag in query.tags]
    if query.owner:
        clauses.append(_const(tantivy.Query.term_query(schema, "owner_raw", query.owner)))
    if query.license_tags:
        clauses.append(any_of(schema, "license_tag", query.license_tags))
    if query.statuses:
        clauses.append(any_of(schema, "governance_status", query.statuses))
    if query.updated_from is not None or query.updated_to is not None:
        lower = _clamp(instant(query.updated_from))
        upper = _clamp(instant(query.updated_to))
        clauses.append(
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
    return clauses
