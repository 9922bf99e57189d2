"""What an artifacts request reads, whatever the tenant holds, through the local runtime: a search
page reads its page and a constant (the same at 300 and 3,000 artifacts), every match is reachable
by paging and a cursor never leads to an empty page unless the page says `partial`; lineage reads
the edges a cut shows, and degrees stay exact beyond the old 1,000-edge limit, under concurrent and
redelivered edge events. The items read are counted by a botocore hook in this process (the local
functions run in it)."""

from __future__ import annotations

import copy
import itertools
import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest

from gui_artifacts.models import ArtifactPage, ArtifactView, LineageGraph
from gui_artifacts.registry_feed import RegistryFeed
from gui_artifacts.repository import ArtifactsRepository, order_items
from gui_core.dynamo import Table, to_dynamo
from gui_core.tenancy import Tenant
from local.apigw import sample_event
from local.runtime import LocalBackend
from stacks.manifest import ARTIFACT_EVENTS_FUNCTION, ARTIFACTS_FUNCTION, MANIFEST
from tests.contract.conftest import REGION, Client, aws, provision, table

PUBLISHED = sample_event("eventbridge_artifact_published")
BUDGET = 100  # the search's read budget in this backend (ARTIFACT_SEARCH_READ_BUDGET; 1,000 deployed)
MIGRATION_FUNCTIONS = ("gui_migrate", "gui_migrate_worker")
_numbers = itertools.count()
_TABLE = "ddgui.artifacts_scale.table"


class ItemsRead:
    """Items Query, GetItem and BatchGetItem hand back from the artifacts store, and their calls."""

    def __init__(self, table_name: str) -> None:
        self._table = table_name
        self._lock = threading.Lock()
        self.items = 0
        self.calls: Counter[str] = Counter()

    def install(self) -> ItemsRead:
        events = boto3._get_default_session().events
        events.register("before-parameter-build.dynamodb", self._params, unique_id=f"art-scale-p-{id(self)}")
        events.register("after-call.dynamodb", self._after, unique_id=f"art-scale-a-{id(self)}")
        return self

    def uninstall(self) -> None:
        events = boto3._get_default_session().events
        events.unregister("before-parameter-build.dynamodb", unique_id=f"art-scale-p-{id(self)}")
        events.unregister("after-call.dynamodb", unique_id=f"art-scale-a-{id(self)}")

    def reset(self) -> None:
        with self._lock:
            self.items, self.calls = 0, Counter()

    def _params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_TABLE] = params.get("TableName") or next(iter(params.get("RequestItems") or {}), None)

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in ("Query", "Scan") and context.get(_TABLE) == self._table:
            read = len(parsed.get("Items") or [])
        elif model.name == "GetItem" and context.get(_TABLE) == self._table:
            read = 1 if parsed.get("Item") else 0
        elif model.name == "BatchGetItem":
            read = len((parsed.get("Responses") or {}).get(self._table) or [])
        else:
            return
        with self._lock:
            self.items += read
            self.calls[model.name] += 1


