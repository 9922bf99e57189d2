"""Search (issue 6): a generated 100,000-artifact tenant through the search handler, against raw tantivy
on the same index and the same queries, in one run. Not a CI gate.

Rows, all measured in one run (the machine is noisy: compare a row with its baseline, not across runs):

1. build: N artifacts generated from a fixed seed (the same tenant every run: ICD-10, SNOMED CT, LOINC,
   RxNorm, MedDRA, ATC... coverage, mappings, overlays, readiness reports, prompt packs, ingestions,
   governance records) -> `SearchIndex.upsert` (which runs `document_of`) + `commit`. Baseline: the
   same documents, already converted, added to a bare tantivy writer of the same schema (tantivy's
   own indexing cost). Also the folder and archive sizes.
2. publish the whole index: `IndexStore.publish` (the files layout: hash every file, upload them
   in parallel, switch the manifest) to moto's S3 server, started here on loopback; and, for a
   second tenant, `IndexStore.publish_archive` (the layout before: archive + upload + switch).
   Baseline: one plain PutObject of the archive's bytes.
3. cold path, 3 times, each with a fresh `LocalIndexes` root and a fresh app: `LocalIndexes.get`
   (manifest GET, download, check, open) then the first query through the handler, for the files
   layout with parallel GETs (as deployed), the same with one GET at a time, and the archive
   layout (download, checksum + unpack). Baselines: a plain GetObject of the archive; the same
   query warm (15 more calls after row 4).
4. warm queries: a fixed list of queries (words, pairs, phrases, `word*`, boolean, with filters on
   kind/tag/status/dates, browsing with filters; every 10th as a caller holding
   `gui:license:restricted`, the others as viewers, for whom the tenant's policy removes
   `source_text` and masks `licensing_notes`) run (a) on raw tantivy: `tantivy.Index.open` of the same
   folder, `parse_query` over the same default fields, the same filter clauses, `search(query, 20)`
   and the 20 stored documents fetched (the baseline); (b) through `SearchIndex.search` (facets,
   highlights); (c) through the Lambda entry (`rest_handler`: Powertools, Mangum, FastAPI, the guard
   on in-memory tables, masking, the response model), the body parsed with `json.loads`; (d) the
   same request for a tenant provisioned alike but without an index (an empty page): the fixed cost
   of the handler's stack. The four are interleaved per query in rotating order, over several rounds
   after an untimed warm-up round. Goal: (c) within 3x of (a), at p50 and p95. Timing wrappers
   (installed for this step only) split the engine's time into its facet pass (`SearchIndex._facets`),
   its highlighting (`Highlighter.highlights`) and the rest, and the handler's into the engine, the
   use case's masking (`use_cases.masked_hits`), `LocalIndexes.get`, `json.loads` and the rest.
5. incremental: 1,000 changes (80% new versions of existing artifacts, 15% new artifacts, 5%
   deprecations) as domain events through `TenantIndexes.apply` in one batch, on a fresh indexer
   container (so it fetches its working copy first), then 10 batches of 100 and 10 of 1 (the copy
   reused). Per batch: apply + commit + merges, the publication (time, files and bytes uploaded),
   and a search container's refresh to the new version (`LocalIndexes.get`: files and bytes
   downloaded, files linked). Baselines: the layout before, `publish_archive` of the same folder
   after the first batch of each size, and a full build + publish (rows 1 + 2).

Usage: `python bench/search.py [--artifacts 100000] [--queries 200] [--rounds 3] [--changes 1000]`
(about 2 minutes on 2 cores with the defaults; `--artifacts 5000 --queries 50` for a quick look).
`--publishing [--batch 10] [--batches 5]`: rows 1, 2, 3 (once) and 5 only, row 5 as that many batches
of that many changes: what publishing a change and fetching cold cost, without the warm queries.
The result goes to bench/results/search.json unless `--json` says otherwise; the handler's stdout
(Powertools logs and EMF) to search.log beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import hashlib
import importlib.metadata
import itertools
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

import tantivy  # noqa: E402
from _common import authorized_get, load, percentile, stdout_to  # noqa: E402

from gui_core import rbac  # noqa: E402
from gui_core.domain_events import ArtifactDeprecated, ArtifactPublished  # noqa: E402
from gui_core.guard import Guard  # noqa: E402
from gui_core.objects import ObjectStore  # noqa: E402
from gui_core.observability import observability, rest_handler  # noqa: E402
from gui_core.rate_limit import RateLimiter  # noqa: E402
from gui_core.registry_fingerprint import Fingerprint  # noqa: E402
from gui_core.tenancy import TenantDirectory  # noqa: E402
from gui_core.tokens import Principal  # noqa: E402
from gui_indexer.indexer import TenantIndexes  # noqa: E402
from gui_search import analysis, highlights, use_cases  # noqa: E402
from gui_search import index as search_index  # noqa: E402
from gui_search.analysis import SEARCHABLE_FIELDS  # noqa: E402
from gui_search.app import create_app  # noqa: E402
from gui_search.documents import document_of  # noqa: E402
from gui_search.index import SearchIndex  # noqa: E402
from gui_search.query import FIELD_BOOSTS, SearchQuery  # noqa: E402
from gui_search.settings import SearchSettings  # noqa: E402
from gui_search.store import WORKERS, Fetched, IndexManifest, IndexStore, LocalIndexes, archive  # noqa: E402
from local.aws import DUMMY_CREDENTIALS, MotoServer, aws_client, create_secrets, table_names  # noqa: E402
from local.containers import lambda_context, runtime_environment  # noqa: E402
from local.iam import local_secret_arn  # noqa: E402
from local.memory_table import MemoryTable  # noqa: E402
from stacks.manifest import MANIFEST  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "search.json"
REGION = "eu-west-1"
TENANT = "bench"
EMPTY_TENANT = "bench-empty"  # provisioned alike, without an index: the handler's fixed cost
ARCHIVE_TENANT = "bench-archive"  # the same index in the layout before (an archive per version)
PATH = "/service/gui/search"
FUNCTION = MANIFEST.function("gui_search")
BUCKET = MANIFEST.bucket.local_bucket_name(REGION)
LIMIT = 20
GOAL_RATIO = 3.0
COLD_REPETITIONS = 3
COLD_QUERY = "snomed"
HIDDEN_FOR_VIEWERS = frozenset({"source_text", "licensing_notes"})  # the tenant's policy, below
TENANT_ITEM = {
    "pk": TENANT,
    "sk": "tenant",
    "name": "Bench Health",
    "home_region": REGION,
    "plan": "enterprise",
    "rate_limits": {"search": 10_000_000},  # never refused: the cost measured is the search's
    "license_policy": {
        "license_tag": "SNOMED-affiliate",
        "restricted_fields": {"source_text": "remove", "licensing_notes": "mask"},
    },
}

# -- the tenant -----------------------------------------------------------------------------------

# name in titles, tag, license tag, licensing note (None: freely usable)
TERMINOLOGIES = (
    (
        "ICD-10",
        "icd-10",
        "WHO-ICD",
        "ICD-10 content under the WHO licence; no redistribution of the tabular list.",
    ),
    ("ICD-10-CM", "icd-10-cm", "WHO-ICD", None),
    ("ICD-11", "icd-11", "WHO-ICD", "ICD-11 MMS under CC BY-ND 3.0 IGO."),
    (
        "SNOMED CT",
        "snomed",
        "SNOMED-affiliate",
        "SNOMED CT content: affiliate licence required to redistribute.",
    ),
    ("LOINC", "loinc", "LOINC", "LOINC content: attribution to Regenstrief required."),
    ("RxNorm", "rxnorm", "RxNorm-UMLS", "RxNorm via the UMLS Metathesaurus licence."),
    (
        "MedDRA",
        "meddra",
        "MedDRA-subscriber",
        "MedDRA terms: subscribers only, no disclosure of the hierarchy.",
    ),
    ("ATC", "atc", "WHO-ATC", "ATC/DDD index: WHO Collaborating Centre terms of use."),
    ("ICPC-2", "icpc-2", "WONCA", None),
    ("UCUM", "ucum", "UCUM", None),
    ("OPCS-4", "opcs-4", "NHS-TRUD", "OPCS-4 via NHS TRUD, UK use only."),
    ("dm+d", "dmd", "NHS-TRUD", None),
)
DOMAINS = (
    "triage", "cardiology", "oncology", "pharmacy", "lab results", "radiology", "paediatrics",
    "nephrology", "infectious disease", "adverse events", "medication reconciliation",
    "discharge summaries", "emergency medicine", "dermatology", "mental health", "diabetes care",
    "maternity", "intensive care", "primary care", "pathology",
)  # fmt: skip
LANGUAGES = (
    ("German", "de"), ("French", "fr"), ("Spanish", "es"), ("Italian", "it"), ("Dutch", "nl"),
    ("Polish", "pl"), ("Swedish", "sv"), ("Portuguese", "pt"), ("Danish", "da"), ("Czech", "cs"),
)  # fmt: skip
GENERIC_TAGS = (
    "clinical", "lab", "release-2026", "pilot", "production", "eu", "uk", "us", "validated",
    "needs-review", "high-priority", "legacy", "nlp", "coding", "quality", "ward-rollout",
)  # fmt: skip
OWNERS = tuple(
    f"{name}@bench"
    for name in (
        "ada", "otto", "mira", "jonas", "lea", "samir", "ines", "pavel", "greta", "tomas", "amara",
        "hugo", "yuki", "nadia", "felix", "zofia", "emil", "clara", "ravi", "lucia", "bram", "elif",
        "mateo", "sofia", "kwame", "anouk", "lars", "chiara", "dmitri", "ana", "oskar", "leila",
        "ruben", "hana", "viktor", "marta", "teo", "ingrid", "malik", "rosa",
    )
)  # fmt: skip
KINDS = {  # kind: (id prefix, weight, title templates)
    "mapping": ("map", 25, ("{term} to {term2}", "{term} to {term2} mapping ({domain})",
                            "Local {domain} terms to {term}", "{term} to {term2} (trial)")),
    "coverage": ("cov", 15, ("{term} coverage, depth {n}", "{term} {domain} coverage",
                             "{domain} coverage of {term}", "{term} coverage ({year} release)")),
    "overlay": ("ovl", 15, ("{lang} labels for {term}", "{domain} synonyms overlay",
                            "{lang} {domain} labels", "Lab unit conversions for {term}")),
    "ingestion": ("ing", 10, ("{term} {year} release", "{term} {year}-{month:02d} import",
                              "{term} delta release {n}", "Local {domain} terms export")),
    "readiness": ("rdy", 12, ("{domain} readiness report", "{term} readiness for {domain}",
                              "{domain} go-live readiness, wave {n}")),
    "prompt_pack": ("pp", 13, ("{domain} prompt pack v{n}", "{domain} summary prompt pack",
                               "{term} coding assistant prompts v{n}")),
    "governance": ("gov", 10, ("{term} licence review {year}", "{domain} go-live sign-off",
                               "{term} release approval {n}", "Data protection review: {domain}")),
}  # fmt: skip
STATUSES = (("approved", 45), ("in_review", 20), ("draft", 20), ("deprecated", 10), ("blocked", 5))
SENTENCES = (
    "Covers {pct}% of the {domain} codes seen in the last {n} months.",
    "Candidate mappings above 0.{d} confidence, reviewed by the {team} team.",
    "Built from {term} with {n} manual overrides and {m} retired concepts.",
    "Labels checked by {lang} clinicians for {domain}.",
    "Readiness gates: terminology freshness, mapping coverage and reviewer sign-off.",
    "Prompts ground the assistant in {term} codes for {domain} notes.",
    "Replaces the {year} release after the {term} update.",
    "Known gaps: {word}, {word2} and rare {domain} findings.",
)
_CLINICAL_TEXT = """
    cholera sepsis pneumonia myocardial infarction hypertension diabetes mellitus neoplasm carcinoma
    fracture asthma bronchitis influenza tuberculosis hepatitis cirrhosis pancreatitis appendicitis
    anaemia leukaemia lymphoma melanoma dermatitis psoriasis eczema arthritis osteoporosis gout
    migraine epilepsy stroke aneurysm embolism thrombosis arrhythmia fibrillation tachycardia
    bradycardia angina cardiomyopathy nephropathy retinopathy neuropathy dialysis transplant
    haemoglobin creatinine glucose potassium sodium troponin bilirubin albumin cholesterol ferritin
    lactate procalcitonin platelets leukocytes urinalysis culture biopsy histology cytology
    amoxicillin metformin atorvastatin lisinopril amlodipine omeprazole salbutamol insulin warfarin
    apixaban paracetamol ibuprofen morphine prednisolone levothyroxine sertraline fluoxetine
    allergy anaphylaxis rash nausea vomiting dizziness fatigue headache seizure syncope delirium
    depression anxiety schizophrenia dementia autism obesity malnutrition dehydration hypoglycaemia
    pregnancy preeclampsia gestational neonatal jaundice prematurity caesarean postpartum
    oncology chemotherapy radiotherapy metastasis staging tumour marker screening mammography
    ultrasound radiograph tomography magnetic resonance contrast dose interaction contraindication
    adverse reaction hepatotoxicity nephrotoxicity overdose withdrawal vaccination immunisation
    synonym hierarchy concept descriptor qualifier laterality severity episode encounter procedure
    observation specimen unit quantity panel battery reference range abnormal critical flag
