"""The search index drift check of one tenant (`gui_index_rebuild.check_tenant`): the registry's
fingerprint of its (id, version) pairs against the published index's, the full comparison only when
they differ or one side has none, drift (a document missing, a stale version, an extra one) still
found and rebuilt, and existing data given its fingerprints by the first full comparison. The
registry is the repository itself on an in-memory table, written by its consumer; the index is
published to moto's S3 (in process) by the indexer."""

from __future__ import annotations

import copy
import importlib
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gui_artifacts.registry_feed import RegistryFeed
from gui_artifacts.repository import ArtifactsRepository
from gui_core.domain_events import ArtifactPublished
from gui_core.objects import ObjectStore
from gui_core.registry_fingerprint import Fingerprint
from gui_core.tenancy import Tenant
from gui_indexer.indexer import TenantIndexes
from gui_search.index import SearchIndex
from gui_search.store import IndexStore
from local.apigw import sample_event
from tests.fakes import CountedTable

BUCKET = "ddgui-data-eu-west-1"
ENV = {
    "POWERTOOLS_SERVICE_NAME": "gui_index_rebuild",
    "POWERTOOLS_METRICS_NAMESPACE": "DomainDetermine/GUI",
    "GUI_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "DATA_BUCKET": BUCKET,
    "TENANTS_TABLE": "tenants",
    "ARTIFACTS_TABLE": "artifacts",
    "INDEX_REBUILD_WORK_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/index-rebuild-work",
}


class Homed:
    def get(self, tenant_id: str) -> Tenant:
        return Tenant(tenant_id, tenant_id, "eu-west-1")


class OneTenant:
    """One tenant's registry (through its consumer) and index (through the indexer), and its check."""

    def __init__(self, module: Any, work: Path) -> None:
        self.table = CountedTable()  # the full comparison queries the registry, the fingerprints' do not
        self.registry = ArtifactsRepository(self.table)  # type: ignore[arg-type]  # the Table contract
        self.feed = RegistryFeed(region="eu-west-1", tenants=Homed(), registry=self.registry)
        self.store = IndexStore(ObjectStore(BUCKET, boto3.client("s3", region_name="eu-west-1")))
        self.indexer = TenantIndexes(self.store, work / "indexer")
        self.module = module

    def publish(
        self, artifact_id: str, version: int = 1, *, registry: bool = True, index: bool = True
    ) -> None:
        detail = copy.deepcopy(sample_event("eventbridge_artifact_published")["detail"])
        fields = {
            "artifact_id": artifact_id,
            "version": version,
            "diff_hash": f"sha256:{artifact_id}-{version}",
        }
        detail.update({**fields, "inputs": [], "event_id": str(uuid.uuid4())})
        if registry:
            assert self.feed.handle({"detail-type": "ArtifactPublished", "detail": detail}) == "applied"
        if index:
            self.indexer.apply("acme", [ArtifactPublished.model_validate(detail)])

    def check(self) -> dict[str, Any]:
        self.table.queries = 0
        return dict(self.module.check_tenant("acme", Counter()))

    def index_versions(self, work: Path) -> dict[str, int]:
        manifest = self.store.manifest("acme")
        assert manifest is not None
        folder = work / uuid.uuid4().hex
        self.store.fetch(manifest, folder)
        return SearchIndex.open(folder).versions()


@pytest.fixture
def tenant(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[OneTenant]:
    for name, value in {**ENV, "INDEX_WORK_DIR": str(tmp_path / "check")}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        sys.modules.pop("gui_indexer.gui_index_rebuild", None)
        module = importlib.import_module("gui_indexer.gui_index_rebuild")
        found = OneTenant(module, tmp_path)
        monkeypatch.setattr(module, "registry", found.registry)
        monkeypatch.setattr(module, "indexes", TenantIndexes(found.store, tmp_path / "check"))
        yield found
    sys.modules.pop("gui_indexer.gui_index_rebuild", None)


def test_equal_fingerprints_end_the_check_without_reading_the_registry_or_the_index(
    tenant: OneTenant,
) -> None:
    for n in range(5):
        tenant.publish(f"a{n}")
    tenant.publish("a1", 2)
    first = tenant.check()  # the registry's sums were never set by a full read: it reads all
    assert (first["compared"], first["rebuilt"], first["registry_fingerprint_set"]) == ("pairs", False, True)
    assert tenant.table.queries > 0

    tenant.publish("a5")
    tenant.publish("a2", 3)
    second = tenant.check()
    assert (second["compared"], second["rebuilt"]) == ("fingerprints", False)
    assert (second["source_count"], second["index_count"]) == (6, 6)
    assert tenant.table.queries == 0


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        ("missing", {"a0": 1, "a1": 1, "a2": 1, "lost": 1}),  # the index missed a publication
        ("stale", {"a0": 1, "a1": 2, "a2": 1}),  # ... or a new version
        ("extra", {"a0": 1, "a1": 1, "a2": 1}),  # ... or holds one the registry refused
    ],
)
def test_a_real_drift_is_found_by_the_fingerprints_and_rebuilt(
    tenant: OneTenant, tmp_path: Path, drift: str, expected: dict[str, int]
) -> None:
    for n in range(3):
        tenant.publish(f"a{n}")
    tenant.check()
    assert tenant.check()["compared"] == "fingerprints"
    if drift == "missing":
        tenant.publish("lost", index=False)
    elif drift == "stale":
        tenant.publish("a1", 2, index=False)
    else:
        tenant.publish("ghost", registry=False)

    found = tenant.check()
    assert (found["compared"], found["rebuilt"], found[drift]) == ("pairs", True, 1)
    assert tenant.index_versions(tmp_path) == expected
    after = tenant.check()
    assert (after["compared"], after["rebuilt"]) == ("fingerprints", False)


def test_data_from_before_the_fingerprints_gets_them_from_the_first_full_comparison(
    tenant: OneTenant, tmp_path: Path
) -> None:
    for n in range(4):
        tenant.publish(f"a{n}", index=False)
    # The index as the indexer before fingerprints published it: a manifest without one.
    folder = tmp_path / "old"
    index = SearchIndex.create(folder)
    index.upsert([tenant.registry.artifact("acme", f"a{n}") or {} for n in range(4)])
    index.commit()
    index.close()
    tenant.store.publish("acme", folder, documents=4, previous=None)
    tenant.publish("a4")  # the indexer keeps a manifest without one as it is
    manifest = tenant.store.manifest("acme")
    assert manifest is not None
    assert manifest.fingerprint is None
    assert tenant.registry.pairs("acme").fingerprint is None

    first = tenant.check()
    assert (first["compared"], first["rebuilt"]) == ("pairs", False)
    pairs = Fingerprint.of({f"a{n}": 1 for n in range(5)})
    assert tenant.registry.pairs("acme").fingerprint == pairs
    stamped = tenant.store.manifest("acme")
    assert stamped is not None
    assert (stamped.version, stamped.fingerprint) == (manifest.version, pairs)
    assert tenant.check()["compared"] == "fingerprints"
