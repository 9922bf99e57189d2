"""The search handler's own time by stage (issue 17), against raw tantivy in the same run. Not a CI gate.

One warm search container over a generated tenant (bench/search.py's generator and queries; the
index opened from a local folder, so no S3 and no cold path), the guard and audit in memory, a
static cursor key. Per query, in rotating order over several rounds after an untimed one:

- raw: tantivy alone (bench/search.py's baseline: parse, filters, top 20, their stored documents);
- engine: `SearchIndex.search` (facets, highlights);
- handler: the Lambda entry (`rest_handler`: Powertools, the REST span, Mangum, FastAPI, the guard,
  the use case's masking and validation, the response's JSON);
- and for a tenant without an index (the fixed cost, no engine): the same handler; Mangum's adapter
  of the same app (without Powertools and the REST span); the ASGI app with Mangum's scope made
  beforehand (without Mangum); the handler of an app with FastAPI's operation spans
  (`SEARCH_OPERATION_SPANS=true`, as every search had them before issue 17).

A stage's cost is the difference of two p50s (a rough split: the parts are not independent). The
use case's masking (`use_cases.masked_hits`) and hit validation (`use_cases._hits`), timed by
wrappers, are its per-hit parts. Usage: `python bench/search_stages.py [--artifacts 20000]
[--queries 200] [--rounds 3] [--profile FILE]` (about 10 s on 2 cores). The result goes to
bench/results/search_stages.json; span and log lines to search_stages.log beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search as bench  # bench/search.py: the tenant, the queries, the baseline
from _common import load, percentile, stdout_to

from gui_core.cursors import Cursors, StaticCursorKeys
from gui_core.guard import Guard
from gui_core.observability import TEXT_MIME_TYPES, observability, rest_handler
from gui_core.rate_limit import RateLimiter
from gui_core.tenancy import TenantDirectory
from gui_search import logic, use_cases
from gui_search.app import create_app
from gui_search.index import SearchIndex
from gui_search.settings import SearchSettings
from gui_search.store import IndexManifest
from local.containers import lambda_context
from local.memory_table import MemoryTable

RESULTS = bench.ROOT / "bench" / "results" / "search_stages.json"
PATHS = ("raw", "engine", "handler", "no index", "no index: Mangum", "no index: ASGI", "no index: op spans")


class OneIndex:
    """The container's open indexes: the bench tenant's, from a folder (LocalIndexes.get's answer)."""

    def __init__(self, index: SearchIndex, documents: int) -> None:
        self.index = index
        self.manifest = IndexManifest(bench.TENANT, 1, documents, "2026-12-07T00:00:00+00:00")

    def get(self, tenant: str) -> tuple[SearchIndex | None, IndexManifest | None]:
        return (self.index, self.manifest) if tenant == bench.TENANT else (None, None)


def _app(indexes: OneIndex, observers: tuple[Any, Any], **environment: str) -> Any:
    with mock.patch.dict(os.environ, environment):
        settings = SearchSettings()  # type: ignore[call-arg]  # from the environment
    metrics = observers[1]
    guard = Guard(
        region=settings.region,
        region_urls=settings.region_urls,
        tenants=TenantDirectory(
            MemoryTable([bench.TENANT_ITEM, {**bench.TENANT_ITEM, "pk": bench.EMPTY_TENANT}])
        ),
        rate_limiter=RateLimiter(bench.MemoryCounters()),
        replay=None,
        metrics=metrics,
    )
    app = create_app(settings, indexes=indexes, guard=guard, audit=bench.NullAudit(), metrics=metrics)  # type: ignore[arg-type]
    app.state.cursors = Cursors(StaticCursorKeys(b"bench-cursor-key" * 2))
    return app


@contextlib.contextmanager
def _timed_parts(spent: dict[str, float]) -> Iterator[None]:
    def timed(function: Callable[..., Any], part: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[part] = spent.get(part, 0.0) + time.perf_counter() - started

        return wrapper

    hits = use_cases._hits()  # the page's validator, timed through a stand-in
    validator = mock.Mock(validate_python=timed(hits.validate_python, "validation"))
    with (
        mock.patch.object(use_cases, "masked_hits", timed(logic.masked_hits, "masking")),
        mock.patch.object(use_cases, "_hits", mock.Mock(return_value=validator)),
    ):
        yield


class Container:
    """A warm search container and the ways into it that the rows time."""

    def __init__(self, work: Path, artifacts: int, seed: int) -> None:
        from mangum import Mangum
        from mangum.types import LambdaConfig

        records = bench.generate_records(artifacts, seed)
        built = SearchIndex.create(work / "index")
        built.upsert(records)
        built.commit()
        built.close()
        del records
        self.index = SearchIndex.open(work / "index")
        indexes = OneIndex(self.index, self.index.count())
        self.documents = indexes.manifest.documents
        self.raw = bench.RawTantivy(self.index.path)
        observers = observability()
        logger, metrics = observers
        self.app = _app(indexes, observers)
        self.handler = rest_handler(self.app, logger=logger, metrics=metrics)
        spans = _app(indexes, observers, SEARCH_OPERATION_SPANS="true")
        self.with_spans = rest_handler(spans, logger=logger, metrics=metrics)
        self.adapter = Mangum(self.app, lifespan="off", text_mime_types=[*TEXT_MIME_TYPES])
        config = LambdaConfig(
            api_gateway_base_path="/", text_mime_types=[*TEXT_MIME_TYPES], exclude_headers=[]
        )
        self.context = lambda_context(bench.FUNCTION, bench.REGION)
        self.config = config
        self.loop = asyncio.get_event_loop()

    def scope_of(self, event: dict[str, Any]) -> dict[str, Any]:
        """Mangum's scope of `event`: made before the ASGI row's timer starts."""
        from mangum.handlers.api_gateway import APIGateway

        return dict(APIGateway(event, self.context, self.config).scope)

    def call(self, path: str, query: bench.BenchQuery, events: tuple[dict[str, Any], ...]) -> None:
        """One request on `path`; `events`: the bench tenant's, the empty tenant's, its scope."""
        event, empty, scope = events
        if path == "raw":
            self.raw.search(query)
        elif path == "engine":
            self.index.search(query.engine_query())
        elif path == "no index: ASGI":
            self.loop.run_until_complete(self._asgi(scope))
        else:
            entry: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {
                "handler": self.handler,
                "no index: Mangum": self.adapter,
                "no index: op spans": self.with_spans,
            }
            answer = entry.get(path, self.handler)(event if path == "handler" else empty, self.context)
            if answer["statusCode"] != 200:
                raise RuntimeError(f"search answered {answer['statusCode']}: {answer['body'][:300]}")

    async def _asgi(self, scope: dict[str, Any]) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"the app answered {message['status']}")

        await self.app(scope, receive, send)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    container = Container(work, args.artifacts, args.seed)
    queries = bench.make_queries(args.queries, args.seed + 1)
    seconds: dict[str, list[float]] = {path: [] for path in PATHS}
    parts: dict[str, list[float]] = {"masking": [], "validation": []}
    spent: dict[str, float] = {}
    with _timed_parts(spent):
        for round_number in range(args.rounds + 1):
            for number, query in enumerate(queries):
                empty = bench.event_for(query, bench.EMPTY_TENANT)
                events = (bench.event_for(query), empty, container.scope_of(empty))  # untimed
                order = (number + round_number) % len(PATHS)
                for path in PATHS[order:] + PATHS[:order]:
                    spent.clear()
                    started = time.perf_counter()
                    container.call(path, query, events)
                    elapsed = time.perf_counter() - started
                    if round_number:
                        seconds[path].append(elapsed)
                        if path == "handler":
                            for part, values in parts.items():
                                values.append(spent.get(part, 0.0))
            print(f"  round {round_number}/{args.rounds} done", file=sys.stderr)
    if args.profile:  # one more round of the fixed cost (no index) under cProfile
        events = [(bench.event_for(q), bench.event_for(q, bench.EMPTY_TENANT)) for q in queries]
        profiler = cProfile.Profile()
        profiler.runcall(
            lambda: [container.call("no index", q, (*e, {})) for q, e in zip(queries, events, strict=True)]
        )
        profiler.dump_stats(args.profile)
    p50 = {path: percentile(values, 0.5) * 1000 for path, values in seconds.items()}
    p50.update({f"handler: {part}": percentile(values, 0.5) * 1000 for part, values in parts.items()})
    stages = {
        "Powertools and the REST span": p50["no index"] - p50["no index: Mangum"],
        "Mangum": p50["no index: Mangum"] - p50["no index: ASGI"],
        "the ASGI app (FastAPI, its server span, middleware, guard, route)": p50["no index: ASGI"],
        "FastAPI's operation spans (off since issue 17)": p50["no index: op spans"] - p50["no index"],
        "a page of hits: handler - engine - no index": p50["handler"] - p50["engine"] - p50["no index"],
    }
    return {
        "documents": container.documents,
        "queries": len(queries),
        "rounds": args.rounds,
        "p50_ms": p50,
        "ratios": {path: p50[path] / p50["raw"] for path in ("engine", "handler", "no index")},
        "stages_ms": stages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=int, default=20_000, help="the tenant's size (default 20,000)")
    parser.add_argument("--queries", type=int, default=200, help="queries in the list (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds over the list (default 3)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile", type=Path, help="cProfile one more round without an index into this file"
    )
    args = parser.parse_args()
    asyncio.set_event_loop(asyncio.new_event_loop())  # Mangum runs the app on the thread's loop
    load_before = load()
    started = time.perf_counter()
    log = args.json.with_suffix(".log")
    environment = bench._environment("http://127.0.0.1:9")  # no AWS endpoint is called
    with (
        tempfile.TemporaryDirectory(prefix="dd-search-stages-") as temporary,
        mock.patch.dict(os.environ, environment),
        stdout_to(log),
    ):
        result = run(args, Path(temporary))
    result.update(load_before=load_before, load_after=load(), seconds=time.perf_counter() - started)
    print(
        f"search handler stages: {result['documents']:,} artifacts, {result['queries']} queries x "
        f"{result['rounds']} rounds, load before {load_before}, after {result['load_after']}"
    )
    for path, value in result["p50_ms"].items():
        ratio = result["ratios"].get(path)
        print(f"  p50 {path:<28} {value:7.3f} ms" + (f"   {ratio:5.2f}x raw" if ratio else ""))
    for stage, value in result["stages_ms"].items():
        print(f"  stage {stage:<70} {value:6.3f} ms")
    print(f"run time {result['seconds']:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