"""
CLINICAL_WORDS = tuple(_CLINICAL_TEXT.split())
CODE_LINES = (
    ("A00.0", "Cholera due to Vibrio cholerae 01", "63650001", "Cholera"),
    ("A41.9", "Sepsis, unspecified organism", "91302008", "Sepsis"),
    ("E11.9", "Type 2 diabetes mellitus without complications", "44054006", "Diabetes mellitus type 2"),
    ("I10", "Essential (primary) hypertension", "59621000", "Essential hypertension"),
    ("I21.4", "Acute subendocardial myocardial infarction", "401314000", "Acute NSTEMI"),
    ("I48.9", "Atrial fibrillation, unspecified", "49436004", "Atrial fibrillation"),
    ("J18.9", "Pneumonia, unspecified organism", "233604007", "Pneumonia"),
    ("J45.9", "Asthma, unspecified", "195967001", "Asthma"),
    ("N18.3", "Chronic kidney disease, stage 3", "433144002", "Chronic kidney disease stage 3"),
    ("C50.9", "Malignant neoplasm of breast", "254837009", "Malignant tumour of breast"),
    ("F32.9", "Depressive episode, unspecified", "35489007", "Depressive disorder"),
    ("G40.9", "Epilepsy, unspecified", "84757009", "Epilepsy"),
    ("K35.8", "Acute appendicitis, other", "85189001", "Acute appendicitis"),
    ("O14.9", "Pre-eclampsia, unspecified", "398254007", "Pre-eclampsia"),
    ("T78.2", "Anaphylactic shock, unspecified", "39579001", "Anaphylaxis"),
)
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_START_S = int(YEAR_START.timestamp())
YEAR_SPAN_S = int((datetime(2026, 11, 27, tzinfo=UTC) - YEAR_START).total_seconds())


_ZIPF = tuple(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(CLINICAL_WORDS))))


def _pick(rng: random.Random, items: Sequence[Any]) -> Any:
    """`rng.choice`, without its overhead (100,000 records draw a few million times)."""
    return items[int(rng.random() * len(items))]


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _sentences(rng: random.Random, count: int) -> list[list[str]]:
    """A pool of summary sentences (as words), drawn once per tenant."""
    pool = []
    for _ in range(count):
        sentence = _pick(rng, SENTENCES).format(
            term=_pick(rng, TERMINOLOGIES)[0],
            domain=_pick(rng, DOMAINS),
            lang=_pick(rng, LANGUAGES)[0],
            year=_pick(rng, (2024, 2025)),
            n=_between(rng, 2, 18),
            pct=_between(rng, 40, 99),
            d=_between(rng, 5, 9),
            m=_between(rng, 2, 400),
            team=_pick(rng, ("coding", "terminology", "pharmacy", "lab", "clinical safety")),
            word=_pick(rng, CLINICAL_WORDS),
            word2=_pick(rng, CLINICAL_WORDS),
        )
        pool.append(sentence.split())
    return pool


def _summary_text(rng: random.Random, pool: Sequence[list[str]]) -> str:
    """20-40 words: sentences of the pool and Zipf-distributed clinical words."""
    wanted = _between(rng, 20, 40)
    words: list[str] = []
    while len(words) < wanted:
        if rng.random() < 0.6:
            words += _pick(rng, pool)
        else:
            words += rng.choices(CLINICAL_WORDS, cum_weights=_ZIPF, k=_between(rng, 4, 9))
    text = " ".join(words[:wanted]).rstrip(".,:;")
    return text[0].upper() + text[1:] + "."


def _source_text(rng: random.Random) -> str:
    lines = []
    for _ in range(_between(rng, 1, 6)):
        code, text, concept, preferred = _pick(rng, CODE_LINES)
        lines.append(f"{code} {text} -> {concept} |{preferred} (disorder)|")
    return "\n".join(lines)


_KIND_NAMES = tuple(KINDS)
_KIND_WEIGHTS = tuple(itertools.accumulate(spec[1] for spec in KINDS.values()))
_STATUS_NAMES = tuple(s for s, _ in STATUSES)
_STATUS_WEIGHTS = tuple(itertools.accumulate(w for _, w in STATUSES))


def _record(rng: random.Random, number: int, pool: Sequence[list[str]]) -> dict[str, Any]:
    kind = rng.choices(_KIND_NAMES, cum_weights=_KIND_WEIGHTS)[0]
    prefix, _, titles = KINDS[kind]
    term, term2 = _pick(rng, TERMINOLOGIES), _pick(rng, TERMINOLOGIES)
    if term2 is term:
        term2 = TERMINOLOGIES[(TERMINOLOGIES.index(term) + 1) % len(TERMINOLOGIES)]
    language, language_tag = _pick(rng, LANGUAGES)
    domain = _pick(rng, DOMAINS)
    template = _pick(rng, titles)
    title = template.format(
        term=term[0],
        term2=term2[0],
        domain=domain,
        lang=language,
        year=_pick(rng, (2024, 2025, 2026)),
        month=_between(rng, 1, 12),
        n=_between(rng, 2, 9),
    )
    title = title[0].upper() + title[1:]
    tags = [term[1], domain.replace(" ", "-")]
    if "{term2}" in template:
        tags.append(term2[1])
    if kind == "overlay":
        tags.append(language_tag)
    for _ in range(_between(rng, 0, 3)):
        tag = _pick(rng, GENERIC_TAGS)
        if tag not in tags:
            tags.append(tag)
    status = rng.choices(_STATUS_NAMES, cum_weights=_STATUS_WEIGHTS)[0]
    created = YEAR_START_S + int(rng.random() * YEAR_SPAN_S)
    updated = min(created + int(rng.random() * 30 * 86_400), YEAR_START_S + YEAR_SPAN_S)
    updated_at = datetime.fromtimestamp(updated, UTC).isoformat(timespec="milliseconds")
    licensed = kind != "prompt_pack" and rng.random() < 0.7
    artifact_id = f"{prefix}-{term[1].replace('-', '')}-{number:06d}"
    inputs = 0 if kind == "ingestion" else _between(rng, 1, 3)
    return {
        "id": artifact_id,
        "kind": kind,
        "title": title,
        "summary": _summary_text(rng, pool),
        "version": _between(rng, 1, 12),
        "owner": _pick(rng, OWNERS),
        "tags": tags,
        "license_tag": term[2] if licensed else "internal",
        "governance_status": status,
        "licensing_notes": term[3] if licensed else None,
        "source_uri": f"s3://bench-artifacts/{kind}/{artifact_id}/v1.parquet",
        "source_text": _source_text(rng) if rng.random() < 0.35 else None,
        "created_at": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "published_at": updated_at,
        "updated_at": updated_at,
        "deprecated_at": updated_at if status == "deprecated" else None,
        "inputs": [
            {"id": f"ing-{_pick(rng, TERMINOLOGIES)[1].replace('-', '')}-{int(rng.random() * number):06d}",
             "relation": "derived_from"}
            for _ in range(inputs)
        ],
    }  # fmt: skip


def generate_records(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible tenant, not a secret
    pool = _sentences(rng, 5_000)
    return [_record(rng, number, pool) for number in range(count)]


# -- the queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchQuery:
    category: str
    text: str = ""
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    licensed: bool = False  # the caller holds gui:license:restricted

    @property
    def hidden(self) -> frozenset[str]:
        return frozenset() if self.licensed else HIDDEN_FOR_VIEWERS

    def params(self) -> list[tuple[str, str]]:
        pairs = [("q", self.text)] if self.text else []
        pairs += [("kind", k) for k in self.kinds] + [("tag", t) for t in self.tags]
        pairs += [("status", s) for s in self.statuses]
        if self.updated_from:
            pairs.append(("updated_from", self.updated_from.isoformat()))
        if self.updated_to:
            pairs.append(("updated_to", self.updated_to.isoformat()))
        return [*pairs, ("limit", str(LIMIT))]

    def engine_query(self) -> SearchQuery:
        return SearchQuery(
            text=self.text,
            kinds=self.kinds,
            tags=self.tags,
            statuses=self.statuses,
            updated_from=self.updated_from,
            updated_to=self.updated_to,
            limit=LIMIT,
            hidden_fields=self.hidden,
        )


# One cycle of 20: the mix of the query list (200 queries: 50 words, 40 pairs, 20 phrases...).
CYCLE = (
    ("word",) * 5 + ("two words",) * 4 + ("phrase",) * 2 + ("prefix",) * 2 + ("boolean",)
    + ("filtered",) * 4 + ("browse",) * 2
)  # fmt: skip
QUERY_WORDS = (
    *(t[1] for t in TERMINOLOGIES), *(t[0].split()[0] for t in TERMINOLOGIES),
    "labels", "mapping", "coverage", "readiness", "prompt", "governance", "licence", "synonyms",
    "release", "review", "sign-off", "units", "trial", *DOMAINS[:12], *(lang for lang, _ in LANGUAGES[:5]),
)  # fmt: skip


def _term(rng: random.Random) -> str:
    return rng.choice(QUERY_WORDS) if rng.random() < 0.6 else rng.choice(CLINICAL_WORDS)


def _phrase(rng: random.Random) -> str:
    term, term2 = rng.sample(TERMINOLOGIES, 2)
    return rng.choice(
        (
            f'"{rng.choice(DOMAINS)}"',
            f'"{rng.choice(LANGUAGES)[0]} labels"',
            f'"{term[0]} to {term2[0]}"',
            '"prompt pack"',
            '"go-live sign-off"',
            f'"{rng.choice(CLINICAL_WORDS)} {rng.choice(CLINICAL_WORDS)}"',
            f'"{rng.choice(CODE_LINES)[1]}"',
        )
    )


def _boolean(rng: random.Random) -> str:
    return rng.choice(
        (
            f"{_term(rng)} AND {rng.choice(tuple(KINDS)).replace('_', ' ')}",
            f"{rng.choice(TERMINOLOGIES)[1]} OR {rng.choice(TERMINOLOGIES)[1]}",
            f"title:{rng.choice(('labels', 'coverage', 'readiness', 'mapping', 'review'))}",
            f"tags:{rng.choice(GENERIC_TAGS)} {_term(rng)}",
            f"{_term(rng)} -legacy",
        )
    )


def _filters(rng: random.Random, how_many: int) -> dict[str, Any]:
    chosen = rng.sample(("kind", "tag", "status", "dates"), how_many)
    filters: dict[str, Any] = {}
    if "kind" in chosen:
        filters["kinds"] = tuple(rng.sample(tuple(KINDS), rng.choice((1, 1, 2))))
    if "tag" in chosen:
        filters["tags"] = (rng.choice((*GENERIC_TAGS, *(t[1] for t in TERMINOLOGIES))),)
    if "status" in chosen:
        filters["statuses"] = tuple(rng.sample([s for s, _ in STATUSES], rng.choice((1, 2))))
    if "dates" in chosen:
        start = YEAR_START + timedelta(days=rng.randrange(300))
        filters["updated_from"] = start
        filters["updated_to"] = start + timedelta(days=rng.choice((7, 30, 90)))
    return filters


def make_queries(count: int, seed: int) -> list[BenchQuery]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible query list
    queries = []
    for number in range(count):
        category = CYCLE[number % len(CYCLE)]
        licensed = number % 10 == 9
        if category == "word":
            query = BenchQuery(category, _term(rng))
        elif category == "two words":
            query = BenchQuery(category, f"{_term(rng)} {_term(rng)}")
        elif category == "phrase":
            query = BenchQuery(category, _phrase(rng))
        elif category == "prefix":
            query = BenchQuery(category, f"{rng.choice((*QUERY_WORDS, *CLINICAL_WORDS))[:5].rstrip('-')}*")
        elif category == "boolean":
            query = BenchQuery(category, _boolean(rng))
        elif category == "filtered":
            query = BenchQuery(category, _term(rng), **_filters(rng, rng.choice((1, 1, 2))))
        else:
            query = BenchQuery(category, "", **_filters(rng, rng.choice((1, 2))))
        queries.append(dataclasses.replace(query, licensed=licensed))
    return queries


# -- fakes and timers -----------------------------------------------------------------------------


class MemoryCounters:
    """The rate limiter's CounterStore in memory (as tests/unit/test_rate_limit.py's fake)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def increment_below(
        self, key: Mapping[str, Any], *, ceiling: int, expires_at: int, amount: int = 1
    ) -> int | None:
        k = (str(key["pk"]), str(key["sk"]))
        if self.counts[k] + amount > ceiling:
            return None
        self.counts[k] += amount
        return self.counts[k]

    def read_count(self, key: Mapping[str, Any]) -> int:
        return self.counts[(str(key["pk"]), str(key["sk"]))]