@pytest.fixture(scope="module")
def items_read() -> Iterator[ItemsRead]:
    counter = ItemsRead(table("artifacts")).install()  # before the backend makes its clients
    yield counter
    counter.uninstall()


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, items_read: ItemsRead) -> Iterator[LocalBackend]:
    manifest = MANIFEST.only(ARTIFACTS_FUNCTION.name, ARTIFACT_EVENTS_FUNCTION.name, *MIGRATION_FUNCTIONS)
    functions = tuple(
        replace(fn, environment={**fn.environment, "ARTIFACT_SEARCH_READ_BUDGET": str(BUDGET)})
        if fn.name == ARTIFACTS_FUNCTION.name
        else fn
        for fn in manifest.functions
    )
    with LocalBackend(
        regions=(REGION,),
        port=0,
        seed=False,
        keys_dir=tmp_path_factory.mktemp("keys"),
        ttl_sweep_s=None,
        bus_poll_s=None,
        manifest=replace(manifest, functions=functions),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(backend: LocalBackend) -> Any:
    return aws(backend, "dynamodb")


def _client(backend: LocalBackend, tenant: str) -> Client:
    assert backend.keys is not None
    return Client(backend, backend.keys, tenant, "vic", scopes=(), roles=("viewer",))


def _record(tenant: str, n: int, *, rare_every: int) -> dict[str, Any]:
    at = f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00.000+00:00"
    return {
        "id": f"art-{n:05d}",
        "kind": "mapping" if n % 2 else "coverage",
        "title": f"Artifact {(n * 7919) % 10007:05d}",
        "version": 1,
        "owner": "ada",
        "tags": ["rare"] if n % rare_every == rare_every - 1 else ["common"],
        "license_tag": "internal",
        "diff_hash": f"sha256:{n}",
        "governance_status": "approved",
        "created_at": at,
        "updated_at": at,
        "inputs": [],
        "in_degree": 0,
        "out_degree": 0,
        "event_ids": [f"seed-{n}"],
        "revision": 1,
    }


def seed_registry(ddb: Any, tenant: str, size: int, *, rare_every: int = 1_000_000) -> None:
    """`size` artifacts written straight into the store, in the shape the feed writes (the record,
    its order items, the tenant's count): quicker than `size` events."""
    provision(ddb, tenant)
    items: list[dict[str, Any]] = [{"pk": tenant, "sk": "STAT#artifacts", "count": size}]
    for n in range(size):
        record = _record(tenant, n, rare_every=rare_every)
        items.append({"pk": tenant, "sk": f"ART#{record['id']}", "type": "artifact", **record, "listed": 1})
        items += order_items(tenant, record)
    _put_all(ddb, items)


@pytest.fixture(scope="module")
def small(backend: LocalBackend, ddb: Any) -> Client:
    tenant = f"scale-small-{next(_numbers)}"
    seed_registry(ddb, tenant, 300, rare_every=30)
    return _client(backend, tenant)


@pytest.fixture(scope="module")
def large(backend: LocalBackend, ddb: Any) -> Client:
    tenant = f"scale-large-{next(_numbers)}"
    seed_registry(ddb, tenant, 3000, rare_every=300)
    return _client(backend, tenant)


def _search(client: Client, query: str) -> ArtifactPage:
    answer = client.call("GET", "/artifacts/search", query=query)
    assert answer.status == 200, answer.body
    return ArtifactPage.model_validate(answer.json())


def _read(items_read: ItemsRead, client: Client, query: str) -> tuple[ArtifactPage, int]:
    items_read.reset()
    page = _search(client, query)
    return page, items_read.items


PAGE = 25 + 1 + 25 + 25 + 1  # order items (the page and one more), its records, their DEG counts, the count


@pytest.mark.parametrize(
    ("query", "bound"),
    [
        ("limit=25", PAGE),
        ("limit=25&sort=title&order=asc", PAGE),
        ("limit=25&sort=created&created_from=2026-06-01T00:00:00Z", PAGE),  # a key range: no filter
        ("limit=25&kind=mapping", BUDGET + PAGE),  # half match: about twice the page, at most the budget
    ],
)
def test_a_search_page_reads_its_page_and_a_constant_whatever_the_tenant_holds(
    small: Client, large: Client, items_read: ItemsRead, query: str, bound: int
) -> None:
    first_small, read_small = _read(items_read, small, query)
    first_large, read_large = _read(items_read, large, query)
    assert len(first_small.items) == len(first_large.items) == 25
    assert read_large <= bound
    assert read_large <= read_small * 1.2
    assert first_large.next_cursor
    later, read_later = _read(items_read, large, f"{query}&cursor={first_large.next_cursor}")
    assert len(later.items) == 25
    assert read_later <= bound
    assert not ({a.id for a in later.items} & {a.id for a in first_large.items})
    if query in ("limit=25", "limit=25&sort=title&order=asc"):
        assert (first_small.total, first_large.total) == (300, 3000)  # the count, not a read


def test_a_rare_filter_reads_at_most_the_budget_a_page_and_every_match_is_reached(
    small: Client, items_read: ItemsRead
) -> None:
    """10 of 300 artifacts match: with a budget of 100 reads a page, a page the budget stops says
    `partial`; together the pages hold each match once, in order, and a page that is not `partial`
    has a cursor only when its next page holds items."""
    found: list[str] = []
    cursor = None
    partial = 0
    query = "tag=rare&limit=4&sort=updated&order=asc"
    while True:
        page, read = _read(items_read, small, query + (f"&cursor={cursor}" if cursor else ""))
        assert read <= BUDGET + 4 + 4  # order items, the page's records and counts
        assert page.total is None or page.next_cursor is None
        found += [a.id for a in page.items]
        partial += page.partial
        if page.next_cursor and not page.partial:
            following = _search(small, f"{query}&cursor={page.next_cursor}")
            assert following.items, "a cursor of a page that is not partial led to an empty page"
        cursor = page.next_cursor
        if cursor is None:
            break
    rare = [_record(small.tenant, n, rare_every=30) for n in range(300) if n % 30 == 29]
    # each once, in the order's order
    assert found == [r["id"] for r in sorted(rare, key=lambda r: (r["updated_at"], r["id"]))]
    assert partial >= 300 // BUDGET - 1


def test_a_filtered_total_is_given_when_the_first_page_read_every_match(small: Client) -> None:
    beyond = _search(small, "tag=rare&limit=100")  # 10 of 300, more than the budget to read
    assert (beyond.partial, beyond.total, beyond.next_cursor is not None) == (True, None, True)
    # December's 25 artifacts are a key range of the `created` order; 5 of them are rare
    december = _search(small, "tag=rare&limit=100&sort=created&created_from=2026-12-01T00:00:00Z")
    assert (december.partial, december.next_cursor, december.total) == (False, None, 5)
    assert len(december.items) == 5
    assert all(a.created_at >= "2026-12-01" and "rare" in a.tags for a in december.items)


# -- lineage and degrees ------------------------------------------------------------------------------


class Homed:
    def get(self, tenant_id: str) -> Tenant | None:
        return Tenant(tenant_id, tenant_id, REGION)


def _feed(backend: LocalBackend) -> RegistryFeed:
    """The events function's own code, in this process, on the backend's store (a client per feed:
    threads each get theirs)."""
    store = Table(table("artifacts"), aws(backend, "dynamodb"))
    return RegistryFeed(region=REGION, tenants=Homed(), registry=ArtifactsRepository(store))


def _event(tenant: str, artifact_id: str, inputs: list[str], *, version: int = 1) -> dict[str, Any]:
    event = copy.deepcopy(PUBLISHED)
    event["detail"].update(
        {
            "tenant": tenant,
            "event_id": f"{artifact_id}-v{version}",
            "artifact_id": artifact_id,
            "version": version,
            "diff_hash": f"sha256:{artifact_id}-{version}",
            "previous_diff_hash": None,
            "published_at": f"2026-11-{1 + version:02d}T00:00:00.000+00:00",
            "inputs": [{"id": i, "relation": "derived_from"} for i in inputs],
        }
    )
    return event


def _deliver(feed: RegistryFeed, event: dict[str, Any]) -> str:
    """As EventBridge does: again while the function raises (a race lost five times)."""
    for _ in range(20):
        try:
            return str(feed.handle(event))
        except Exception:  # an error is a redelivery, as in AWS
            continue
    raise AssertionError(f"{event['detail']['event_id']} never applied")


def _counts(ddb: Any, tenant: str, prefix: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        params: dict[str, Any] = {
            "TableName": table("artifacts"),
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
            "ExpressionAttributeValues": {":p": {"S": tenant}, ":s": {"S": prefix}},
            "ConsistentRead": True,
        }
        if start:
            params["ExclusiveStartKey"] = start
        answer = ddb.query(**params)
        found += answer["Items"]
        start = answer.get("LastEvaluatedKey")
        if not start:
            return found


def _truth(ddb: Any, tenant: str) -> tuple[dict[str, int], dict[str, int]]:
    """(the DEG counts, the OUT# edges counted per upstream artifact) as stored."""
    degrees = {i["sk"]["S"].removeprefix("DEG#"): int(i["out"]["N"]) for i in _counts(ddb, tenant, "DEG#")}
    edges = Counter(i["from"]["S"] for i in _counts(ddb, tenant, "OUT#"))
    return {k: v for k, v in degrees.items() if v}, dict(edges)


def _put_all(ddb: Any, items: list[dict[str, Any]]) -> None:
    name = table("artifacts")
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": to_dynamo(i)}} for i in items[start : start + 25]]
        while batch:
            answer = ddb.batch_write_item(RequestItems={name: batch})
            batch = answer.get("UnprocessedItems", {}).get(name, [])


@pytest.fixture(scope="module")
def hub(backend: LocalBackend, ddb: Any) -> Client:
    """`hub` with 1,105 artifacts made from it (the old count stopped at 1,000): 1,100 written straight
    into the store as the feed writes them (each edge counted in DEG#hub), then 5 through the feed."""
    tenant = f"scale-hub-{next(_numbers)}"
    provision(ddb, tenant)
    feed = _feed(backend)
    assert _deliver(feed, _event(tenant, "hub", [])) == "applied"
    items: list[dict[str, Any]] = [{"pk": tenant, "sk": "DEG#hub", "out": 1100}]
    for n in range(1100):
        record = {
            **_record(tenant, n, rare_every=10**6),
            "id": f"d-{n:04d}",
            "inputs": [{"id": "hub", "relation": "derived_from"}],
        }
        items.append({"pk": tenant, "sk": f"ART#d-{n:04d}", "type": "artifact", **record, "listed": 1})
        edge = {"kind": "edge", "from": "hub", "to": f"d-{n:04d}", "relation": "derived_from", "counted": 1}
        items.append({"pk": tenant, "sk": f"OUT#hub#d-{n:04d}", **edge})
    _put_all(ddb, items)
    for n in range(1100, 1105):
        assert _deliver(feed, _event(tenant, f"d-{n:04d}", ["hub"])) == "applied"
    return _client(backend, tenant)


def _lineage(client: Client, items_read: ItemsRead, artifact_id: str, query: str) -> tuple[LineageGraph, int]:
    items_read.reset()
    answer = client.call("GET", f"/artifacts/{artifact_id}/lineage", query=query)
    assert answer.status == 200, answer.body
    return LineageGraph.model_validate(answer.json()), items_read.items


def test_out_degree_is_exact_beyond_the_old_limit_and_a_cut_reads_only_what_it_shows(
    hub: Client, items_read: ItemsRead
) -> None:
    view = ArtifactView.model_validate(hub.call("GET", "/artifacts/hub").json())
    assert view.out_degree == 1105  # the releases before said 1,000
    walk, read = _lineage(hub, items_read, "hub", "direction=downstream&fan_out=10")
    root = next(n for n in walk.nodes if n.id == "hub")
    assert (root.out_degree, root.cut.downstream, walk.layers[0].cut) == (1105, 1095, 1095)
    assert [n.id for n in walk.nodes if n.side == "downstream"] == [f"d-{n:04d}" for n in range(10)]
    # the root, its count, 10 edges, the 10 records (their counts: none stored)
    assert read <= 1 + 1 + 10 + 10 + 2


def test_the_first_layer_pages_every_neighbour_reading_a_page_and_a_constant(
    hub: Client, items_read: ItemsRead
) -> None:
    seen: list[str] = []
    cursor = None
    reads = []
    while True:
        walk, read = _lineage(
            hub, items_read, "hub", "layer=downstream:1&fan_out=100" + (f"&cursor={cursor}" if cursor else "")
        )
        reads.append(read)
        (layer,) = walk.layers
        assert layer.total == 1105
        seen += [n.id for n in walk.nodes]
        cursor = layer.next_cursor
        if cursor is None:
            break
    assert seen == [f"d-{n:04d}" for n in range(1105)]
    assert len(reads) == 12
    assert max(reads) <= 1 + 102 + 100 + 1 + 2  # root, edges (page + 2), records, the root's count


def test_degree_counts_stay_exact_under_concurrent_and_redelivered_edge_events(
    backend: LocalBackend, ddb: Any
) -> None:
    """60 artifacts, each in three versions that add and drop edges to `src` and `other`, every event
    delivered twice, in a shuffled order, by 8 writers at once: the counts equal the edges stored,
    and the edges the final versions name."""
    tenant = f"scale-race-{next(_numbers)}"
    provision(ddb, tenant)
    versions = {1: ["src", "other"], 2: ["other"], 3: ["src"]}
    events = [
        _event(tenant, f"x-{n:03d}", versions[v], version=v)
        for n in range(60)
        for v in range(1, 1 + 1 + n % 3)  # x-000: v1; x-001: v1, v2; x-002: v1 to v3
    ]
    deliveries = events * 2
    random.Random(14).shuffle(deliveries)
    errors: list[BaseException] = []

    def writer(feed: RegistryFeed, share: list[dict[str, Any]]) -> None:
        try:
            for event in share:
                _deliver(feed, event)
        except BaseException as exc:  # reported below
            errors.append(exc)

    # The clients are made here: boto3 makes clients of one session one thread at a time.
    feeds = [_feed(backend) for _ in range(8)]
    threads = [threading.Thread(target=writer, args=(feeds[i], deliveries[i::8])) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    final = {f"x-{n:03d}": versions[1 + n % 3] for n in range(60)}
    expected = Counter(i for inputs in final.values() for i in inputs)
    degrees, edges = _truth(ddb, tenant)
    assert degrees == edges == dict(expected) == {"src": 40, "other": 40}
    client = _client(backend, tenant)
    for name in ("x-000", "x-001", "x-002"):
        view = client.call("GET", f"/artifacts/{name}").json()
        assert (view["version"], view["in_degree"]) == (1 + int(name[-1]) % 3, len(final[name]))
