"""The search index over the fixture corpus (150 artifacts): ranking quality against labelled
judgements (nDCG@10 and expected top hits), filters, facets, pagination, highlights, hidden fields,
query errors, and the index's write and read life cycle."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gui_search.analysis import analyze
from gui_search.documents import ARTIFACT_KINDS, document_of
from gui_search.highlights import HIGHLIGHT_FIELDS
from gui_search.index import SearchIndex, SearchPage
from gui_search.query import QuerySyntaxError, SearchQuery

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORPUS: list[dict[str, Any]] = json.loads((FIXTURES / "search_corpus.json").read_text())
JUDGEMENTS: list[dict[str, Any]] = json.loads((FIXTURES / "search_judgements.json").read_text())
DOCS: dict[str, dict[str, Any]] = {doc["id"]: doc for doc in map(document_of, CORPUS)}

# Measured: mean nDCG@10 0.954 over 32 queries (title 4, tags 2, summary 1, others 0.5; deprecated
# documents demoted; a bonus when the title holds every query term).
NDCG_THRESHOLD = 0.90
# Known misses of the expected top hit, each for a reason ranking cannot see:
ALLOWED_TOP_MISSES = {
    # The German overlay's title is German ("Deutsche Anzeigenamen"); only its tag says "german",
    # while the Spanish overlay's title holds "display names".
    "german display names",
    # Both the map and the coverage report are graded 3; the coverage report's title holds all
    # three words too and is the shorter document.
    "nursing diagnoses snomed",
}
TEXT_FIELDS = ("title", "summary", "tags", "owner", "licensing_notes", "source_text")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchIndex]:
    built = SearchIndex.create(tmp_path_factory.mktemp("search") / "index")
    assert built.upsert(CORPUS) == len(CORPUS)
    built.commit()
    yield built
    built.close()


@pytest.fixture
def fresh(tmp_path: Path) -> SearchIndex:
    """An index of the corpus a test may change."""
    built = SearchIndex.create(tmp_path / "index")
    built.upsert(CORPUS)
    built.commit()
    return built


def query_of(text: str, filters: dict[str, Any] | None = None, **extra: Any) -> SearchQuery:
    args: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in (filters or {}).items()}
    return SearchQuery(text=text, **args, **extra)


def every_id(index: SearchIndex, query: SearchQuery) -> list[str]:
    """All matching ids in rank order, read in pages of 100."""
    ids: list[str] = []
    offset = 0
    while True:
        page = index.search(SearchQuery(**{**query.__dict__, "limit": 100, "offset": offset}))
        ids.extend(h.id for h in page.hits)
        offset += 100
        if offset >= page.total:
            return ids


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    def gain(grade: int, position: int) -> float:
        return float(2**grade - 1) / math.log2(position + 2)

    dcg = sum(gain(relevant.get(i, 0), n) for n, i in enumerate(ranked[:10]))
    idcg = sum(gain(grade, n) for n, grade in enumerate(sorted(relevant.values(), reverse=True)[:10]))
    return dcg / idcg


def words_of(doc: dict[str, Any], fields: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for name in fields:
        value = doc.get(name)
        for text in value if isinstance(value, list) else [value] if value else []:
            out.update(analyze(text))
    return out


# -- ranking -----------------------------------------------------------------------------------------


def test_mean_ndcg_at_10_meets_the_threshold_and_expected_tops_lead(index: SearchIndex) -> None:
    # The judgements are of this corpus, every kind in it, and each expected top is its query's best.
    assert len(DOCS) == len(CORPUS) >= 150
    assert set(Counter(d["kind"] for d in DOCS.values())) == set(ARTIFACT_KINDS)
    assert len(JUDGEMENTS) >= 25
    for judgement in JUDGEMENTS:
        assert set(judgement["relevant"]) <= set(DOCS), judgement["query"]
        assert judgement["relevant"][judgement["expected_top"]] == max(judgement["relevant"].values())
    scores: dict[str, float] = {}
    misses: dict[str, list[str]] = {}
    for judgement in JUDGEMENTS:
        ranked = [
            h.id for h in index.search(query_of(judgement["query"], judgement.get("filters"), limit=10)).hits
        ]
        scores[judgement["query"]] = ndcg_at_10(ranked, judgement["relevant"])
        if not ranked or ranked[0] != judgement["expected_top"]:
            misses[judgement["query"]] = ranked[:3]
    mean = sum(scores.values()) / len(scores)
    worst = sorted(scores.items(), key=lambda item: item[1])[:5]
    assert mean >= NDCG_THRESHOLD, f"mean nDCG@10 {mean:.3f}; worst {worst}"
    assert set(misses) <= ALLOWED_TOP_MISSES, f"unexpected top misses: {misses}"


# -- filters and facets ------------------------------------------------------------------------------


def in_range(doc: dict[str, Any], start: datetime | None, end: datetime | None) -> bool:
    stamp = doc["updated_at"] or doc["published_at"] or doc["created_at"]
    if stamp is None:
        return False
    moment = datetime.fromisoformat(stamp)
    return (start is None or moment >= start) and (end is None or moment < end)


FILTERS: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ("kinds", {"kinds": ("mapping", "coverage")}, lambda d: d["kind"] in {"mapping", "coverage"}),
    ("tags (all of)", {"tags": ("snomed", "icd10cm")}, lambda d: {"snomed", "icd10cm"} <= set(d["tags"])),
    ("owner", {"owner": "ada@acme"}, lambda d: d["owner"] == "ada@acme"),
    (
        "license tags (any of)",
        {"license_tags": ("UMLS-license", "open")},
        lambda d: d["license_tag"] in {"UMLS-license", "open"},
    ),
    (
        "statuses (any of)",
        {"statuses": ("draft", "blocked")},
        lambda d: d["governance_status"] in {"draft", "blocked"},
    ),
    (
        "updated range",
        {"updated_from": datetime(2026, 4, 1, tzinfo=UTC), "updated_to": datetime(2026, 8, 1, tzinfo=UTC)},
        lambda d: in_range(d, datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)),
    ),
    (
        "several at once",
        {"kinds": ("mapping",), "license_tags": ("SNOMED-affiliate",), "statuses": ("approved",)},
        lambda d: (
            d["kind"] == "mapping"
            and d["license_tag"] == "SNOMED-affiliate"
            and d["governance_status"] == "approved"
        ),
    ),
]


@pytest.mark.parametrize(("name", "filters", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
@pytest.mark.parametrize("text", ["", "snomed", "coverage OR map"])
def test_filters_return_exactly_the_matching_documents(
    index: SearchIndex, name: str, filters: dict[str, Any], keep: Callable[[dict[str, Any]], bool], text: str
) -> None:
    unfiltered = every_id(index, SearchQuery(text=text))
    expected = {i for i in unfiltered if keep(DOCS[i])}
    assert expected, f"{name}: the case must select something"
    assert len(expected) < len(unfiltered), f"{name}: the case must leave something out"
    page = index.search(SearchQuery(text=text, limit=100, **filters))
    assert {h.id for h in page.hits} == expected
    assert page.total == len(expected)
    if text:  # filters do not change the ranking of what they keep
        assert [h.id for h in page.hits] == [i for i in unfiltered if i in expected]


@pytest.mark.parametrize("text", ["", "icd10 snomed map", "labs", "-snomed"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"statuses": ("approved",)},
        {"license_tags": ("SNOMED-affiliate", "LOINC-terms")},
        {"kinds": ("mapping",)},
    ],
)
def test_facets_count_each_kind_with_every_filter_but_kinds(
    index: SearchIndex, text: str, filters: dict[str, Any]
) -> None:
    without_kinds = {k: v for k, v in filters.items() if k != "kinds"}
    matching = every_id(index, SearchQuery(text=text, **without_kinds))
    expected = Counter(DOCS[i]["kind"] for i in matching)
    page = index.search(SearchQuery(text=text, **filters))
    assert page.facets == {kind: expected.get(kind, 0) for kind in ARTIFACT_KINDS}
    kinds = filters.get("kinds")
    assert page.total == (sum(expected[k] for k in kinds) if kinds else len(matching))


def test_date_bounds_are_inclusive_from_and_exclusive_to(index: SearchIndex) -> None:
    doc = DOCS["map-icd10cm-snomed"]
    moment = datetime.fromisoformat(doc["updated_at"])
    assert doc["id"] in every_id(index, SearchQuery(text="", updated_from=moment))
    assert doc["id"] not in every_id(index, SearchQuery(text="", updated_to=moment))
    only = index.search(
        SearchQuery(text="snomed", updated_from=moment, updated_to=moment.replace(microsecond=999))
    )
    assert [h.id for h in only.hits] == [doc["id"]]


def test_published_only_documents_are_dated_by_published_at(index: SearchIndex) -> None:
    doc = DOCS["ing-icd10cm-addenda-2026-04"]
    assert doc["updated_at"] is None
    moment = datetime.fromisoformat(doc["published_at"])
    page = index.search(
        SearchQuery(text="addenda", updated_from=moment, updated_to=moment.replace(microsecond=1000))
    )
    assert [h.id for h in page.hits] == [doc["id"]]


def test_browse_orders_by_update_newest_first(index: SearchIndex) -> None:
    ids = every_id(index, SearchQuery(text="", kinds=("readiness",)))
    stamps = [DOCS[i]["updated_at"] for i in ids]
    assert stamps == sorted(stamps, reverse=True)
    assert len(ids) == sum(1 for d in DOCS.values() if d["kind"] == "readiness")


# -- pagination --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "snomed OR loinc", "map"])
def test_pages_of_seven_cover_the_result_once_in_a_stable_order(index: SearchIndex, text: str) -> None:
    whole = every_id(index, SearchQuery(text=text))  # pages of 100
    total = index.search(SearchQuery(text=text)).total
    assert len(whole) == total > 7
    paged: list[str] = []
    for offset in range(0, total + 7, 7):
        page = index.search(SearchQuery(text=text, limit=7, offset=offset))
        assert page.total == total
        assert len(page.hits) == min(7, max(0, total - offset))
        paged.extend(h.id for h in page.hits)
    assert paged == whole
    assert len(set(paged)) == len(paged) == total
    again = index.search(SearchQuery(text=text, limit=7, offset=14))
    assert [h.id for h in again.hits] == paged[14:21]


# -- highlights --------------------------------------------------------------------------------------

HIGHLIGHT_QUERIES = [
    "icd10 snomed map",
    "heart failure coverage gaps",
    "Größe",
    '"adverse event" seriousness',
    "rare disease phenotype",
    "title:readiness oncology",
    "mappings",
    "LOINC -deprecated",
    "sepsis bundle value set",
    "CPT license",
]


def terms_by_field(text: str) -> dict[str | None, set[str]]:
    """The analyzed words of a query by the field they name (None: the default fields), without
    operators and exclusions; enough for the queries of these tests."""
    out: dict[str | None, set[str]] = {}
    for token in text.replace('"', " ").split():
        if token.startswith("-") or token in {"AND", "OR", "NOT"}:
            continue
        name, _, word = token.rpartition(":")
        out.setdefault(name or None, set()).update(analyze(word))
    return out


def query_terms(text: str) -> set[str]:
    return set().union(*terms_by_field(text).values())


@pytest.mark.parametrize("text", HIGHLIGHT_QUERIES)
def test_every_highlighted_range_is_a_query_term(index: SearchIndex, text: str) -> None:
    terms = query_terms(text)
    page = index.search(SearchQuery(text=text, limit=20))
    assert page.hits
    ranges = 0
    for hit in page.hits:
        for highlight in hit.highlights:
            assert highlight.text in hit.document[highlight.field]  # a tag, or a fragment of the value
            for start, end in highlight.ranges:
                assert 0 <= start < end <= len(highlight.text)
                words = analyze(highlight.text[start:end])
                assert words, (hit.id, highlight)
                assert set(words) <= terms, (hit.id, highlight)
                ranges += 1
    assert ranges > 0


@pytest.mark.parametrize("text", HIGHLIGHT_QUERIES)
def test_every_query_term_a_short_field_holds_is_highlighted(index: SearchIndex, text: str) -> None:
    """Title, summary and tags (the corpus' summaries fit one fragment) show every term they hold."""
    by_field = terms_by_field(text)
    checked = 0
    for hit in index.search(SearchQuery(text=text, limit=20)).hits:
        held: set[str] = set()
        for name, terms in by_field.items():
            held |= words_of(hit.document, (name,) if name else HIGHLIGHT_FIELDS) & terms
        shown: set[str] = set()
        for highlight in hit.highlights:
            for start, end in highlight.ranges:
                shown.update(analyze(highlight.text[start:end]))
        assert held <= shown, (hit.id, held - shown)
        checked += bool(held)  # a hit may match on owner or licensing notes alone
    assert checked > 0


def test_a_title_only_match_is_highlighted(index: SearchIndex) -> None:
    hit = index.search(SearchQuery(text="Kodierassistent")).hits[0]
    assert [(h.field, h.text, h.ranges) for h in hit.highlights] == [
        ("title", "ICD-10-GM Kodierassistent Prompt-Paket", ((10, 25),))
    ]


def test_a_prefix_phrase_is_highlighted_from_the_stored_title(index: SearchIndex) -> None:
    page = index.search(SearchQuery(text='title:"snomed ct inter"*'))
    assert page.hits
    for hit in page.hits:
        title = next(h for h in hit.highlights if h.field == "title")
        shown = [title.text[a:b].lower() for a, b in title.ranges]
        assert "international" in shown, (hit.id, shown)


# -- hidden fields -----------------------------------------------------------------------------------

HIDDEN = frozenset({"licensing_notes", "source_text"})


def only_in(field_name: str, word: str) -> list[str]:
    """Ids of documents where `word` occurs in `field_name` and in no other text field."""
    term = analyze(word)[0]
    return [
        i
        for i, doc in DOCS.items()
        if term in words_of(doc, (field_name,))
        and term not in words_of(doc, tuple(f for f in TEXT_FIELDS if f != field_name))
    ]


@pytest.mark.parametrize(
    ("field_name", "word"), [("source_text", "bilateral"), ("licensing_notes", "territories")]
)
def test_a_hidden_field_is_never_matched_nor_highlighted(
    index: SearchIndex, field_name: str, word: str
) -> None:
    owners = set(only_in(field_name, word))
    assert owners, "the case needs documents that hold the word in that field only"
    term = analyze(word)[0]
    elsewhere = {
        i for i, d in DOCS.items() if term in words_of(d, tuple(f for f in TEXT_FIELDS if f != field_name))
    }
    visible = index.search(SearchQuery(text=word, limit=100))
    assert {h.id for h in visible.hits} == owners | elsewhere
    assert all(any(h.field == field_name for h in hit.highlights) for hit in visible.hits if hit.id in owners)
    hidden = index.search(SearchQuery(text=word, limit=100, hidden_fields=frozenset({field_name})))
    assert {h.id for h in hidden.hits} == elsewhere
    assert hidden.total == len(elsewhere)
    assert sum(hidden.facets.values()) == len(elsewhere)
    assert all(h.field != field_name for hit in hidden.hits for h in hit.highlights)


@pytest.mark.parametrize(
    "text",
    [
        "source_text:bilateral",
        "snomed AND source_text:bilateral",
        "snomed -source_text:bilateral",
        "licensing_notes:territories OR snomed",
        "source_text:*",
        'licensing_notes:"affiliate licence"',
        "source_text:[a TO z]",
        "licensing_notes: IN [territories]",
    ],
)
def test_naming_a_hidden_field_is_refused_like_an_unknown_field(index: SearchIndex, text: str) -> None:
    with pytest.raises(QuerySyntaxError) as hidden:
        index.search(SearchQuery(text=text, hidden_fields=HIDDEN))
    with pytest.raises(QuerySyntaxError) as unknown:
        index.search(
            SearchQuery(text=text.replace("source_text", "nosuch").replace("licensing_notes", "nosuch"))
        )
    assert hidden.value.detail == unknown.value.detail.replace("nosuch", hidden.value.detail.split("'")[1])


@pytest.mark.parametrize(
    "text", [*HIGHLIGHT_QUERIES, "licence", "affiliate", "rule", "verbatim", "territories"]
)
def test_with_hidden_fields_every_hit_matches_a_visible_field(index: SearchIndex, text: str) -> None:
    terms = query_terms(text)
    visible_fields = tuple(f for f in TEXT_FIELDS if f not in HIDDEN)
    page = index.search(SearchQuery(text=text, limit=100, hidden_fields=HIDDEN))
    for hit in page.hits:
        assert all(h.field not in HIDDEN for h in hit.highlights)
        if not text.startswith("title:"):
            assert words_of(hit.document, visible_fields) & terms, hit.id


def test_filters_on_hidden_fields_are_refused(index: SearchIndex) -> None:
    with pytest.raises(QuerySyntaxError):
        index.search(SearchQuery(text="", tags=("snomed",), hidden_fields=frozenset({"tags"})))
    with pytest.raises(QuerySyntaxError):
        index.search(SearchQuery(text="", owner="ada@acme", hidden_fields=frozenset({"owner"})))


# -- query errors ------------------------------------------------------------------------------------

BAD_QUERIES = [
    '"',
    "(",
    ")",
    "AND",
    "OR",
    "NOT",
    "title:",
    "a AND",
    "+",
    "-",
    "!!!",
    '""',
    "()",
    "*:*",
    "nosuch:thing",
    "doc:snomed",
    "id_version:x",
    "title:*",
    "snomed " * 100,
    "x" * 513,
]


@pytest.mark.parametrize("text", BAD_QUERIES)
def test_bad_queries_raise_query_syntax_error(index: SearchIndex, text: str) -> None:
    with pytest.raises(QuerySyntaxError):
        index.search(SearchQuery(text=text))


@pytest.mark.parametrize(
    "text",
    [
        "kind:mapping",
        "kind:*",
        "version:>3",
        "updated_at:[2026-03-01T00:00:00Z TO 2026-04-01T00:00:00Z]",
        "snomed^2 loinc",
    ],
)
def test_structured_queries_run(index: SearchIndex, text: str) -> None:
    page = index.search(SearchQuery(text=text))
    assert page.total > 0


OPERATORS = tuple(
    '" ( ) : * - + ^ ~ [ ] { } \\ ! / < > = .'.split(" ")  # noqa: SIM905 (a list literal reads worse)
)
WORDS = ("AND", "OR", "NOT", "TO", "IN", "title", "source_text", "snomed", "icd10", "Größe", "2", "'")
QUERY_ALPHABET = st.sampled_from((" ", *OPERATORS, *WORDS))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(QUERY_ALPHABET, max_size=12))
def test_any_query_text_answers_or_raises_query_syntax_error(index: SearchIndex, parts: list[str]) -> None:
    text = "".join(parts)
    for hidden in (frozenset(), HIDDEN):
        try:
            page = index.search(SearchQuery(text=text, hidden_fields=hidden))
        except QuerySyntaxError:
            continue
        assert page.total >= len(page.hits)
        assert all(h.field not in hidden for hit in page.hits for h in hit.highlights)