class NullAudit:
    def append(self, record: Any) -> None:
        """Reads are not audited; the sink is never called by this bench's GETs."""


class TimedObjects(ObjectStore):
    """The S3 adapter, with the seconds spent in each of its calls added up per method (calls in
    parallel threads add up: more than the wall time), and the bytes each moved."""

    def __init__(self, bucket: str, client: Any) -> None:
        super().__init__(bucket, client)
        self.spent: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.moved: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.spent[name] += time.perf_counter() - started
                self.calls[name] += 1

    def _moved(self, name: str, size: int) -> None:
        with self._lock:
            self.moved[name] += size

    def put_bytes(self, key: str, body: bytes, **kwargs: Any) -> Any:
        with self._timed("put"):
            etag = super().put_bytes(key, body, **kwargs)
        self._moved("put", len(body))
        return etag

    def upload(self, key: str, path: str, **kwargs: Any) -> None:
        with self._timed("put"):
            super().upload(key, path, **kwargs)
        self._moved("put", Path(path).stat().st_size)

    def download_hashed(self, key: str, path: str) -> tuple[int, str] | None:
        with self._timed("download"):
            got = super().download_hashed(key, path)
        self._moved("download", got[0] if got else 0)
        return got

    def get_bytes(self, *args: Any, **kwargs: Any) -> Any:
        with self._timed("get"):
            return super().get_bytes(*args, **kwargs)

    def download(self, key: str, path: str) -> None:
        with self._timed("download"):
            super().download(key, path)
        self._moved("download", Path(path).stat().st_size)

    def delete(self, key: str) -> None:
        with self._timed("delete"):
            super().delete(key)


