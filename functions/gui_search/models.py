"""What a search asks (`SearchCriteria`) and answers (its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from gui_core.domain_events import ArtifactKind, GovernanceStatus

_HIT_EXAMPLE: JsonDict = {
    "id": "map-icd10-snomed",
    "kind": "mapping",
    "title": "ICD-10 to SNOMED CT",
    "summary": "ICD-10 to SNOMED CT (version 2), published by the mapping pipeline.",
    "score": 7.91,
    "highlights": [
        {"field": "title", "text": "ICD-10 to SNOMED CT", "ranges": [[11, 17]]},
        {"field": "tags", "text": "snomed", "ranges": [[0, 6]]},
    ],
    "version": 2,
    "owner": "otto@acme",
    "tags": ["icd10", "snomed", "clinical"],
    "license_tag": "SNOMED-affiliate",
    "governance_status": "approved",
    "deprecated": False,
    "published_at": "2026-11-19T16:42:05.310+00:00",
    "updated_at": "2026-11-19T16:42:05.310+00:00",
}


class Highlight(BaseModel):
    field: str = Field(description="`title`, `summary`, `tags`, or a restricted field the caller may see.")
    text: str = Field(description="A fragment of the field (for `tags`: the tag).")
    ranges: list[tuple[int, int]] = Field(
        description="[start, end) character offsets in `text` of each word that matched the query; the "
        "GUI marks them (the text is plain, never HTML)."
    )


class SearchHit(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_HIT_EXAMPLE]})

    id: str
    kind: ArtifactKind
    title: str
    summary: str | None = None
    score: float | None = Field(description="BM25 relevance (title and tags weigh more); null when browsing.")
    highlights: list[Highlight]
    version: int | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    license_tag: str | None = None
    governance_status: GovernanceStatus | None = None
    deprecated: bool = False
    published_at: str | None = None
    updated_at: str | None = None
    licensing_notes: str | None = Field(default=None, description="Removed or `***` when restricted.")
    source_uri: str | None = Field(default=None, description="Removed or `***` when restricted.")
    source_text: str | None = Field(default=None, description="Removed or `***` when restricted.")


class IndexInfo(BaseModel):
    version: int = Field(description="The index version that answered (it grows with every change).")
    documents: int
    built_at: str


class Facets(BaseModel):
    kind: dict[str, int] = Field(
        description="Matches per artifact kind, with every filter applied except `kind` (so the GUI can "
        "show what switching kinds would give)."
    )


class SearchLicense(BaseModel):
    tag: str = Field(description="The license tag of the tenant's policy that applied.")
    masked_fields: list[str] = Field(
        description="Fields removed or masked (`***`) in the hits, and not searched, because the caller "
        "lacks `gui:license:restricted`."
    )


_PAGE_EXAMPLE: JsonDict = {
    "query": "snomed",
    "mode": "search",
    "total": 7,
    "hits": [_HIT_EXAMPLE],
    "facets": {"kind": {"mapping": 4, "coverage": 2, "ingestion": 1}},
    "next_cursor": "eyJoIjoiOWYxYzJhNGU3YjVkM2MxMCIsIm8iOjEsInBrIjoiYWNtZSJ9",
    "index": {"version": 42, "documents": 31, "built_at": "2026-11-28T09:00:01.250+00:00"},
    "license": {"tag": "acme-enterprise", "masked_fields": ["source_text"]},
}


class SearchPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PAGE_EXAMPLE]})

    query: str = Field(description="The query as searched (trimmed); empty when browsing.")
    mode: str = Field(description="`search` (ranked by relevance) or `browse` (no query: newest first).")
    total: int = Field(description="Every match, over all pages.")
    hits: list[SearchHit]
    facets: Facets
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
    index: IndexInfo | None = Field(
        description="The tenant's index version; null while the tenant has none yet (no hits then)."
    )
    license: SearchLicense


# The bounds of a search's parameters, for every door (REST's query parameters, GraphQL's arguments).
MAX_QUERY_CHARS = 512
MAX_KINDS = 10
MAX_TAGS = 20
MAX_OWNER_CHARS = 200
MAX_LICENSES = 20
MAX_STATUSES = 10
MAX_PAGE = 100
DEFAULT_PAGE = 20


class SearchCriteria(BaseModel):
    """What a search asks (the route's query parameters; not a request body): the query text
    (blank: browse), the filters, the page size and the cursor of the page before."""

    text: str = ""
    kinds: list[ArtifactKind] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    owner: str | None = None
    license_tags: list[str] = Field(default_factory=list)
    statuses: list[GovernanceStatus] = Field(default_factory=list)
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    limit: int = 20
    cursor: str | None = None