# -- writes and reads --------------------------------------------------------------------------------


def test_count_and_versions_match_the_corpus(index: SearchIndex) -> None:
    assert index.count() == len(DOCS)
    assert index.versions() == {i: d["version"] for i, d in DOCS.items()}


def test_get_answers_the_stored_document(index: SearchIndex) -> None:
    assert index.get("map-icd10cm-snomed") == DOCS["map-icd10cm-snomed"]
    assert index.get("pp-discharge-summarizer") == DOCS["pp-discharge-summarizer"]
    assert index.get("nope") is None


def test_upsert_replaces_without_duplicates(fresh: SearchIndex) -> None:
    record = {**CORPUS[0], "title": "Quetzalcoatl release ingestion", "version": 9}
    assert fresh.upsert([record, record]) == 2  # twice in one batch: still one document
    assert fresh.search(SearchQuery(text="quetzalcoatl")).total == 0  # not visible before commit
    fresh.commit()
    assert fresh.count() == len(DOCS)
    assert fresh.versions()[record["id"]] == 9
    assert fresh.get(record["id"])["title"] == "Quetzalcoatl release ingestion"  # type: ignore[index]
    assert [h.id for h in fresh.search(SearchQuery(text="quetzalcoatl")).hits] == [record["id"]]
    fresh.upsert([record])
    fresh.commit()
    assert fresh.count() == len(DOCS)
    assert every_id(fresh, SearchQuery(text="")).count(record["id"]) == 1
    old_words = fresh.search(SearchQuery(text="tabular", limit=100))  # from the replaced summary
    assert record["id"] in {h.id for h in old_words.hits}  # the summary was kept, only the title changed


