"""Search highlights: where a hit's stored fields hold the query's words, as character ranges.

Highlights are built in Python from the stored values with the index's own analysis rather than
with tantivy's SnippetGenerator, which re-tokenizes every field of every hit with the regex
tokenizer. Hidden fields (license masking) are never highlighted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gui_search.analysis import WORD_PATTERN, analyze
from gui_search.query import ParsedQuery

HIGHLIGHT_FIELDS = ("title", "summary", "tags")
MASKABLE_HIGHLIGHT_FIELDS = ("licensing_notes", "source_text")  # highlighted unless hidden
HIGHLIGHT_SCAN_CHARS = 4_000  # long fields are highlighted from their beginning only
# Highlight fragment length per field; title and tags are shown whole.
_FRAGMENT_CHARS: Mapping[str, int] = {
    "title": 1_000,
    "summary": 300,
    "tags": 2_000,
    "licensing_notes": 200,
    "source_text": 200,
}


@dataclass(frozen=True)
class Highlight:
    field: str
    text: str
    ranges: tuple[tuple[int, int], ...]  # [start, end) in characters of `text`


class Highlighter:
    """Highlights of one query's hits, built from the stored values with the index's own analysis:
    words are the tokenizer's runs of letters or digits (found with the same pattern in Python, so
    offsets are characters), each analyzed by the index's analyzer (cached per word), and a word is
    highlighted when it is a positive query term of the field or starts with a prefix term.

    In ASCII text only the words that start like a term are analyzed (English stems keep a word's
    first letters, so `term[:-1]` starts every word that analyzes to `term`; irregular forms such as
    "dying" -> "die" are missed); other text is analyzed word by word. Title and tags are shown
    whole, the other fields as the window of `_FRAGMENT_CHARS` holding the most matches."""

    def __init__(self, parsed: ParsedQuery, hidden: frozenset[str]) -> None:
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


_WORD = re.compile(WORD_PATTERN)
_TERMS: dict[str, str] = {}  # word -> its term ("" when the analyzer drops it); bounded below
_TERMS_MAX = 200_000


def _term_of(word: str) -> str:
    term = _TERMS.get(word)
    if term is None:
        analyzed = analyze(word)
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