class TimedStore(IndexStore):
    """The index store, with the seconds spent in `manifest`, `fetch` and `publish` added up."""

    def __init__(self, objects: TimedObjects, *, workers: int = WORKERS) -> None:
        super().__init__(objects, workers=workers)
        self.objects = objects
        self.spent: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def _add(self, name: str, started: float) -> None:
        self.spent[name] += time.perf_counter() - started
        self.calls[name] += 1

    def manifest(self, tenant: str, *, if_none_match: str | None = None) -> IndexManifest | None:
        started = time.perf_counter()
        try:
            return super().manifest(tenant, if_none_match=if_none_match)
        finally:
            self._add("manifest", started)

    def fetch(self, manifest: IndexManifest, folder: Path, *, held: Any = None) -> Fetched:
        started = time.perf_counter()
        try:
            return super().fetch(manifest, folder, held=held)
        finally:
            self._add("fetch", started)

    def publish(
        self,
        tenant: str,
        folder: Path,
        *,
        documents: int,
        previous: IndexManifest | None,
        fingerprint: Fingerprint | None = None,
    ) -> IndexManifest:
        started = time.perf_counter()
        try:
            return super().publish(
                tenant, folder, documents=documents, previous=previous, fingerprint=fingerprint
            )
        finally:
            self._add("publish", started)

    def publish_archive(
        self, tenant: str, folder: Path, *, documents: int, previous: IndexManifest | None
    ) -> IndexManifest:
        started = time.perf_counter()
        try:
            return super().publish_archive(tenant, folder, documents=documents, previous=previous)
        finally:
            self._add("publish_archive", started)

    def snapshot(self) -> dict[str, float]:
        return {
            **self.spent,
            **{f"s3 {k}": v for k, v in self.objects.spent.items()},
            **{f"calls {k}": float(v) for k, v in self.objects.calls.items()},
            **{f"bytes {k}": float(v) for k, v in self.objects.moved.items()},
        }


