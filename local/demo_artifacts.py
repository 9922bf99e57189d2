"""Demo artifacts of the local runtime: for each demo tenant, in its home region, a registry of 30
artifacts with multi-level lineage (ingestion -> coverage -> mapping -> overlay -> readiness ->
prompt pack, with governance records beside them), including a diamond (two mappings of one coverage
joined again by one overlay), a cycle (a prompt pack calibrates the readiness it was derived from),
inputs fanning in, several versions of one mapping, deprecated artifacts, and `source_text`
excerpts that acme's license policy restricts.

Applied as ArtifactPublished/ArtifactDeprecated events in the EventBridge envelope of the samples,
through the same `RegistryFeed` the gui_artifact_events function runs. Ids, versions and content
hashes are fixed, so seeding again is a redelivery and changes nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gui_artifacts.registry_feed import RegistryFeed
from gui_artifacts.repository import ArtifactsRepository
from gui_core.dynamo import from_dynamo, to_dynamo
from gui_core.tenancy import Tenant
from local.aws import aws_client
from local.demo import TENANTS
from local.memory_table import MemoryTable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from local.demo import DemoTenant
    from stacks.manifest import Manifest

_SAMPLES = Path(__file__).parents[1] / "events" / "aws"

# id | kind | owner role | license tag | governance status | hours ago | title
_ARTIFACTS = """
ing-icd10-2026 | ingestion | operator | WHO-ICD | approved | 720 | ICD-10 2026 release
ing-snomed-2026 | ingestion | operator | SNOMED-affiliate | approved | 700 | SNOMED CT international 2026-09
ing-loinc-278 | ingestion | operator | LOINC | approved | 690 | LOINC 2.78
ing-atc-2026 | ingestion | operator | WHO-ATC | approved | 680 | ATC/DDD index 2026
ing-local-terms | ingestion | operator | internal | draft | 650 | Local lab terms export
cov-icd10 | coverage | operator | WHO-ICD | approved | 600 | ICD-10 coverage, depth 3
cov-snomed-clinical | coverage | operator | SNOMED-affiliate | approved | 590 | SNOMED findings coverage
cov-loinc-lab | coverage | operator | LOINC | in_review | 580 | LOINC lab panel coverage
cov-atc | coverage | operator | WHO-ATC | approved | 570 | ATC level-4 coverage
cov-icd10-legacy | coverage | operator | WHO-ICD | approved | 900 | ICD-10 coverage (2025 release)
map-icd10-snomed | mapping | operator | SNOMED-affiliate | approved | 500 | ICD-10 to SNOMED CT
map-icd10-snomed-exp | mapping | admin | SNOMED-affiliate | in_review | 490 | ICD-10 to SNOMED CT (trial)
map-loinc-local | mapping | operator | LOINC | in_review | 480 | Local lab terms to LOINC
map-atc-snomed | mapping | operator | SNOMED-affiliate | draft | 470 | ATC to SNOMED substances
map-icd10-legacy | mapping | operator | SNOMED-affiliate | approved | 880 | ICD-10 (2025) to SNOMED CT
ovl-de-labels | overlay | operator | internal | approved | 400 | German labels
ovl-fr-labels | overlay | operator | internal | in_review | 390 | French labels
ovl-lab-units | overlay | operator | internal | approved | 380 | Lab unit conversions
ovl-substance-synonyms | overlay | operator | internal | draft | 370 | Substance synonyms
ovl-legacy-labels | overlay | operator | internal | approved | 860 | German labels (2025)
rdy-triage | readiness | operator | internal | approved | 300 | Triage readiness report
rdy-lab | readiness | operator | internal | in_review | 290 | Lab results readiness report
rdy-pharmacy | readiness | operator | internal | blocked | 280 | Pharmacy readiness report
rdy-legacy | readiness | operator | internal | approved | 840 | Triage readiness (2025)
pp-triage-v2 | prompt_pack | admin | internal | approved | 200 | Triage prompt pack v2
pp-lab-summary | prompt_pack | admin | internal | in_review | 190 | Lab summary prompt pack
pp-pharmacy | prompt_pack | admin | internal | draft | 180 | Pharmacy prompt pack
pp-triage-v1 | prompt_pack | admin | internal | approved | 820 | Triage prompt pack v1
gov-snomed-review | governance | admin | internal | approved | 100 | SNOMED licence review 2026
gov-triage-signoff | governance | admin | internal | in_review | 50 | Triage go-live sign-off
"""
# Inputs of each artifact: `<input>` (derived_from) or `<input>:<relation>`.
_INPUTS = {
    "cov-icd10": ("ing-icd10-2026",),
    "cov-snomed-clinical": ("ing-snomed-2026",),
    "cov-loinc-lab": (
        "ing-loinc-278",
        "ing-local-terms",
    ),
    "cov-atc": ("ing-atc-2026",),
    "map-icd10-snomed": (
        "cov-icd10",
        "cov-snomed-clinical",
    ),
    "map-icd10-snomed-exp": (
        "cov-icd10",
        "cov-snomed-clinical",
    ),
    "map-loinc-local": ("cov-loinc-lab",),
    "map-atc-snomed": (
        "cov-atc",
        "cov-snomed-clinical",
    ),
    "map-icd10-legacy": ("cov-icd10-legacy",),
    "ovl-de-labels": (
        "map-icd10-snomed:overlays",
        "map-icd10-snomed-exp:overlays",
    ),
    "ovl-fr-labels": ("map-icd10-snomed:overlays",),
    "ovl-lab-units": ("map-loinc-local:overlays",),
    "ovl-substance-synonyms": ("map-atc-snomed:overlays",),
    "ovl-legacy-labels": ("map-icd10-legacy:overlays",),
    "rdy-triage": (
        "ovl-de-labels",
        "ovl-fr-labels",
        "pp-triage-v2:calibrates",
    ),
    "rdy-lab": ("ovl-lab-units",),
    "rdy-pharmacy": ("ovl-substance-synonyms",),
    "rdy-legacy": ("ovl-legacy-labels",),
    "pp-triage-v2": ("rdy-triage",),
    "pp-lab-summary": (
        "rdy-lab",
        "ovl-lab-units",
    ),
    "pp-pharmacy": ("rdy-pharmacy",),
    "pp-triage-v1": ("rdy-legacy",),
    "gov-snomed-review": (
        "map-icd10-snomed",
        "map-atc-snomed",
    ),
    "gov-triage-signoff": (
        "rdy-triage",
        "pp-triage-v2",
    ),
}


def _plan() -> list[tuple[str, str, str, str, str, int, str, tuple[tuple[str, str], ...]]]:
    plan = []
    for line in _ARTIFACTS.strip().splitlines():
        artifact_id, kind, owner, license_tag, status, hours, title = (p.strip() for p in line.split("|"))
        inputs = tuple(
            (name, relation or "derived_from")
            for name, _, relation in (i.partition(":") for i in _INPUTS.get(artifact_id, ()))
        )
        plan.append((artifact_id, kind, owner, license_tag, status, int(hours), title, inputs))
    return plan


# Later versions of published artifacts: (id, version, hours ago).
_NEW_VERSIONS = (("map-icd10-snomed", 2, 120), ("map-icd10-snomed", 3, 20), ("ovl-de-labels", 2, 60))
# Deprecations: (id, reason, replaced by, hours ago).
_DEPRECATIONS = (
    ("cov-icd10-legacy", "Replaced by the 2026 release coverage.", "cov-icd10", 610),
    ("map-icd10-legacy", "Replaced by the 2026 release mapping.", "map-icd10-snomed", 505),
    ("pp-triage-v1", "Superseded by v2.", "pp-triage-v2", 205),
    ("rdy-legacy", "Superseded by the 2026 triage report.", "rdy-triage", 305),
)
_TAGS = {
    "ingestion": ["source", "release"],
    "coverage": ["coverage"],
    "mapping": ["mapping", "clinical"],
    "overlay": ["overlay", "labels"],
    "readiness": ["readiness"],
    "prompt_pack": ["prompt-pack", "llm"],
    "governance": ["governance", "audit"],
}
_EXCERPTS = {
    "ingestion": "A00.0 Cholera due to Vibrio cholerae 01, biovar cholerae",
    "mapping": "A00.0 -> 63650001 |Cholera (disorder)| (score 0.97)",
    "coverage": "Chapter I: 1,042 of 1,057 codes covered at depth 3",
}


@dataclass(frozen=True)
class _HomedHere:
    """The demo tenants, each homed in the region being seeded (the feed checks residency)."""

    region: str

    def get(self, tenant_id: str) -> Tenant:
        return Tenant(tenant_id, tenant_id, self.region)


def _hash(*parts: object) -> str:
    return "sha256:" + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _envelope(
    sample: str, detail_type: str, detail: dict[str, Any], *, region: str, at: datetime
) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads((_SAMPLES / sample).read_text()))
    event.update(
        {
            "id": _hash(detail["tenant"], detail["event_id"])[7:43],
            "detail-type": detail_type,
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "detail": {"schema_version": "1", "region": region, **detail},
        }
    )
    return event


def demo_artifact_events(tenant: DemoTenant, now: datetime) -> list[dict[str, Any]]:
    """The demo tenant's artifact events in the order producers would have sent them."""
    owners = {
        "operator": next((u.subject for u in tenant.users if "operator" in u.roles), tenant.admin.subject)
    }
    owners["admin"] = tenant.admin.subject
    timed: list[tuple[datetime, dict[str, Any]]] = []
    plans = {p[0]: p for p in _plan()}
    versions = [(p[0], 1, p[5]) for p in plans.values()] + list(_NEW_VERSIONS)
    for artifact_id, version, hours in versions:
        _, kind, owner, license_tag, status, _, title, inputs = plans[artifact_id]
        at = now - timedelta(hours=hours)
        detail: dict[str, Any] = {
            "tenant": tenant.tenant,
            "event_id": f"demo-{artifact_id}-v{version}",
            "artifact_id": artifact_id,
            "version": version,
            "kind": kind,
            "title": title,
            "summary": f"{title} (version {version}), published by the {kind.replace('_', ' ')} pipeline.",
            "owner": owners[owner],
            "tags": [*_TAGS[kind], license_tag.lower()],
            "license_tag": license_tag,
            "diff_hash": _hash(tenant.tenant, artifact_id, version),
            "previous_diff_hash": _hash(tenant.tenant, artifact_id, version - 1) if version > 1 else None,
            "governance_status": status,
            "licensing_notes": f"{license_tag}: redistribution needs the licensor's written consent."
            if license_tag not in {"internal"}
            else None,
            "source_uri": f"s3://{tenant.tenant}-artifacts/{kind}/{artifact_id}/v{version}.parquet",
            "source_text": _EXCERPTS.get(kind),
            "published_at": at.isoformat(timespec="milliseconds"),
            "inputs": [{"id": i, "relation": r} for i, r in inputs],
        }
        if artifact_id == "ovl-de-labels" and version == 2:  # the experimental mapping is no input any more
            detail["inputs"] = [{"id": "map-icd10-snomed", "relation": "overlays"}]
        timed.append(
            (
                at,
                _envelope(
                    "eventbridge_artifact_published.json",
                    "ArtifactPublished",
                    detail,
                    region=tenant.home_region,
                    at=at,
                ),
            )
        )
    for artifact_id, reason, replaced_by, hours in _DEPRECATIONS:
        at = now - timedelta(hours=hours)
        detail = {
            "tenant": tenant.tenant,
            "event_id": f"demo-{artifact_id}-deprecated",
            "artifact_id": artifact_id,
            "version": 1,
            "reason": reason,
            "replaced_by": replaced_by,
            "deprecated_at": at.isoformat(timespec="milliseconds"),
        }
        timed.append(
            (
                at,
                _envelope(
                    "eventbridge_artifact_deprecated.json",
                    "ArtifactDeprecated",
                    detail,
                    region=tenant.home_region,
                    at=at,
                ),
            )
        )
    return [event for _, event in sorted(timed, key=lambda pair: pair[0])]


