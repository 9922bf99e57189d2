"""The search index's fields and text analysis: which fields hold text, keywords, dates and numbers,
and how text becomes terms.

Text is split into runs of letters and runs of digits, lowercased, ASCII-folded and stemmed
(English): `icd10`, `ICD-10` and `icd 10` are the same two-word phrase, `Café` finds `cafe`,
`mappings` finds `map`. The query parser and the highlighter use the same analyzer, so what is
matched is what is highlighted.
"""

from __future__ import annotations

import tantivy

SEARCHABLE_FIELDS = ("title", "summary", "tags", "owner", "licensing_notes", "source_text")
KEYWORD_FIELDS = ("id", "kind", "owner_raw", "license_tag", "governance_status", "tags_raw")
FAST_FIELDS = frozenset({"kind", "updated_at", "version"})
TEXT_TOKENIZER = "dd_text"
WORD_PATTERN = r"[^\W\d_]+|\d+"  # the tokenizer's words: runs of letters, runs of digits


def analyzer() -> tantivy.TextAnalyzer:
    """The text fields' analyzer (register it on an index under TEXT_TOKENIZER)."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(WORD_PATTERN))
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


_ANALYZER = analyzer()


def analyze(text: str) -> list[str]:
    """The terms the index makes of `text` (the same analyzer as the text fields)."""
    return list(_ANALYZER.analyze(text))


def schema() -> tantivy.Schema:
    """The index's schema. Changing it means a new `gui_search.index.SCHEMA_VERSION`."""
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