def _delta(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    return {key: after[key] - before.get(key, 0.0) for key in after}


@dataclass
class Split:
    """Seconds spent in some functions since the last reset: the engine's search, its facet pass
    and highlighting, the route's masking of the hits and `LocalIndexes.get`."""

    spent: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    available: dict[str, bool] = field(default_factory=dict)

    def reset(self) -> None:
        self.spent.clear()


@contextlib.contextmanager
def timing_wrappers() -> Iterator[Split]:
    """Timing wrappers around those functions, for the warm step only. A part whose (private)
    name changed in the code is reported as not measured."""
    split = Split()

    def timed(function: Callable[..., Any], part: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                split.spent[part] += time.perf_counter() - started

        return wrapper

    highlighter = getattr(highlights, "Highlighter", None)
    targets: tuple[tuple[str, Any, str], ...] = (
        ("engine", SearchIndex, "search"),
        ("facets", SearchIndex, "_facets"),
        ("highlights", highlighter, "highlights"),
        ("masking", use_cases, "masked_hits"),
        ("indexes.get", LocalIndexes, "get"),
    )
    with contextlib.ExitStack() as patches:
        for part, owner, name in targets:
            found = owner.__dict__.get(name) if owner is not None else None
            split.available[part] = found is not None
            if isinstance(found, staticmethod):
                wrapped: Any = staticmethod(timed(found.__func__, part))
            elif callable(found):
                wrapped = timed(found, part)
            else:
                continue
            patches.enter_context(mock.patch.object(owner, name, wrapped))
        yield split


# -- steps ----------------------------------------------------------------------------------------


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def build(records: Sequence[Mapping[str, Any]], folder: Path, raw_folder: Path) -> dict[str, Any]:
    """Row 1: the engine's build, then tantivy's own indexing of the same documents (the baseline)."""
    index = SearchIndex.create(folder)
    started = time.perf_counter()
    index.upsert(records)
    upserted = time.perf_counter()
    index.commit()
    committed = time.perf_counter()
    index.close()  # waits for the merges: the folder is then a complete snapshot to archive
    closed = time.perf_counter()
    seconds = committed - started
    # Baseline: the documents converted beforehand (untimed), then added to a bare writer.
    prepared = [search_index.tantivy_document(document_of(r)) for r in records]
    raw_folder.mkdir(parents=True)
    raw = tantivy.Index(analysis.schema(), path=str(raw_folder), reuse=False)
    raw.register_tokenizer(analysis.TEXT_TOKENIZER, analysis.analyzer())
    writer = raw.writer(heap_size=search_index.WRITER_HEAP_BYTES, num_threads=search_index.WRITER_THREADS)
    raw_started = time.perf_counter()
    for document in prepared:
        writer.add_document(document)
    writer.commit()
    raw_seconds = time.perf_counter() - raw_started
    writer.wait_merging_threads()
    del prepared, writer, raw
    shutil.rmtree(raw_folder, ignore_errors=True)
    return {
        "documents": index.count(),
        "seconds": seconds,
        "upsert_s": upserted - started,
        "commit_s": committed - upserted,
        "close_s": closed - committed,
        "docs_per_s": len(records) / seconds,
        "raw_tantivy_s": raw_seconds,
        "raw_docs_per_s": len(records) / raw_seconds,
        "folder_bytes": _folder_bytes(folder),
        "segments": _segments(folder),
        "ratio": seconds / raw_seconds,
    }


def publish(
    store: TimedStore, s3: Any, folder: Path, documents: int
) -> tuple[dict[str, IndexManifest], dict[str, Any]]:
    """Row 2: the whole index published in files (as deployed) and, for a second tenant, as one
    archive (the layout before); baseline: one PutObject of the archive's bytes."""
    body = archive(folder)  # the baseline's bytes (publish_archive makes them again, timed)
    started = time.perf_counter()
    s3.put_object(Bucket=BUCKET, Key="bench/raw-upload.tar.gz", Body=body)
    raw_put_s = time.perf_counter() - started
    before = store.snapshot()
    started = time.perf_counter()
    manifest = store.publish(TENANT, folder, documents=documents, previous=None)
    seconds = time.perf_counter() - started
    spent = _delta(store.snapshot(), before)
    before = store.snapshot()
    started = time.perf_counter()
    legacy = store.publish_archive(ARCHIVE_TENANT, folder, documents=documents, previous=None)
    archive_s = time.perf_counter() - started
    legacy_spent = _delta(store.snapshot(), before)
    return {TENANT: manifest, ARCHIVE_TENANT: legacy}, {
        "seconds": seconds,
        "files": len(manifest.files),
        "bytes": spent.get("bytes put", 0.0),
        "uploads_s": spent.get("s3 put", 0.0),  # added up over the parallel uploads
        "archive_layout_s": archive_s,
        "archive_layout_uploads_s": legacy_spent.get("s3 put", 0.0),
        "archive_bytes": len(body),
        "raw_put_s": raw_put_s,
        "ratio": seconds / raw_put_s,
        "archive_layout_ratio": archive_s / raw_put_s,
    }


class SearchFunction:
    """A search container: a `LocalIndexes` in a fresh root, the app as handler.py builds it, with
    the guard and audit on in-memory stores, behind `rest_handler`."""

    def __init__(self, store: IndexStore, root: Path, observers: tuple[Any, Any]) -> None:
        settings = SearchSettings()  # type: ignore[call-arg]  # from the environment the stack gives it
        logger, metrics = observers
        self.indexes = LocalIndexes(
            store,
            root,
            check_s=settings.manifest_check_s,
            max_bytes=settings.cache_mb << 20,
            max_tenants=settings.max_tenants,
        )
        guard = Guard(
            region=settings.region,
            region_urls=settings.region_urls,
            tenants=TenantDirectory(
                MemoryTable(
                    [TENANT_ITEM, *({**TENANT_ITEM, "pk": t} for t in (EMPTY_TENANT, ARCHIVE_TENANT))]
                ),
                ttl_s=settings.tenant_cache_s,
            ),
            rate_limiter=RateLimiter(MemoryCounters()) if settings.rate_limiting else None,
            replay=None,
            metrics=metrics,
        )
        started = time.perf_counter()
        app = create_app(settings, indexes=self.indexes, guard=guard, audit=NullAudit(), metrics=metrics)
        self.handler = rest_handler(app, logger=logger, metrics=metrics)
        self.create_s = time.perf_counter() - started

    def call(self, event: dict[str, Any]) -> tuple[float, float, dict[str, Any]]:
        """Seconds of the whole call (handler + json.loads of the body), of json.loads, and the body."""
        context = lambda_context(FUNCTION, REGION)
        started = time.perf_counter()
        answer = self.handler(event, context)
        parsing = time.perf_counter()
        body: dict[str, Any] = json.loads(answer["body"])
        ended = time.perf_counter()
        if answer["statusCode"] != 200:
            raise RuntimeError(f"search answered {answer['statusCode']}: {answer['body'][:300]}")
        return ended - started, ended - parsing, body


def event_for(query: BenchQuery, tenant: str = TENANT) -> dict[str, Any]:
    """The proxy event API Gateway delivers after the authorizer (as bench/rate_limit_overhead.py)."""
    now = int(time.time())
    scopes = rbac.ROLE_SCOPES["viewer"] | ({rbac.LICENSE_RESTRICTED} if query.licensed else set())
    subject = "licensed@bench" if query.licensed else "viewer@bench"
    principal = Principal(tenant, subject, frozenset(scopes), ("viewer",), None, now, now + 3600)
    event: dict[str, Any] = authorized_get(PATH, principal, REGION, query=urlencode(query.params()))
    return event


COLD_VARIANTS = (  # name, workers (None: the archive layout's tenant)
    ("files, parallel GETs", WORKERS),
    ("files, one GET at a time", 1),
    ("archive (before)", None),
)


def cold_path(
    store: TimedStore,
    s3: Any,
    manifests: Mapping[str, IndexManifest],
    work: Path,
    observers: tuple[Any, Any],
    repetitions_wanted: int = COLD_REPETITIONS,
) -> tuple[SearchFunction, list[dict[str, Any]]]:
    """Row 3: per repetition, a raw GetObject of the archive (baseline), then per variant a new
    container: `LocalIndexes.get` and the first query through the handler. The last container of
    the first variant (as deployed) is kept."""
    repetitions: list[dict[str, Any]] = []
    kept: SearchFunction | None = None
    for repetition in range(repetitions_wanted):
        started = time.perf_counter()
        size = len(s3.get_object(Bucket=BUCKET, Key=manifests[ARCHIVE_TENANT].archive)["Body"].read())
        raw_get_s = time.perf_counter() - started
        for number, (variant, workers) in enumerate(COLD_VARIANTS):
            tenant = TENANT if workers is not None else ARCHIVE_TENANT
            variant_store = (
                store if workers in (None, WORKERS) else TimedStore(store.objects, workers=workers)
            )
            root = work / f"container-{repetition}-{number}"
            function = SearchFunction(variant_store, root, observers)
            before = variant_store.snapshot()
            started = time.perf_counter()
            index, _ = function.indexes.get(tenant)
            get_s = time.perf_counter() - started
            spent = _delta(variant_store.snapshot(), before)
            assert index is not None
            first_s, _, body = function.call(event_for(BenchQuery("word", COLD_QUERY), tenant))
            fetch = spent.get("fetch", 0.0)
            fetched = function.indexes.fetched.by_tenant[tenant]
            repetitions.append(
                {
                    "variant": variant,
                    "repetition": repetition + 1,
                    "get_s": get_s,
                    "manifest_s": spent.get("manifest", 0.0),
                    "fetch_s": fetch,
                    "download_s": spent.get("s3 download", 0.0),  # added up over parallel GETs
                    "files": fetched.downloaded,
                    "downloaded_bytes": fetched.downloaded_bytes,
                    "open_s": get_s - spent.get("manifest", 0.0) - fetch,
                    "first_query_s": first_s,
                    "first_query_total": body["total"],
                    "app_create_s": function.create_s,
                    "raw_get_s": raw_get_s,
                    "archive_bytes": size,
                    "folder_bytes": _folder_bytes(index.path),
                }
            )
            print(
                f"  cold {repetition + 1} ({variant}): get {get_s:.2f} s, "
                f"first query {first_s * 1000:.0f} ms",
                file=sys.stderr,
            )
            if number == 0 and repetition == repetitions_wanted - 1:
                kept = function
            else:
                shutil.rmtree(root, ignore_errors=True)  # its /tmp
    assert kept is not None
    return kept, repetitions


class RawTantivy:
    """The baseline: tantivy alone on the same folder, the same default fields (and boosts) and
    the same filter clauses, the top 20 and their stored documents; no facets, highlights or JSON."""

    def __init__(self, folder: Path) -> None:
        self.index = tantivy.Index.open(str(folder))
        self.index.register_tokenizer(analysis.TEXT_TOKENIZER, analysis.analyzer())
        self.schema = self.index.schema

    def _filters(self, query: BenchQuery) -> list[tantivy.Query]:
        schema = self.schema
        filters = [tantivy.Query.term_query(schema, "tags_raw", tag) for tag in query.tags]
        if query.kinds:
            filters.append(tantivy.Query.term_set_query(schema, "kind", list(query.kinds)))
        if query.statuses:
            filters.append(tantivy.Query.term_set_query(schema, "governance_status", list(query.statuses)))
        if query.updated_from or query.updated_to:
            filters.append(
                tantivy.Query.range_query(
                    schema,
                    "updated_at",
                    tantivy.FieldType.Date,
                    lower_bound=query.updated_from,
                    upper_bound=query.updated_to,
                    include_lower=True,
                    include_upper=False,
                )
            )
        return [tantivy.Query.const_score_query(f, 0.0) for f in filters]

    def search(self, query: BenchQuery) -> int:
        """The match count (tantivy's own count, as a search returns it by default)."""
        searcher = self.index.searcher()
        clauses = self._filters(query)
        if query.text:
            fields = [name for name in SEARCHABLE_FIELDS if name not in query.hidden]
            parsed = self.index.parse_query(
                query.text, default_field_names=fields, field_boosts={f: FIELD_BOOSTS[f] for f in fields}
            )
            clauses.insert(0, parsed)
        if not clauses:
            combined = tantivy.Query.all_query()
        elif len(clauses) == 1:
            combined = clauses[0]
        else:
            combined = tantivy.Query.boolean_query([(tantivy.Occur.Must, c) for c in clauses])
        if query.text:
            found = searcher.search(combined, LIMIT)
        else:
            found = searcher.search(combined, LIMIT, order_by_field="updated_at", order=tantivy.Order.Desc)
        for _, address in found.hits:
            searcher.doc(address).get_first("doc")
        return int(getattr(found, "count", 0) or 0)


def _summary(seconds: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(seconds, 0.5) * 1000,
        "p95_ms": percentile(seconds, 0.95) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
        "mean_ms": statistics.fmean(seconds) * 1000,
    }


PATHS = ("raw", "engine", "handler", "no index")
PART_SOURCES = {  # a part of the table: the timing wrapper it comes from
    "engine: facet pass": "facets",
    "engine: highlights": "highlights",
    "handler: engine": "engine",
    "handler: masking": "masking",
    "handler: LocalIndexes.get": "indexes.get",
}


@dataclass
class Samples:
    seconds: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PATHS})
    by_category: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    matches: dict[str, list[int]] = field(default_factory=dict)
    parts: dict[str, list[float]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    def add(self, path: str, category: str, seconds: float) -> None:
        self.seconds[path].append(seconds)
        self.by_category.setdefault((path, category), []).append(seconds)

    def part(self, name: str, seconds: float) -> None:
        self.parts.setdefault(name, []).append(seconds)


def _run_one(
    path: str,
    query: BenchQuery,
    events: tuple[dict[str, Any], dict[str, Any]],
    tools: tuple[RawTantivy, SearchIndex, SearchFunction],
    split: Split,
    samples: Samples | None,
    totals: dict[str, int],
) -> None:
    raw, index, function = tools
    split.reset()
    parsing = 0.0
    if path == "raw":
        started = time.perf_counter()
        totals[path] = raw.search(query)
        seconds = time.perf_counter() - started
    elif path == "engine":
        started = time.perf_counter()
        totals[path] = index.search(query.engine_query()).total
        seconds = time.perf_counter() - started
    elif path == "handler":
        seconds, parsing, body = function.call(events[0])
        totals[path] = int(body["total"])
    else:
        seconds, _, body = function.call(events[1])
        assert body["total"] == 0
    if samples is None:
        return
    samples.add(path, query.category, seconds)
    spent = split.spent
    if path == "engine":
        samples.part("engine: facet pass", spent["facets"])
        samples.part("engine: highlights", spent["highlights"])
        samples.part("engine: the rest", seconds - spent["facets"] - spent["highlights"])
    elif path == "handler":
        samples.part("handler: engine", spent["engine"])
        samples.part("handler: masking", spent["masking"])
        samples.part("handler: LocalIndexes.get", spent["indexes.get"])
        samples.part("handler: json.loads", parsing)
        rest = seconds - spent["engine"] - spent["masking"] - spent["indexes.get"] - parsing
        samples.part("handler: the rest", rest)


def warm(
    queries: Sequence[BenchQuery], raw: RawTantivy, function: SearchFunction, store: TimedStore, rounds: int
) -> dict[str, Any]:
    """Row 4: every query on the three paths, interleaved in rotating order; one untimed round first."""
    index, _ = function.indexes.get(TENANT)
    assert index is not None
    samples = Samples()
    checks_before = store.calls["manifest"]
    with timing_wrappers() as split:
        for round_number in range(rounds + 1):
            timed = samples if round_number else None
            for number, query in enumerate(queries):
                # Built untimed: API Gateway's work, not the function's.
                events = (event_for(query), event_for(query, EMPTY_TENANT))
                totals: dict[str, int] = {}
                order = (number + round_number) % len(PATHS)
                for path in PATHS[order:] + PATHS[:order]:
                    _run_one(path, query, events, (raw, index, function), split, timed, totals)
                if round_number == 0:
                    samples.matches.setdefault(query.category, []).append(totals["engine"])
                    if len(set(totals.values())) > 1:
                        samples.mismatches.append(f"{query.text!r} {query.params()}: {totals}")
            print(f"  warm round {round_number}/{rounds} done", file=sys.stderr)
        available = dict(split.available)
    paths = {path: _summary(values) for path, values in samples.seconds.items()}
    categories: dict[str, dict[str, Any]] = {}
    for (path, category), values in sorted(samples.by_category.items()):
        figures = categories.setdefault(
            category,
            {
                "queries": len(values) // rounds,
                "median_matches": statistics.median(samples.matches[category]),
            },
        )
        figures[f"{path}_p50_ms"] = percentile(values, 0.5) * 1000
    return {
        "queries": len(queries),
        "rounds": rounds,
        "samples_per_path": len(samples.seconds["raw"]),
        "paths": paths,
        "ratios": {
            path: {q: paths[path][f"{q}_ms"] / paths["raw"][f"{q}_ms"] for q in ("p50", "p95")}
            for path in PATHS[1:]
        },
        "parts": {name: _summary(values) for name, values in samples.parts.items()},
        "parts_measured": available,
        "by_category": categories,
        "total_mismatches": samples.mismatches[:20],
        "manifest_checks": store.calls["manifest"] - checks_before,
        "segments": raw.index.searcher().num_segments,
    }


def _published(record: Mapping[str, Any], version: int, number: int, status: str) -> ArtifactPublished:
    detail = {
        **{key: record[key] for key in ("kind", "title", "owner", "tags", "license_tag", "licensing_notes")},
        **{key: record[key] for key in ("source_uri", "source_text")},
        "tenant": TENANT,
        "event_id": f"bench-{record['id']}-{version}",
        "schema_version": "1",
        "artifact_id": record["id"],
        "version": version,
        "summary": f"{record['summary']} Revised in version {version}.",
        "governance_status": status,
        "diff_hash": "sha256:" + hashlib.sha256(f"{record['id']}:{version}".encode()).hexdigest(),
        "published_at": (datetime(2026, 11, 28, 9, tzinfo=UTC) + timedelta(seconds=number)).isoformat(),
        "inputs": [],
    }
    return ArtifactPublished.model_validate(detail)


def _deprecated(record: Mapping[str, Any]) -> ArtifactDeprecated:
    return ArtifactDeprecated.model_validate(
        {
            "tenant": TENANT,
            "event_id": f"bench-deprecate-{record['id']}",
            "schema_version": "1",
            "artifact_id": record["id"],
            "version": record["version"],
            "reason": "superseded by the 2026-11 release",
            "deprecated_at": "2026-11-28T10:00:00+00:00",
        }
    )


def change_batches(
    records: Sequence[Mapping[str, Any]], extra: Sequence[Mapping[str, Any]], sizes: Sequence[int], seed: int
) -> list[list[ArtifactPublished | ArtifactDeprecated]]:
    """Batches of 80% new versions, 15% new artifacts, 5% deprecations, no artifact in two batches."""
    rng = random.Random(seed)  # noqa: S311 - reproducible changes
    order = list(range(len(records)))
    rng.shuffle(order)
    live = iter(i for i in order if records[i]["governance_status"] != "deprecated")  # each once
    fresh = iter(extra)
    batches = []
    number = 0
    for size in sizes:
        updates, news = round(size * 0.8), round(size * 0.15)
        batch: list[ArtifactPublished | ArtifactDeprecated] = []
        for _ in range(updates):
            record = records[next(live)]
            batch.append(
                _published(record, record["version"] + 1, number, rng.choice(("approved", "in_review")))
            )
            number += 1
        for _ in range(news):
            batch.append(_published(next(fresh), 1, number, "draft"))
            number += 1
        for _ in range(size - updates - news):
            batch.append(_deprecated(records[next(live)]))
        rng.shuffle(batch)
        batches.append(batch)
    return batches


def _segments(folder: Path) -> int:
    return len(json.loads((folder / "meta.json").read_text())["segments"])


def incremental(
    store: TimedStore, work: Path, batches: Sequence[Sequence[ArtifactPublished | ArtifactDeprecated]]
) -> list[dict[str, Any]]:
    """Row 5: each batch through `TenantIndexes.apply` of one indexer container, timed by part; then
    a warm search container's refresh to the version published; and, for the first batch of each
    size, the same folder published in the layout before (`publish_archive`, another tenant)."""
    indexer = TenantIndexes(store, work / "indexer")
    refresh = LocalIndexes(store, work / "refresh", check_s=0.0)
    refresh.get(TENANT)  # a container holding the current version
    legacy = store.manifest(ARCHIVE_TENANT)
    sizes_seen: set[int] = set()
    results = []
    for number, batch in enumerate(batches):
        before = store.snapshot()
        started = time.perf_counter()
        applied = indexer.apply(TENANT, batch)
        seconds = time.perf_counter() - started
        spent = _delta(store.snapshot(), before)
        if applied.applied != len(batch):
            raise RuntimeError(
                f"batch {number}: {applied.applied} of {len(batch)} applied: {applied.skipped}"
            )
        fetch, publish_s = spent.get("fetch", 0.0), spent.get("publish", 0.0)
        folder = indexer._copies[TENANT].folder  # the working copy, read by the bench only
        row: dict[str, Any] = {
            "changes": len(batch),
            "seconds": seconds,
            "manifest_s": spent.get("manifest", 0.0),
            "fetch_s": fetch,
            "apply_commit_merge_s": seconds - spent.get("manifest", 0.0) - fetch - publish_s,
            "publish_s": publish_s,
            "publish_uploads": int(spent.get("calls put", 0.0)) - 1,  # the manifest's switch apart
            "publish_bytes": spent.get("bytes put", 0.0),
            "publish_deletes": int(spent.get("calls delete", 0.0)),
            "version": applied.version,
            "documents": applied.documents,
            "segments": _segments(folder),
        }
        before = store.snapshot()
        started = time.perf_counter()
        _, manifest = refresh.get(TENANT)
        fetched = refresh.fetched.by_tenant[TENANT]
        assert manifest is not None
        row.update(
            {
                "refresh_s": time.perf_counter() - started,
                "refresh_files": fetched.downloaded,
                "refresh_bytes": fetched.downloaded_bytes,
                "refresh_linked": fetched.linked,
                "index_files": len(manifest.files),
                "index_bytes": manifest.total_bytes,
            }
        )
        if len(batch) not in sizes_seen:
            sizes_seen.add(len(batch))
            before = store.snapshot()
            started = time.perf_counter()
            legacy = store.publish_archive(
                ARCHIVE_TENANT, folder, documents=applied.documents, previous=legacy
            )
            row["archive_publish_s"] = time.perf_counter() - started
            row["archive_publish_bytes"] = _delta(store.snapshot(), before).get("bytes put", 0.0)
        results.append(row)
        print(
            f"  batch {number + 1}/{len(batches)}: {len(batch)} changes in {seconds:.2f} s "
            f"(publish {publish_s:.2f} s, {row['publish_uploads']} files, "
            f"{row['publish_bytes'] / 1e6:.2f} MB)",
            file=sys.stderr,
        )
    return results


# -- the table ------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 1e6 else f"{size / 1e3:,.1f} kB"


def _row(
    name: str, value: str, baseline: str = "", ratio: str = "", goal: str = "", met: bool | None = None
) -> dict[str, Any]:
    return {"name": name, "value": value, "baseline": baseline, "ratio": ratio, "goal": goal, "met": met}


def _rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    built, published, cold, changes = (result[k] for k in ("build", "publish", "cold", "incremental"))
    warmed = result.get("warm")  # None: --publishing
    rows = [
        _row(
            f"1 build {built['documents']:,} docs (upsert + commit)",
            f"{built['seconds']:.1f} s, {built['docs_per_s']:,.0f} docs/s",
            f"raw tantivy add+commit {built['raw_tantivy_s']:.1f} s",
            f"{built['ratio']:.1f}x",
        ),
        _row(
            "  index size",
            f"folder {_mb(built['folder_bytes'])} ({published['files']} files, {_mb(published['bytes'])} "
            f"uploaded, {built['segments']} segments), archive {_mb(published['archive_bytes'])}",
            "",
            f"{published['archive_bytes'] / built['folder_bytes']:.2f} of folder",
        ),
        _row(
            "2 publish whole index, files (hash + uploads + switch)",
            f"{published['seconds']:.2f} s ({published['files']} files in parallel)",
            f"PutObject of the archive {published['raw_put_s']:.2f} s",
            f"{published['ratio']:.1f}x",
        ),
        _row(
            "2 publish whole index, archive (before)",
            f"{published['archive_layout_s']:.2f} s (archive "
            f"{published['archive_layout_s'] - published['archive_layout_uploads_s']:.2f} s, upload "
            f"{published['archive_layout_uploads_s']:.2f} s)",
            f"PutObject of the archive {published['raw_put_s']:.2f} s",
            f"{published['archive_layout_ratio']:.1f}x",
        ),
    ]
    warm_p50 = warmed["cold_query_warm_p50_s"] if warmed else None
    for rep in cold:
        name = f"3 cold {rep['repetition']} {rep['variant']}"
        if rep["variant"].startswith("archive"):
            parts = (
                f"download {_mb(rep['downloaded_bytes'])} in {_ms(rep['download_s'])}, "
                f"sum+unpack {_ms(rep['fetch_s'] - rep['download_s'])}"
            )
        else:
            parts = f"{rep['files']} files, {_mb(rep['downloaded_bytes'])} in {_ms(rep['fetch_s'])}"
        rows.append(
            _row(
                f"{name}: get",
                f"{_ms(rep['get_s'])} (manifest {_ms(rep['manifest_s'])}, {parts}, "
                f"open {_ms(rep['open_s'])})",
                f"GetObject of the archive {_ms(rep['raw_get_s'])}",
                f"{rep['get_s'] / rep['raw_get_s']:.1f}x",
            )
        )
        rows.append(
            _row(
                f"{name}: first query",
                _ms(rep["first_query_s"]),
                f"same query warm {warm_p50 * 1000:.1f} ms" if warm_p50 else "",
                f"{rep['first_query_s'] / warm_p50:.1f}x" if warm_p50 else "",
            )
        )
    if warmed is not None:
        rows += _warm_rows(warmed)
    rows += _incremental_rows(built, published, changes)
    return rows


def _warm_rows(warmed: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    paths = warmed["paths"]
    raw = paths["raw"]
    rows.append(
        _row(
            "4 warm (a) raw tantivy: p50 / p95 / p99",
            f"{raw['p50_ms']:.2f} / {raw['p95_ms']:.2f} / {raw['p99_ms']:.2f} ms",
            "baseline",
        )
    )
    labels = {
        "engine": "(b) SearchIndex.search",
        "handler": "(c) handler + json.loads",
        "no index": "(d) handler, tenant without index",
    }
    for path, label in labels.items():
        for quantile in ("p50", "p95"):
            ratio = warmed["ratios"][path][quantile]
            goal = path == "handler"
            rows.append(
                _row(
                    f"4 warm {label} {quantile}",
                    f"{paths[path][f'{quantile}_ms']:.2f} ms",
                    f"raw {raw[f'{quantile}_ms']:.2f} ms",
                    f"{ratio:.2f}x",
                    f"<= {GOAL_RATIO:.1f}x raw" if goal else "",
                    ratio <= GOAL_RATIO if goal else None,
                )
            )
    parts, measured = warmed["parts"], warmed["parts_measured"]
    for name, figures in parts.items():
        source = PART_SOURCES.get(name)
        if source is not None and not measured.get(source):
            rows.append(_row(f"  {name}", "not measured (the function's name changed)"))
            continue
        rows.append(
            _row(
                f"  {name} p50 / p95",
                f"{figures['p50_ms']:.2f} / {figures['p95_ms']:.2f} ms",
                f"raw {raw['p50_ms']:.2f} / {raw['p95_ms']:.2f} ms",
                f"{figures['p50_ms'] / raw['p50_ms']:.2f}x p50",
            )
        )
    return rows


def _incremental_rows(
    built: dict[str, Any], published: dict[str, Any], changes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    rows = []
    rebuild = built["seconds"] + published["seconds"]
    first = changes[0]
    rows.append(
        _row(
            f"5 incremental {first['changes']:,} changes, 1 batch, fresh indexer",
            f"{first['seconds']:.2f} s (fetch {first['fetch_s']:.2f}, apply+commit+merges "
            f"{first['apply_commit_merge_s']:.2f}, publish {first['publish_s']:.2f})",
            f"rebuild + publish {rebuild:.1f} s",
            f"{first['seconds'] / rebuild:.2f}x",
        )
    )
    by_size: dict[int, list[dict[str, Any]]] = {}
    for batch in changes:
        by_size.setdefault(batch["changes"], []).append(batch)
    for size, group in by_size.items():
        legacy = next(b for b in group if "archive_publish_s" in b)
        label = f"{len(group)} x {size:,}" if len(group) > 1 else f"1 x {size:,}"
        median = statistics.median(b["publish_s"] for b in group)
        rows.append(
            _row(
                f"5 publish {label} change(s): median / max",
                f"{median:.2f} / {max(b['publish_s'] for b in group):.2f} s, "
                f"{statistics.median(b['publish_uploads'] for b in group):.0f} files, "
                f"{_mb(statistics.median(b['publish_bytes'] for b in group))} (max "
                f"{_mb(max(b['publish_bytes'] for b in group))})",
                f"archive (before) {legacy['archive_publish_s']:.2f} s, "
                f"{_mb(legacy['archive_publish_bytes'])}",
                f"{median / legacy['archive_publish_s']:.2f}x",
            )
        )
        rows.append(
            _row(
                f"  apply+commit+merges, {label}: median / max",
                f"{statistics.median(b['apply_commit_merge_s'] for b in group):.2f} / "
                f"{max(b['apply_commit_merge_s'] for b in group):.2f} s; segments after "
                f"{min(b['segments'] for b in group)}-{max(b['segments'] for b in group)}",
            )
        )
        rows.append(
            _row(
                f"  a warm container's refresh, {label}: median",
                f"{_ms(statistics.median(b['refresh_s'] for b in group))}, "
                f"{statistics.median(b['refresh_files'] for b in group):.0f} files, "
                f"{_mb(statistics.median(b['refresh_bytes'] for b in group))} downloaded, "
                f"{statistics.median(b['refresh_linked'] for b in group):.0f} linked",
                f"whole index {_mb(group[-1]['index_bytes'])} in {group[-1]['index_files']} files",
                f"{statistics.median(b['refresh_bytes'] for b in group) / group[-1]['index_bytes']:.3f}"
                " of it",
            )
        )
    return rows


def _print_table(result: dict[str, Any]) -> None:
    machine = result["machine"]
    warmed = result.get("warm")
    queries = f"{warmed['queries']} queries x {warmed['rounds']} rounds" if warmed else "publishing only"
    print()
    print(
        f"search: {result['artifacts']:,} artifacts, {queries}, python {machine['python']}, tantivy "
        f"{machine['tantivy']}, {machine['cpus']} CPUs, load before {result['load_before']}, after "
        f"{result['load_after']}"
    )
    widths = (44, 74, 38, 16, 14)
    header = ("name", "value", "baseline", "ratio", "goal")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "met?")
    for row in result["rows"]:
        met = "" if row["met"] is None else ("met" if row["met"] else "NOT met")
        cells = (row["name"], row["value"], row["baseline"], row["ratio"], row["goal"])
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + met)
    if warmed is None:
        return
    print()
    columns = (
        "queries",
        "median matches",
        "raw p50",
        "engine p50",
        "handler p50",
        "no-index p50",
        "handler/raw",
    )
    print(f"{'query type (ms)':<16}" + "".join(f"{c:>15}" for c in columns))
    for category, figures in result["warm"]["by_category"].items():
        figures_row = [
            f"{figures['queries']}",
            f"{figures['median_matches']:,.0f}",
            *(f"{figures[f'{path}_p50_ms']:.2f}" for path in PATHS),
            f"{figures['handler_p50_ms'] / figures['raw_p50_ms']:.2f}x",
        ]
        print(f"{category:<16}" + "".join(f"{c:>15}" for c in figures_row))
    if result["warm"]["total_mismatches"]:
        print(f"warning: totals differ between paths for: {result['warm']['total_mismatches'][:3]}")


def _environment(endpoint: str) -> dict[str, str]:
    """The search function's environment as its stack gives it (tables are never reached: the
    guard and audit are in memory; S3 is moto's)."""
    return {
        **runtime_environment(FUNCTION, REGION),
        **MANIFEST.environment_for(
            FUNCTION,
            table_names=table_names(MANIFEST),
            bucket_name=BUCKET,
            bus_name=MANIFEST.bus.local_bus_name(),
            region=REGION,
            stage="bench",
            secret_arns={name: local_secret_arn(MANIFEST, name, region=REGION) for name in FUNCTION.secrets},
        ),
        "AWS_ENDPOINT_URL": endpoint,
        **DUMMY_CREDENTIALS,
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=int, default=100_000, help="the tenant's size (default 100,000)")
    parser.add_argument("--queries", type=int, default=200, help="queries in the list (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds over the list (default 3)")
    parser.add_argument("--changes", type=int, default=1_000, help="the incremental batch (default 1,000)")
    parser.add_argument("--seed", type=int, default=6, help="of the tenant, the queries and the changes")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--profile", type=Path, help="cProfile one more handler round into this file")
    parser.add_argument(
        "--publishing", action="store_true", help="rows 1, 2, 3 (once) and 5 only: no warm queries"
    )
    parser.add_argument("--batch", type=int, default=10, help="--publishing: changes per batch (default 10)")
    parser.add_argument("--batches", type=int, default=5, help="--publishing: batches (default 5)")
    args = parser.parse_args()
    args.changes = min(args.changes, args.artifacts // 4)  # 1.7x as many distinct artifacts are changed
    if args.artifacts < 100 or args.queries < 1 or args.rounds < 1:
        parser.error("--artifacts >= 100, --queries >= 1 and --rounds >= 1")
    return args


def run(args: argparse.Namespace, moto: MotoServer, work: Path) -> dict[str, Any]:
    s3 = aws_client("s3", endpoint_url=moto.endpoint_url, region=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    create_secrets(MANIFEST, endpoint_url=moto.endpoint_url, region=REGION)  # the cursor key
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    store = TimedStore(TimedObjects(BUCKET, s3))
    batch_size = max(1, args.changes // 10)
    sizes = [args.batch] * args.batches if args.publishing else [args.changes] + [batch_size] * 10 + [1] * 10
    started = time.perf_counter()
    everything = generate_records(args.artifacts + sum(round(s * 0.15) for s in sizes), args.seed)
    records, extra = everything[: args.artifacts], everything[args.artifacts :]
    print(
        f"  generated {len(everything):,} records in {time.perf_counter() - started:.1f} s", file=sys.stderr
    )
    result: dict[str, Any] = {"build": build(records, work / "built", work / "raw-built")}
    print(f"  built in {result['build']['seconds']:.1f} s", file=sys.stderr)
    manifests, result["publish"] = publish(store, s3, work / "built", result["build"]["documents"])
    shutil.rmtree(work / "built")
    observers = observability()
    repetitions = 1 if args.publishing else COLD_REPETITIONS
    function, result["cold"] = cold_path(store, s3, manifests, work, observers, repetitions)
    if args.publishing:
        result["incremental"] = incremental(
            store, work / "indexer", change_batches(records, extra, sizes, args.seed + 2)
        )
        return result
    index, _ = function.indexes.get(TENANT)
    assert index is not None
    queries = make_queries(args.queries, args.seed + 1)
    result["warm"] = warm(queries, RawTantivy(index.path), function, store, args.rounds)
    # The cold query's warm figure, for row 3's ratio: the same event, a few more times, warm.
    event = event_for(BenchQuery("word", COLD_QUERY))
    result["warm"]["cold_query_warm_p50_s"] = statistics.median(function.call(event)[0] for _ in range(15))
    if args.profile:
        events = [event_for(query) for query in queries]
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [function.call(event) for event in events])
        profiler.dump_stats(args.profile)
    batches = change_batches(records, extra, sizes, args.seed + 2)
    del everything, records
    result["incremental"] = incremental(store, work / "indexer", batches)
    return result


def main() -> None:
    args = _arguments()
    asyncio.set_event_loop(asyncio.new_event_loop())  # Mangum runs the app on the thread's loop
    started = time.perf_counter()
    load_before = load()
    log = args.json.with_suffix(".log")
    with (
        MotoServer("127.0.0.1", 0) as moto,
        tempfile.TemporaryDirectory(prefix="dd-search-bench-") as temporary,
        mock.patch.dict(os.environ, _environment(moto.endpoint_url)),
        stdout_to(log),
    ):
        result = run(args, moto, Path(temporary))
    result = {
        "artifacts": args.artifacts,
        "changes": args.changes,
        "seed": args.seed,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "tantivy": importlib.metadata.version("tantivy"),
            "platform": f"{platform.system()} {platform.machine()}",
        },
        "load_before": load_before,
        "load_after": load(),
        "seconds": time.perf_counter() - started,
        **result,
        "handler_stdout": log.name,  # beside the JSON: no path of this machine in the result
    }
    result["rows"] = _rows(result)
    _print_table(result)
    print(f"run time {result['seconds']:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written to {args.json} (the handler's stdout: {log})")


if __name__ == "__main__":
    main()