BATCH_WRITE_LIMIT = 25  # requests per BatchWriteItem


def seed_artifacts(
    manifest: Manifest,
    *,
    endpoint_url: str,
    regions: Sequence[str],
    tenants: Sequence[DemoTenant] = TENANTS,
    now: datetime | None = None,
) -> int:
    """Apply each demo tenant's artifact events in its home region (regions not served are skipped);
    returns how many changed the registry (none on a second run).

    The real consumer (`RegistryFeed`) applies the events to an in-memory copy of the tenant's
    partition, and what changed is written to moto in batches: the registry ends as the consumer
    would leave it, in a few dozen calls instead of several hundred (`ddgui dev` starts faster)."""
    moment = now or datetime.now(UTC)
    table_name = manifest.store("artifacts").local_table_name()
    applied = 0
    for tenant in tenants:
        if tenant.home_region not in regions:
            continue
        client = aws_client("dynamodb", endpoint_url=endpoint_url, region=tenant.home_region)
        before = _partition(client, table_name, tenant.tenant)
        memory = MemoryTable(before)
        feed = RegistryFeed(
            region=tenant.home_region,
            tenants=_HomedHere(tenant.home_region),
            registry=ArtifactsRepository(memory),  # type: ignore[arg-type]  # the Table contract
        )
        applied += sum(feed.handle(event) == "applied" for event in demo_artifact_events(tenant, moment))
        _write_changes(client, table_name, {_key(i): i for i in before}, memory.items)
    return applied


def _key(item: Mapping[str, Any]) -> tuple[str, str]:
    return str(item["pk"]), str(item["sk"])


def _partition(client: Any, table_name: str, tenant: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": tenant}},
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**params)
        items += [from_dynamo(item) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _write_changes(
    client: Any,
    table_name: str,
    before: Mapping[tuple[str, str], Mapping[str, Any]],
    after: Mapping[tuple[str, str], Mapping[str, Any]],
) -> None:
    """Put what is new or changed, delete what is gone, 25 requests per BatchWriteItem."""
    requests: list[dict[str, Any]] = [
        {"PutRequest": {"Item": to_dynamo(item)}} for key, item in after.items() if before.get(key) != item
    ]
    requests += [
        {"DeleteRequest": {"Key": to_dynamo({"pk": key[0], "sk": key[1]})}}
        for key in before
        if key not in after
    ]
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending = {table_name: requests[start : start + BATCH_WRITE_LIMIT]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
