"""Models of the artifacts group: the answers of the routes (they are its OpenAPI schema). The domain
events that feed the registry live in gui_core.domain_events (the fan-out reads them too) and are
re-exported here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from gui_core.domain_events import (
    ARTIFACT_ID_PATTERN,
    ARTIFACT_KINDS,
    GOVERNANCE_STATUSES,
    MAX_INPUTS,
    SUPPORTED_SCHEMA_VERSIONS,
    ArtifactDeprecated,
    ArtifactInput,
    ArtifactKind,
    ArtifactPublished,
    GovernanceStatus,
)

# Re-exported: the event models and their vocabulary moved to gui_core.domain_events.
__all__ = [
    "ARTIFACT_ID_PATTERN",
    "GOVERNANCE_STATUSES",
    "KINDS",
    "MAX_INPUTS",
    "SUPPORTED_SCHEMA_VERSIONS",
    "ArtifactDeprecated",
    "ArtifactInput",
    "ArtifactPublished",
    "GovernanceStatus",
    "Kind",
]

Kind = ArtifactKind
KINDS = ARTIFACT_KINDS
Side = Literal["upstream", "downstream"]
Direction = Literal["upstream", "downstream", "both"]

# -- answers ---------------------------------------------------------------------------------------

_MAPPING_V2_HASH = "sha256:efb6366845106a529934163f6ab472b01b2a7851980557ba72da6309a2252ed1"
_ICD10_HASH = "sha256:750d2570463619b3da9811b503bf43e359298b1e228592d18a2d6c427cd38103"
_OVERLAY_HASH = "sha256:ecd59a8f9fbfe8ab6f8b5ee8b5661fd3a6f5beb1bfa2dde95228b6509f1fb7f5"
_LICENSE_EXAMPLE: JsonDict = {"tag": "acme-enterprise", "masked_fields": ["source_text"]}
_ARTIFACT_EXAMPLE: JsonDict = {
    "id": "map-icd10-snomed",
    "kind": "mapping",
    "title": "ICD-10 to SNOMED CT",
    "summary": "ICD-10 to SNOMED CT (version 2), published by the mapping pipeline.",
    "version": 2,
    "owner": "otto@acme",
    "tags": ["icd10", "snomed", "clinical"],
    "license_tag": "SNOMED-affiliate",
    "diff_hash": _MAPPING_V2_HASH,
    "previous_diff_hash": "sha256:61546cf33e8ed42da286282571a6bff77404090993ac3c49537ba37f47490706",
    "governance_status": "approved",
    "licensing_notes": "SNOMED CT affiliate licence; do not redistribute outside acme.",
    "source_uri": "s3://acme-artifacts/mapping/map-icd10-snomed/v2.parquet",
    "source_text": "***",
    "created_at": "2026-10-30T08:00:00.000+00:00",
    "updated_at": "2026-11-19T16:42:05.310+00:00",
    "in_degree": 2,
    "out_degree": 1,
    "inputs": [
        {"id": "ing-icd10-2026", "relation": "derived_from"},
        {"id": "ing-snomed-2026", "relation": "derived_from"},
    ],
}


class LicenseBlock(BaseModel):
    tag: str = Field(description="The license tag of the tenant's policy that applied.")
    masked_fields: list[str] = Field(
        description="Fields removed or masked (`***`) because the caller lacks `gui:license:restricted`."
    )


class InputRef(BaseModel):
    id: str
    relation: str


class Artifact(BaseModel):
    id: str
    kind: Kind
    title: str
    summary: str | None = None
    version: int
    owner: str
    tags: list[str] = Field(default_factory=list)
    license_tag: str
    diff_hash: str = Field(description="Content hash of this version.")
    previous_diff_hash: str | None = Field(default=None, description="Content hash of the version before.")
    governance_status: GovernanceStatus
    licensing_notes: str | None = None
    source_uri: str | None = None
    source_text: str | None = None
    created_at: str
    updated_at: str
    deprecated_at: str | None = None
    deprecation_reason: str | None = None
    replaced_by: str | None = None
    in_degree: int = Field(default=0, description="Lineage edges into the artifact (its inputs).")
    out_degree: int = Field(
        default=0, description="Lineage edges out of it (artifacts made from it), exact at any number."
    )
    inputs: list[InputRef] = Field(default_factory=list)


class ArtifactView(Artifact):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_ARTIFACT_EXAMPLE, "license": _LICENSE_EXAMPLE}]}
    )

    license: LicenseBlock


class CutCounts(BaseModel):
    upstream: int = 0
    downstream: int = 0


class LineageNode(BaseModel):
    """An artifact in a lineage graph. `known` is false for an artifact named as an input but never
    published to the registry (only `id` is then set)."""

    id: str
    side: Literal["root", "upstream", "downstream"]
    hop: int = Field(description="Distance from the root (0 for the root).")
    known: bool = True
    cut: CutCounts = Field(
        default_factory=CutCounts,
        description="Neighbours on each side not followed from this node because of `fan_out`.",
    )
    kind: Kind | None = None
    title: str | None = None
    summary: str | None = None
    version: int | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    license_tag: str | None = None
    diff_hash: str | None = None
    previous_diff_hash: str | None = None
    governance_status: GovernanceStatus | None = None
    licensing_notes: str | None = None
    source_uri: str | None = None
    source_text: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    deprecated_at: str | None = None
    in_degree: int | None = None
    out_degree: int | None = None


class LineageEdge(BaseModel):
    source: str = Field(description="The upstream artifact (an input).")
    target: str = Field(description="The downstream artifact (made from `source`).")
    relation: str


class LayerSummary(BaseModel):
    side: Side
    hop: int
    nodes: int = Field(description="Nodes of this layer in the answer.")
    cut: int = Field(description="Neighbours not followed into this layer because of `fan_out`.")
    total: int | None = Field(default=None, description="Layer mode: every node at this distance.")
    next_cursor: str | None = Field(default=None, description="Layer mode: the next page of the layer.")


class LineageGraph(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "root": "map-icd10-snomed",
                    "direction": "both",
                    "depth": 1,
                    "fan_out": 25,
                    "nodes": [
                        {
                            "id": "map-icd10-snomed",
                            "side": "root",
                            "hop": 0,
                            "known": True,
                            "cut": {"upstream": 0, "downstream": 0},
                            "kind": "mapping",
                            "title": "ICD-10 to SNOMED CT",
                            "version": 2,
                            "owner": "otto@acme",
                            "tags": ["icd10", "snomed"],
                            "license_tag": "SNOMED-affiliate",
                            "diff_hash": _MAPPING_V2_HASH,
                            "governance_status": "approved",
                            "created_at": "2026-10-30T08:00:00.000+00:00",
                            "updated_at": "2026-11-19T16:42:05.310+00:00",
                            "in_degree": 2,
                            "out_degree": 1,
                        },
                        {
                            "id": "ing-icd10-2026",
                            "side": "upstream",
                            "hop": 1,
                            "known": True,
                            "cut": {"upstream": 0, "downstream": 3},
                            "kind": "ingestion",
                            "title": "ICD-10 2026 release",
                            "version": 1,
                            "owner": "otto@acme",
                            "license_tag": "WHO-ICD",
                            "diff_hash": _ICD10_HASH,
                            "governance_status": "approved",
                            "created_at": "2026-10-21T08:00:00.000+00:00",
                            "updated_at": "2026-10-21T08:00:00.000+00:00",
                            "in_degree": 0,
                            "out_degree": 4,
                        },
                        {"id": "ing-snomed-2026", "side": "upstream", "hop": 1, "known": False},
                        {
                            "id": "ovl-de-labels",
                            "side": "downstream",
                            "hop": 1,
                            "known": True,
                            "cut": {"upstream": 0, "downstream": 0},
                            "kind": "overlay",
                            "title": "German labels",
                            "version": 2,
                            "owner": "otto@acme",
                            "license_tag": "internal",
                            "diff_hash": _OVERLAY_HASH,
                            "governance_status": "approved",
                            "created_at": "2026-11-03T08:00:00.000+00:00",
                            "updated_at": "2026-11-20T09:15:00.000+00:00",
                            "in_degree": 1,
                            "out_degree": 0,
                        },
                    ],
                    "edges": [
                        {
                            "source": "ing-icd10-2026",
                            "target": "map-icd10-snomed",
                            "relation": "derived_from",
                        },
                        {
                            "source": "ing-snomed-2026",
                            "target": "map-icd10-snomed",
                            "relation": "derived_from",
                        },
                        {"source": "map-icd10-snomed", "target": "ovl-de-labels", "relation": "overlays"},
                    ],
                    "layers": [
                        {"side": "upstream", "hop": 1, "nodes": 2, "cut": 0},
                        {"side": "downstream", "hop": 1, "nodes": 1, "cut": 0},
                    ],
                    "truncated": False,
                    "license": _LICENSE_EXAMPLE,
                }
            ]
        }
    )

    root: str
    direction: Direction
    depth: int
    fan_out: int
    layer: str | None = Field(default=None, description="Set in layer mode (`<side>:<hop>`).")
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    layers: list[LayerSummary]
    truncated: bool = Field(description="The node limit of one answer was reached.")
    license: LicenseBlock


class ArtifactPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_ARTIFACT_EXAMPLE],
                    "total": 14,
                    "next_cursor": "eyJwayI6ImFjbWUiLCJzayI6ImFydGlmYWN0I21hcC1pY2QxMC1zbm9tZWQifQ",
                    "partial": False,
                    "license": _LICENSE_EXAMPLE,
                }
            ]
        }
    )

    items: list[Artifact]
    total: int | None = Field(
        description="The tenant's artifacts when nothing is filtered; with filters, the matches when "
        "this first page read them all, else null (counting them would read every artifact)."
    )
    next_cursor: str | None = None
    partial: bool = Field(
        default=False,
        description="The page's read budget ran out before the page was full: it holds the matches "
        "found (perhaps none) and `next_cursor` continues where the reading stopped.",
    )
    license: LicenseBlock