def test_delete_removes(fresh: SearchIndex) -> None:
    gone = ["map-icd10cm-snomed", "ing-loinc-2-80"]
    assert fresh.delete([*gone, "never-indexed"]) == 2
    assert fresh.get(gone[0]) is not None  # not before commit
    fresh.commit()
    assert fresh.count() == len(DOCS) - 2
    assert all(fresh.get(i) is None for i in gone)
    assert not set(gone) & set(fresh.versions())
    assert not set(gone) & set(every_id(fresh, SearchQuery(text="snomed OR loinc")))
    assert fresh.delete(gone) == 0
    assert fresh.delete([]) == 0


def test_rollback_drops_uncommitted_writes(fresh: SearchIndex) -> None:
    fresh.upsert([{"id": "temp", "title": "Ephemeral"}])
    fresh.delete(["map-icd10cm-snomed"])
    fresh.rollback()
    fresh.commit()
    assert fresh.get("temp") is None
    assert fresh.get("map-icd10cm-snomed") is not None


def test_a_reopened_index_sees_the_committed_data(fresh: SearchIndex) -> None:
    fresh.upsert([{"id": "late", "kind": "overlay", "title": "Late overlay", "version": 4}])
    fresh.commit()
    fresh.upsert([{"id": "uncommitted", "title": "Lost"}])
    before: SearchPage = fresh.search(SearchQuery(text="snomed map", limit=10))
    fresh.close()  # uncommitted writes are dropped; the folder is complete
    again = SearchIndex.open(fresh.path)
    assert again.count() == len(DOCS) + 1
    assert again.versions()["late"] == 4
    assert again.get("uncommitted") is None
    after = again.search(SearchQuery(text="snomed map", limit=10))
    assert [(h.id, h.score) for h in after.hits] == [(h.id, h.score) for h in before.hits]
    again.upsert([{"id": "later", "title": "Written after reopening"}])  # the writer lock was released
    again.commit()
    assert again.get("later") is not None
    again.close()


def test_concurrent_searches_agree_with_sequential_ones(index: SearchIndex) -> None:
    queries = [query_of(j["query"], j.get("filters"), limit=10) for j in JUDGEMENTS]
    expected = [[h.id for h in index.search(q).hits] for q in queries]
    results: dict[int, list[list[str]]] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            results[n] = [[h.id for h in index.search(q).hits] for q in queries]
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(result == expected for result in results.values())
    assert len(results) == 6
