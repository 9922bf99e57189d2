"""The search engine's small parts: documents from odd records, the analyzer, highlights (character
offsets in non-ASCII text, windows of long fields), browsing with an empty query, and the errors a
caller sees."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gui_core.domain_events import ARTIFACT_KINDS as DOMAIN_KINDS
from gui_core.errors import ValidationFailed
from gui_search.analysis import analyze
from gui_search.documents import ARTIFACT_KINDS, document_of
from gui_search.index import SCHEMA_FILE, SearchIndex, index_files
from gui_search.query import QuerySyntaxError, SearchQuery

# -- document_of -------------------------------------------------------------------------------------


def test_a_registry_record_keeps_the_search_fields() -> None:
    record = {
        "id": "map-icd10-snomed",
        "kind": "mapping",
        "title": " ICD-10 to SNOMED CT ",
        "summary": "Maps findings.",
        "version": 2,
        "owner": "otto@acme",
        "tags": ["snomed", "icd10"],
        "license_tag": "SNOMED-affiliate",
        "governance_status": "approved",
        "licensing_notes": "affiliate licence",
        "source_uri": "s3://acme/map.parquet",
        "source_text": "rule 1",
        "created_at": "2026-10-30T08:00:00.000+00:00",
        "updated_at": "2026-11-19T16:42:05.310+00:00",
        "deprecated_at": None,
        "inputs": [{"id": "a", "relation": "derived_from"}, {"id": "b", "relation": "derived_from"}],
        "event_ids": ["e1"],
        "diff_hash": "sha256:abc",
    }
    doc = document_of(record)
    assert doc["id"] == "map-icd10-snomed"
    assert doc["title"] == "ICD-10 to SNOMED CT"
    assert doc["tags"] == ["snomed", "icd10"]
    assert doc["version"] == 2
    assert doc["updated_at"] == "2026-11-19T16:42:05.310+00:00"
    assert doc["published_at"] is None
    assert doc["deprecated"] is False
    assert doc["input_count"] == 2
    assert "event_ids" not in doc
    assert doc["diff_hash"] == "sha256:abc"


def test_an_artifact_published_detail_uses_artifact_id_and_published_at() -> None:
    doc = document_of(
        {
            "artifact_id": "ing-loinc",
            "kind": "ingestion",
            "title": "LOINC",
            "version": "3",
            "published_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
            "governance_status": "deprecated",
        }
    )
    assert doc["id"] == "ing-loinc"
    assert doc["version"] == 3
    assert doc["published_at"] == "2026-03-01T12:00:00.000+00:00"
    assert doc["updated_at"] is None
    assert doc["deprecated"] is True
    assert doc["input_count"] is None


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({}, {"id": None, "tags": [], "version": 0, "title": None, "deprecated": False}),
        ({"id": 42, "tags": "solo", "version": 2.0}, {"id": "42", "tags": ["solo"], "version": 2}),
        (
            {"id": "x", "tags": ["a", 7, None, {"b": 1}, "a", "  "], "version": True},
            {"tags": ["a", "7"], "version": 0},
        ),
        ({"id": "x", "tags": {"b", "a"}, "version": "two"}, {"tags": ["a", "b"], "version": 0}),
        ({"id": "x", "tags": 5, "version": 2**70}, {"tags": [], "version": 0}),
        (
            {"id": "x", "title": ["not", "text"], "summary": b"bytes", "owner": object()},
            {"title": None, "summary": None},
        ),
        ({"id": "x", "updated_at": "yesterday", "created_at": 12}, {"updated_at": None, "created_at": None}),
        ({"id": "x", "updated_at": "2026-05-01T10:00:00"}, {"updated_at": "2026-05-01T10:00:00.000+00:00"}),
        ({"id": "x", "updated_at": "2026-05-01T10:00:00Z"}, {"updated_at": "2026-05-01T10:00:00.000+00:00"}),
        ({"id": "x", "deprecated_at": "2026-05-01T10:00:00+02:00"}, {"deprecated": True}),
        ({"id": "", "artifact_id": "fallback"}, {"id": "fallback"}),
        ({"id": "x", "tags": ["t" * 300, "ok"]}, {"tags": ["ok"]}),
        ({"id": "x", "in_degree": "3"}, {"input_count": 3}),
    ],
)
def test_odd_values_are_coerced_or_dropped(record: dict[str, Any], expected: dict[str, Any]) -> None:
    doc = document_of(record)
    for key, value in expected.items():
        assert doc[key] == value, key
    assert json.loads(json.dumps(doc)) == doc  # always JSON-serializable


def test_document_of_is_idempotent() -> None:
    records: list[dict[str, Any]] = [
        {"id": "a", "inputs": [{"id": "x"}], "deprecated_at": "2026-01-01T00:00:00Z", "tags": {"b", "a"}},
        {"artifact_id": "b", "in_degree": 2, "version": "4", "diff_hash": "sha256:abc", "replaced_by": "c"},
        {"id": "c", "governance_status": "deprecated", "published_at": "2026-02-01T10:00:00+02:00"},
        {},
    ]
    for record in records:
        once = document_of(record)
        assert document_of(once) == once


def test_public_registry_fields_are_kept_for_indexers() -> None:
    doc = document_of(
        {"id": "a", "diff_hash": "sha256:abc", "previous_diff_hash": "sha256:0", "event_ids": ["e"]}
    )
    assert (doc["diff_hash"], doc["previous_diff_hash"]) == ("sha256:abc", "sha256:0")
    assert "event_ids" not in doc
    assert "revision" not in doc


def test_a_non_mapping_record_gives_an_empty_document() -> None:
    doc = document_of(["not", "a", "mapping"])  # type: ignore[arg-type]
    assert doc["id"] is None
    assert doc["tags"] == []


# -- offsets and analysis -----------------------------------------------------------------------------


def test_the_analyzer_splits_letters_from_digits_folds_and_stems() -> None:
    assert analyze("ICD-10") == analyze("icd10") == analyze("icd 10") == ["icd", "10"]
    assert analyze("Café") == analyze("cafe")
    assert analyze("mappings") == analyze("mapping") == ["map"]


def test_the_kinds_are_the_domain_kinds() -> None:
    assert set(ARTIFACT_KINDS) == set(DOMAIN_KINDS)


# -- a small index ------------------------------------------------------------------------------------

DOCS: list[dict[str, Any]] = [
    {
        "id": "de-1",
        "kind": "overlay",
        "title": "Größe und Café",
        "summary": "Die Größe des Cafés ist groß; Körpergröße wird gemessen.",
        "tags": ["größe", "deutsch"],
        "owner": "lena@acme",
        "governance_status": "approved",
        "updated_at": "2026-03-01T00:00:00Z",
    },
    {
        "id": "en-1",
        "kind": "mapping",
        "title": "Coffee shop sizes",
        "summary": "Cafe sizes in English.",
        "tags": ["english"],
        "owner": "otto@acme",
        "governance_status": "draft",
        "updated_at": "2026-05-01T00:00:00Z",
    },
    {
        "id": "old-1",
        "kind": "mapping",
        "title": "Old map",
        "summary": "No date at all.",
        "tags": [],
        "owner": "otto@acme",
        "governance_status": "deprecated",
    },
]


@pytest.fixture
def small(tmp_path: Path) -> SearchIndex:
    index = SearchIndex.create(tmp_path / "index")
    index.upsert(DOCS)
    index.commit()
    return index


def test_highlights_of_non_ascii_text_are_character_offsets(small: SearchIndex) -> None:
    page = small.search(SearchQuery(text="Größe Café"))
    hit = next(h for h in page.hits if h.id == "de-1")
    fields = {h.field for h in hit.highlights}
    assert {"title", "summary", "tags"} <= fields
    for highlight in hit.highlights:
        assert highlight.ranges
        for start, end in highlight.ranges:
            assert analyze(highlight.text[start:end])[0] in {"gross", "cafe"}
    title = next(h for h in hit.highlights if h.field == "title")
    assert title.text == "Größe und Café"
    assert [title.text[a:b] for a, b in title.ranges] == ["Größe", "Café"]
    tag = next(h for h in hit.highlights if h.field == "tags")
    assert (tag.text, tag.ranges) == ("größe", ((0, 5),))


def test_ascii_folding_finds_accented_words_from_plain_ones(small: SearchIndex) -> None:
    page = small.search(SearchQuery(text="cafe"))
    assert {h.id for h in page.hits} == {"de-1", "en-1"}
    hit = next(h for h in page.hits if h.id == "de-1")
    summary = next(h for h in hit.highlights if h.field == "summary")
    assert [summary.text[a:b] for a, b in summary.ranges] == ["Cafés"]


@pytest.mark.parametrize("text", ["", "   ", "*"])
def test_an_empty_query_browses_newest_first_with_score_zero(small: SearchIndex, text: str) -> None:
    page = small.search(SearchQuery(text=text))
    assert [h.id for h in page.hits] == ["en-1", "de-1", "old-1"]  # undated documents last
    assert {h.score for h in page.hits} == {0.0}
    assert all(h.highlights == () for h in page.hits)
    assert page.total == 3
    assert page.facets["mapping"] == 2
    assert page.facets["overlay"] == 1
    assert page.facets["coverage"] == 0


def test_an_empty_query_with_filters_browses_within_them(small: SearchIndex) -> None:
    page = small.search(SearchQuery(text="", owner="otto@acme"))
    assert [h.id for h in page.hits] == ["en-1", "old-1"]
    page = small.search(SearchQuery(text="", kinds=("overlay",)))
    assert [h.id for h in page.hits] == ["de-1"]
    assert page.total == 1
    assert page.facets["mapping"] == 2  # facets ignore the kinds filter


def test_a_query_of_exclusions_only_browses_what_is_left(small: SearchIndex) -> None:
    page = small.search(SearchQuery(text="-english"))
    assert [h.id for h in page.hits] == ["de-1", "old-1"]
    assert {h.score for h in page.hits} == {0.0}


def test_deprecated_documents_rank_below_equal_current_ones(tmp_path: Path) -> None:
    index = SearchIndex.create(tmp_path / "index")
    base = {"kind": "ingestion", "title": "LOINC ingestion", "summary": "LOINC codes", "tags": ["loinc"]}
    index.upsert(
        [
            {**base, "id": "a-old", "governance_status": "deprecated"},
            {**base, "id": "b-new", "governance_status": "approved"},
        ]
    )
    index.commit()
    hits = index.search(SearchQuery(text="loinc")).hits
    assert [h.id for h in hits] == ["b-new", "a-old"]
    assert hits[0].score > hits[1].score


def test_query_errors_are_400_invalid_query(small: SearchIndex) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        small.search(SearchQuery(text="title:"))
    error = caught.value
    assert isinstance(error, ValidationFailed)
    assert (error.status, error.code) == (400, "invalid_query")
    assert error.to_problem()["code"] == "invalid_query"


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (101, 0), (20, -1), (20, 10_001)])
def test_limit_and_offset_are_bounded(small: SearchIndex, limit: int, offset: int) -> None:
    with pytest.raises(ValidationFailed):
        small.search(SearchQuery(text="cafe", limit=limit, offset=offset))


def test_an_offset_past_the_end_gives_an_empty_page_with_the_total(small: SearchIndex) -> None:
    page = small.search(SearchQuery(text="", offset=50))
    assert page.hits == ()
    assert page.total == 3


def test_upsert_refuses_a_batch_with_a_document_without_id(small: SearchIndex) -> None:
    with pytest.raises(ValueError, match="id"):
        small.upsert([{"id": "ok", "title": "fine"}, {"title": "no id"}])
    small.commit()
    assert small.get("ok") is None  # nothing of the batch was written
    assert small.count() == 3


def test_open_refuses_a_folder_of_another_schema_version(small: SearchIndex, tmp_path: Path) -> None:
    small.close()
    (tmp_path / "index" / SCHEMA_FILE).write_text(json.dumps({"schema_version": 0}))
    with pytest.raises(ValueError, match="schema"):
        SearchIndex.open(tmp_path / "index")
    with pytest.raises(ValueError, match="no search index"):
        SearchIndex.open(tmp_path / "elsewhere")


def test_create_refuses_a_folder_that_holds_an_index(small: SearchIndex, tmp_path: Path) -> None:
    with pytest.raises(FileExistsError):
        SearchIndex.create(tmp_path / "index")


def test_a_long_field_is_highlighted_in_the_window_that_holds_its_matches(tmp_path: Path) -> None:
    filler = " ".join(f"word{n}" for n in range(80))  # about 550 characters without a match
    summary = f"{filler} the laterality rule picks the sixth character; laterality again. {filler}"
    source = f"{filler} Größe und laterality: ICD-10-CM Kodierung. {filler}"
    index = SearchIndex.create(tmp_path / "index")
    index.upsert([{"id": "long", "title": "Long", "summary": summary, "source_text": source}])
    index.commit()
    hit = index.search(SearchQuery(text="laterality")).hits[0]
    by_field = {h.field: h for h in hit.highlights}
    assert set(by_field) == {"summary", "source_text"}
    fragment = by_field["summary"]
    assert len(fragment.text) <= 300
    assert fragment.text in summary
    assert [fragment.text[a:b] for a, b in fragment.ranges] == ["laterality", "laterality"]
    source_fragment = by_field["source_text"]  # non-ASCII text: analyzed word by word
    assert len(source_fragment.text) <= 200
    assert [source_fragment.text[a:b] for a, b in source_fragment.ranges] == ["laterality"]
    hidden = index.search(SearchQuery(text="laterality", hidden_fields=frozenset({"source_text"}))).hits[0]
    assert {h.field for h in hidden.highlights} == {"summary"}


def test_a_lone_word_prefix_matches_the_words_that_start_with_it(tmp_path: Path) -> None:
    index = SearchIndex.create(tmp_path / "prefix")
    index.upsert(
        [
            document_of({"id": "a", "kind": "mapping", "title": "Cardiology mapping", "version": 1}),
            document_of({"id": "b", "kind": "mapping", "title": "Cardiac labels", "version": 1}),
            document_of({"id": "c", "kind": "overlay", "title": "Lab units", "version": 1,
                         "source_text": "cardinal secret"}),
        ]
    )  # fmt: skip
    index.commit()
    page = index.search(SearchQuery(text="card*", hidden_fields=frozenset({"source_text"})))
    assert {hit.id for hit in page.hits} == {"a", "b"}  # not c: its only match is hidden
    for hit in page.hits:
        (highlight,) = hit.highlights
        (start, end), *_ = highlight.ranges
        assert highlight.text[start:end].lower().startswith("card")
    assert {h.id for h in index.search(SearchQuery(text="title:cardi*")).hits} == {"a", "b"}
    assert {h.id for h in index.search(SearchQuery(text="lab card*")).hits} == {"a", "b", "c"}
    assert {h.id for h in index.search(SearchQuery(text="card*")).hits} == {"a", "b", "c"}  # visible


# -- the files of a committed index ------------------------------------------------------------------


def test_the_files_of_a_committed_index_are_what_a_copy_needs_and_nothing_else(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    index = SearchIndex.create(folder)
    index.upsert([{"id": f"d{n}", "title": f"Document {n}", "kind": "mapping"} for n in range(500)])
    index.commit()
    for n in range(12):  # small commits: deletes in the first segment, merges of the small ones
        index.upsert([{"id": f"d{n}", "title": f"Revised {n}", "kind": "mapping"}])
        index.commit()
    index.close()
    names = index_files(folder)
    meta = json.loads((folder / "meta.json").read_text())
    segments = {s["segment_id"].replace("-", "") for s in meta["segments"]}
    assert names == sorted(names)
    assert {"meta.json", SCHEMA_FILE} <= set(names)
    assert {n.split(".")[0] for n in names} - {"meta", SCHEMA_FILE.split(".")[0]} == segments
    deletes = [n for n in names if n.endswith(".del")]
    live = [s for s in meta["segments"] if s["deletes"]]
    assert live  # the first segment had deletes
    assert deletes == sorted(
        f"{s['segment_id'].replace('-', '')}.{s['deletes']['opstamp']}.del" for s in live
    )
    assert not any(n.startswith(".") for n in names)  # no lock files, no .managed.json

    copy = tmp_path / "copy"
    copy.mkdir()
    for name in names:
        (copy / name).write_bytes((folder / name).read_bytes())
    copied = SearchIndex.open(copy)
    assert copied.versions() == index.versions()
    assert copied.count() == 500
    assert copied.search(SearchQuery(text="title:revised", limit=20)).total == 12


def test_the_files_of_an_index_missing_one_of_them_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    index = SearchIndex.create(folder)
    index.upsert([{"id": "a", "title": "A"}])
    index.commit()
    index.close()
    (idx,) = [n for n in index_files(folder) if n.endswith(".idx")]
    (folder / idx).unlink()
    with pytest.raises(FileNotFoundError, match=r"\.idx"):
        index_files(folder)


def test_closing_after_each_commit_lets_the_merges_run_to_their_end(tmp_path: Path) -> None:
    index = SearchIndex.create(tmp_path / "index")
    index.upsert([{"id": f"d{n}", "title": f"Document {n}"} for n in range(1_000)])
    index.commit()
    for n in range(30):  # the indexer: one commit per batch, then its merges awaited to publish
        index.upsert([{"id": f"d{n}", "title": f"Revised {n}"}])
        index.commit()
        index.close()
    segments = json.loads((tmp_path / "index" / "meta.json").read_text())["segments"]
    # tantivy's merge policy merges eight segments of a size into one: the small ones stay few.
    assert len(segments) <= 9, f"{len(segments)} segments after 30 commits"
    assert index.count() == 1_000


def test_closing_drops_uncommitted_writes(tmp_path: Path) -> None:
    index = SearchIndex.create(tmp_path / "index")
    index.upsert([{"id": "a", "title": "Kept"}])
    index.commit()
    index.upsert([{"id": "b", "title": "Dropped"}])
    index.close()
    index.commit()
    assert sorted(index.versions()) == ["a"]
