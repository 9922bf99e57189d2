"""The whole backend in one process on loopback: AWS endpoint, resources, handlers, demo data,
one API Gateway per region served by uvicorn (first region on `port`, the next on `port + 1`), and
DynamoDB's TTL with the stream records it feeds to the archiver (every `ttl_sweep_s`). Each
gateway also plays the region's WebSocket API and its management API (`local.websocket`); the bus
relay and the Kinesis pollers (`local.kinesis`) move events (every `bus_poll_s`); every function runs
in a pool of containers (`local.pool`) shared by everything that invokes it. Local-only routes:
`GET /dev/token` (a development token) and the dev console (`local.console`).

At start, after the demo data is seeded, the migrations' deploy step (`gui_migrate`) runs in each
region as the stack's trigger runs it after a deploy: invoked in its container, with its role's
credentials, with the trigger's empty event; a migration it cannot apply fails the start
(`migration_steps` holds what it did). The work items it queues go to the worker through the local
SQS mapping (`local.queues`).

`LocalBackend.start()` returns once every gateway accepts connections; the servers run in a
background thread with their own event loop, so tests and the CLI drive it alike.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.routing import Route as HttpRoute

from gui_core.bus import EventPublisher
from local.apigw import sample_event
from local.aws import MotoServer, aws_client, create_resources, function_environment
from local.background import endpoint_gone
from local.bus import BusRelay
from local.containers import Container, Handler
from local.demo import TENANTS, seed_preferences, write_tenants
from local.demo_artifacts import seed_artifacts
from local.demo_jobs import seed_jobs
from local.demo_live import DemoTicker
from local.demo_notifications import seed_demo_inboxes
from local.demo_telemetry import seed_telemetry
from local.executor import DemoExecutor
from local.gateway import RegionalGateway
from local.iam import CallCheck, Identity, assume, ensure_role, local_statements
from local.keys import DEFAULT_KEYS_DIR, DevKeys
from local.kinesis import DEFAULT_POLL_S, DEFAULT_PUSH_DELAY_S, KinesisPoller
from local.pool import DEFAULT_CAP, FunctionPool
from local.queues import QueuePoller
from local.scheduler import Scheduler
from local.table_streams import FullConsumer, TableStreams
from local.ttl import Consumer, SweepReport, TtlSweeper
from local.websocket import FrameSizedProtocol
from stacks.manifest import DEFAULT_REGIONS, MANIFEST, WebSocketApi

if TYPE_CHECKING:
    from types import TracebackType

    from stacks.manifest import Manifest, Schedule

logger = logging.getLogger("local.runtime")

# The GUI's development server (Vite) on its default port, by both loopback names.
DEFAULT_CORS_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")
DEFAULT_TTL_SWEEP_S = 5.0
DEFAULT_BUS_POLL_S = 0.2
# The bus relay long-polls the mirrors of the rules that target the stream (local.bus), seconds.
DEFAULT_STREAM_WAIT_S = 1
# How long a stop waits for the background loops to end (each ends the invocation it is in: the
# work items of the schedules fired at start among them) before it stops moto's server anyway.
STOP_WAIT_S = 30.0
TOKEN_PATH = "/dev/token"  # noqa: S105 - a path
DEV_TOKEN_TTL_S = 3600
MIGRATE_FUNCTION = "gui_migrate"  # the migrations' deploy step (stacks/manifest.py)
TRIGGER_SAMPLE = "cdk_trigger_invoke"  # what the CDK's trigger invokes it with: an empty event


@cache
def code_revision() -> str | None:
    """The checkout's commit (with `+` when its tree has changes), which the ledger records as the
    local code version; None when git cannot tell."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from the PATH
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"git {head}{'+' if dirty else ''}" if head else None


class _Loop(Protocol):
    """A background loop of the runtime (`local.background`): asked to end, then waited for."""

    def request_stop(self) -> None: ...

    def stop(self, timeout_s: float) -> bool: ...


class StartupError(RuntimeError):
    """The backend did not become ready."""


class LocalBackend:
    # The stores' streams read in full (local.table_streams), when a function reads one so.
    table_streams: TableStreams | None = None

    def __init__(
        self,
        regions: tuple[str, ...] = DEFAULT_REGIONS,
        host: str = "127.0.0.1",
        port: int = 8000,
        moto_port: int = 0,
        seed: bool = True,
        keys_dir: Path = DEFAULT_KEYS_DIR,
        *,
        aws_endpoint_url: str | None = None,
        manifest: Manifest = MANIFEST,
        stage: str = "local",
        access_log: bool = False,
        shutdown_timeout_s: float = 5.0,
        cors_origins: Sequence[str] = DEFAULT_CORS_ORIGINS,
        ttl_sweep_s: float | None = DEFAULT_TTL_SWEEP_S,
        bus_poll_s: float | None = DEFAULT_BUS_POLL_S,
        stream_poll_s: float = DEFAULT_POLL_S,
        push_delay_s: float = DEFAULT_PUSH_DELAY_S,
        stream_wait_s: int = DEFAULT_STREAM_WAIT_S,
        pool_cap: int = DEFAULT_CAP,
        handlers: Mapping[str, Handler] | None = None,
        demo_ticker_s: float | None = None,
        environment: Mapping[str, Mapping[str, str]] | None = None,
        schedule_s: float | None = None,
        migrate: bool = True,
    ) -> None:
        """`port=0` gives every region a free port. `aws_endpoint_url` uses a running AWS endpoint
        (a moto server or LocalStack) instead of starting moto's server on `moto_port`.
        `cors_origins` are the browser origins the gateways allow; `ttl_sweep_s` is how often expired
        TTL items are removed (None or 0: only when `sweep_now` is called); `bus_poll_s` is how often the
        bus relay delivers events to the rules' targets and, with it, whether the Kinesis pollers run
        (every `stream_poll_s`; None or 0: only when `pump_events` and `pump_stream` are called).
        An enhanced fan-out mapping reads as soon as the relay puts records on the stream and hands
        each over `push_delay_s` after it arrived (Kinesis's push); the relay long-polls the stream
        rules' mirrors for up to `stream_wait_s` (0: it polls them every `bus_poll_s` with the others).
        `pool_cap` is the most containers a function gets in a region (more start only when every
        one is busy). `handlers` replace functions' handlers by name (tests' stand-ins: the package
        is not imported; every container of a pool calls the same object: it must be thread-safe).
        `demo_ticker_s`: publish a live demo event per demo tenant this often (`ddgui dev`; None:
        never). `environment` adds to or overrides variables of functions by name (tests shorten
        the SSE hold, `{"gui_stream": {"STREAM_HOLD_S": "1"}}`). `schedule_s`: fire every manifest
        schedule once the backend is up and then this often (`ddgui dev`; None: only when
        `fire_schedule` is called). `migrate`: run the migrations' deploy step at start, as a deploy
        does (tests of the migrations themselves start without it)."""
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the local runtime binds to loopback only, not {host}")
        if not regions:
            raise ValueError("at least one region")
        self.regions = tuple(regions)
        self.host = host
        self.port = port
        self.moto_port = moto_port
        self.seed = seed
        self.keys_dir = keys_dir
        self.manifest = manifest
        self.stage = stage
        self.access_log = access_log
        self.shutdown_timeout_s = shutdown_timeout_s
        self.cors_origins = tuple(cors_origins)
        self.ttl_sweep_s = ttl_sweep_s
        self.sweeper: TtlSweeper | None = None
        self.bus_poll_s = bus_poll_s
        self.relays: dict[str, BusRelay] = {}
        # The stream's timings: the mappings' poll and push, the relay's long poll.
        self.stream_poll_s, self.push_delay_s, self.stream_wait_s = stream_poll_s, push_delay_s, stream_wait_s
        self.pool_cap = pool_cap
        self.handlers = dict(handlers or {})
        self.environment = {name: dict(values) for name, values in (environment or {}).items()}
        self.demo_ticker_s = demo_ticker_s
        self.schedule_s = schedule_s
        self.migrate = migrate
        self.schedulers: dict[str, Scheduler] = {}
        self.ticker: DemoTicker | None = None
        self.pollers: dict[str, list[KinesisPoller]] = {}
        self.queue_pollers: dict[str, list[QueuePoller]] = {}
        # What the migrations' deploy step answered at start, per region (its steps).
        self.migration_steps: dict[str, list[dict[str, Any]]] = {}
        self.pools: dict[tuple[str, str], FunctionPool] = {}
        self._given_endpoint = aws_endpoint_url
        self._moto: MotoServer | None = None
        self.aws_endpoint_url = aws_endpoint_url or ""
        self.keys: DevKeys | None = None
        # Each function's credentials per region: a session of its own role (local/iam.py).
        self.credentials: dict[tuple[str, str], dict[str, str]] = {}
        self.iam_check: CallCheck | None = None
        # Every container's /tmp is a folder under this one, removed when the backend stops; so are
        # the regions' folders of the manifest's file systems (`file_system_dir`).
        self._tmp_root = Path(tempfile.mkdtemp(prefix="ddgui-lambda-tmp-"))
        self.gateways: dict[str, RegionalGateway] = {}
        self.base_urls: dict[str, str] = {}
        self.ready_s: float | None = None
        self._servers: list[uvicorn.Server] = []
        self._sockets: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        # Set when the serving thread ends. Waiting on it, not on Thread.join: a join interrupted by
        # Ctrl-C can later return while the thread still runs (CPython 3.11).
        self._finished = threading.Event()
        self._failure: BaseException | None = None
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float = 60.0) -> LocalBackend:
        started = time.perf_counter()
        try:
            self._prepare()
            if self.bus_poll_s:
                for relay in self.relays.values():
                    relay.start()
                for poller in self._all_pollers():
                    poller.start()
                for queue_poller in self._all_queue_pollers():
                    queue_poller.start()
                if self.table_streams is not None:
                    self.table_streams.start()
            if self.ticker is not None:
                self.ticker.start()
            self._thread = threading.Thread(target=self._run, name="ddgui-gateways", daemon=True)
            self._thread.start()
            self._wait_ready(timeout_s)
            for scheduler in self.schedulers.values():
                scheduler.start()
        except BaseException:
            self.stop()
            raise
        self.ready_s = time.perf_counter() - started
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        if not self._ready.wait(timeout_s):
            raise StartupError(f"the gateways were not ready within {timeout_s:.0f} s")
        if self._failure is not None:
            raise StartupError(f"the local backend did not start: {self._failure}") from self._failure

    def stop(self) -> None:
        """Stop the gateways, then the background loops that call AWS, and moto's server last: a
        loop that outlived its wait would call a stopped endpoint. The loops are all asked to end at
        once (each ends the invocation it is in), then waited for, up to `STOP_WAIT_S` in all."""
        self._stopping = True
        for server in self._servers:
            server.should_exit = True
        loops = self._loops()
        for loop in loops:
            loop.request_stop()
        if self._thread is not None:
            if self._finished.wait(self.shutdown_timeout_s + 5):
                self._thread.join(1)
            self._thread = None
        deadline = time.monotonic() + STOP_WAIT_S
        for loop in loops:
            if not loop.stop(max(0.0, deadline - time.monotonic())):
                logger.warning("%s still runs %.0f s into the stop", type(loop).__name__, STOP_WAIT_S)
        self.ticker = None
        self.schedulers.clear()
        self.pollers.clear()
        self.queue_pollers.clear()
        self.relays.clear()
        self.table_streams = None
        self.sweeper = None
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()
        for gateway in self.gateways.values():
            gateway.close()
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self.iam_check is not None:
            self.iam_check.forget(c["AWS_ACCESS_KEY_ID"] for c in self.credentials.values())
        shutil.rmtree(self._tmp_root, ignore_errors=True)

    def _loops(self) -> list[_Loop]:
        """What calls AWS on threads of its own, in the order it is stopped: the demo ticker, the
        schedulers, the event source mappings (Kinesis and queue pollers), the bus relays (which
        delete their mirrors once stopped) and the stores' stream reader."""
        loops: list[_Loop] = [self.ticker] if self.ticker is not None else []
        loops += [*self.schedulers.values(), *self._all_pollers(), *self._all_queue_pollers()]
        loops += self.relays.values()
        if self.table_streams is not None:
            loops.append(self.table_streams)
        return loops

    def hurry(self) -> None:
        """Stop without waiting for open connections (a second Ctrl-C); `stop` still joins."""
        self._stopping = True
        for server in self._servers:
            server.should_exit = True
            server.force_exit = True

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the servers stop (another thread calls `stop`) or `timeout_s` passes;
        True when they have stopped."""
        if self._thread is None:
            return True
        return self._finished.wait(timeout_s)

    def pump_events(self) -> int:
        """Deliver every event waiting on the regions' buses now; the number delivered."""
        return sum(relay.pump() for relay in self.relays.values())

    def pump_stream(self) -> int:
        """Deliver every record waiting on the regions' streams to their functions now (retries
        included); the number of records the functions took."""
        return sum(poller.pump() for poller in self._all_pollers())

    def pump_table_streams(self) -> int:
        """Deliver every change waiting on the stores' streams to the functions that read them in
        full (the dashboard's rollups) now; the number of records the functions took."""
        return self.table_streams.pump() if self.table_streams is not None else 0

    def pump_queues(self) -> int:
        """Deliver every message waiting on the queues that feed functions (the migrations' work
        items) now; the number of messages the functions took."""
        return sum(poller.pump() for poller in self._all_queue_pollers())

    def fire_schedule(self, name: str, region: str | None = None, *, drain: bool = True) -> Any:
        """Fire the manifest schedule `name` in `region` (default: the first) now; its function's
        answer. A schedule whose function fans its work out per tenant (it sends to one of the
        manifest's `work_queues`) has queued this cycle's work items: with `drain` they are delivered
        to their worker before this returns, as the queue's mapping would soon after."""
        region = region or self.regions[0]
        answer = self.schedulers[region].fire(name)
        if drain:
            fn = self.manifest.function(self.manifest_schedule(name).function)
            work = {queue.name for queue in self.manifest.work_queues} & set(fn.sends_to)
            for poller in self.queue_pollers.get(region, []):
                if poller.queue.name in work:
                    poller.pump()
        return answer

    def manifest_schedule(self, name: str) -> Schedule:
        return next(s for s in self.manifest.schedules if s.name == name)

    def file_system_dir(self, region: str, name: str) -> Path:
        """The folder that plays the manifest's file system `name` (EFS) in `region`: every container
        of every function that mounts it in that region sees this one folder (its `<NAME>_SHARED_DIR`),
        as Lambda mounts the region's file system in each; the other functions are not told of it."""
        return self._tmp_root / "file-systems" / region / name

    def _make_file_system_dirs(self) -> None:
        """Each region's folder of each file system, made at start (EFS exists before any mount)."""
        for region in self.regions:
            for file_system in self.manifest.file_systems:
                self.file_system_dir(region, file_system.name).mkdir(parents=True, exist_ok=True)

    def pool(self, region: str, name: str) -> FunctionPool:
        """The containers of function `name` in `region` (started with the backend)."""
        return self.pools[(region, name)]

    def connections_url(self, region: str) -> str:
        """The management API's URL in `region` (`GUI_CONNECTIONS_URL` of the functions)."""
        return f"{self.base_urls[region]}/{self._websocket_api().stage}"

    def websocket_url(self, region: str, *, tenant: str, channel: str | None = None) -> str:
        """The WebSocket API's URL in `region` (the AWS form; the token goes as the second
        subprotocol, or a stream ticket as `&ticket=`)."""
        query = f"tenant={tenant}" + (f"&channel={channel}" if channel else "")
        base = self.base_urls[region].replace("http://", "ws://", 1)
        return f"{base}/{self._websocket_api().stage}?{query}"

    def _websocket_api(self) -> WebSocketApi:
        return self.manifest.websocket or WebSocketApi(function="")

    def _all_pollers(self) -> list[KinesisPoller]:
        return [poller for pollers in self.pollers.values() for poller in pollers]

    def _all_queue_pollers(self) -> list[QueuePoller]:
        return [poller for pollers in self.queue_pollers.values() for poller in pollers]

    def sweep_now(self, stores: Collection[str] | None = None) -> SweepReport:
        """Expire the TTL items due now (of every TTL store, or of those named in `stores`) and
        deliver their removal records, as a sweep would."""
        if self.sweeper is None:
            raise RuntimeError("the local backend is not started")
        return self.sweeper.sweep(stores)

    def __enter__(self) -> LocalBackend:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- startup -----------------------------------------------------------------------------

    def _prepare(self) -> None:
        self._listen()
        if self._given_endpoint is None:
            self._moto = MotoServer(self.host, self.moto_port).start()
            self.aws_endpoint_url = self._moto.endpoint_url
        self.keys = DevKeys.load_or_create(self.keys_dir)
        for region in self.regions:
            create_resources(self.manifest, endpoint_url=self.aws_endpoint_url, region=region)
        self._make_file_system_dirs()
        self._roles()
        seeding: list[Future[Any]] = []
        seeders = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ddgui-seed")
        if self.seed:
            write_tenants(self.manifest, endpoint_url=self.aws_endpoint_url, regions=self.regions)
            # The demo data goes in while the containers cold-start below: the seeders mostly wait
            # on moto's server (a process of its own), the cold starts mostly compute.
            seeding = [
                seeders.submit(seed, self.manifest, endpoint_url=self.aws_endpoint_url, regions=self.regions)
                for seed in (seed_demo_inboxes, seed_jobs, seed_artifacts, seed_telemetry)
            ]
        try:
            self._wire()
            for done in seeding:
                done.result()
        finally:
            seeders.shutdown(wait=True, cancel_futures=True)
        self._migrate()

    def _migrate(self) -> None:
        """The migrations' deploy step in every region, as the stack's trigger runs it (see the
        module doc); a region whose step raises fails the start with its message."""
        if not self.migrate or not any(fn.name == MIGRATE_FUNCTION for fn in self.manifest.functions):
            return
        for region in self.regions:
            try:
                answer = self.deploy_migrations(region)
            except Exception as exc:
                raise StartupError(f"the migrations of {region} failed: {exc}") from exc
            steps = list(answer.get("steps") or [])
            self.migration_steps[region] = steps
            logger.info("migrations (%s): %s", region, migration_summary(steps))

    def deploy_migrations(self, region: str) -> dict[str, Any]:
        """Invoke the migrations' deploy step in `region` now, as the stack's trigger does after a
        deploy; its answer, or what it raised."""
        answer = self._pool(region, MIGRATE_FUNCTION).invoke(sample_event(TRIGGER_SAMPLE))
        return dict(answer) if isinstance(answer, dict) else {}

    def _roles(self) -> None:
        """A role per function with its deployed permissions, and a session of it per region: the
        credentials each function signs with, checked call by call (local/iam.py)."""
        self.iam_check = CallCheck.installed()
        iam_client = aws_client("iam", endpoint_url=self.aws_endpoint_url, region=self.regions[0])
        for fn in self.manifest.all_functions():
            arn = ensure_role(iam_client, self.manifest, fn)
            for region in self.regions:
                sts = aws_client("sts", endpoint_url=self.aws_endpoint_url, region=region)
                credentials = assume(sts, arn, session_name=fn.name)
                self.credentials[(region, fn.name)] = credentials
                statements = local_statements(
                    self.manifest, fn, region=region, stage=self._websocket_api().stage
                )
                self.iam_check.register(
                    credentials["AWS_ACCESS_KEY_ID"], Identity(fn.name, region, statements)
                )

    def _wire(self) -> None:
        """Gateways, pools, the TTL sweeper, bus relays, executors, stream pollers and the ticker."""
        for region in self.regions:
            self.gateways[region] = self._gateway(region)
        consumers = []
        for region in self.regions:
            for fn in self.manifest.functions:
                if fn.stream_sources:  # one pool per function, whatever the number of streams
                    pool = self._pool(region, fn.name)
                    consumers += [Consumer(fn, source, region, pool) for source in fn.stream_sources]
        self.sweeper = TtlSweeper(
            self.manifest, endpoint_url=self.aws_endpoint_url, regions=self.regions, consumers=consumers
        )
        # Every change of a store, to the functions that read its stream in full (local.table_streams).
        full = [
            FullConsumer(c.fn, c.source, c.region, c.container)
            for c in consumers
            if not c.source.ttl_removals_only
        ]
        if full:
            self.table_streams = TableStreams(
                self.manifest,
                endpoint_url=self.aws_endpoint_url,
                consumers=full,
                # At most once a second: a pump asks moto for every shard of three stores per region.
                poll_s=max(self.bus_poll_s or 0.0, 1.0),
            )
        targets = sorted({rule.function for rule in self.manifest.rules if rule.function})
        for region in self.regions:
            self.relays[region] = BusRelay(
                self.manifest,
                self.aws_endpoint_url,
                region,
                containers={name: self._pool(region, name) for name in targets},
                poll_s=self.bus_poll_s or 0.2,
                stream_wait_s=self.stream_wait_s,
            )
            # The executors that would run jobs in a real deployment: they take JobRequested from
            # the bus and report JobStatusChanged back to it, so jobs move on a local screen.
            publisher = EventPublisher(
                self.manifest.bus.local_bus_name(),
                aws_client("events", endpoint_url=self.aws_endpoint_url, region=region),
                region=region,
            )
            DemoExecutor(publisher.publish).attach(self.relays[region].subscribe)
            self.pollers[region] = [
                KinesisPoller(
                    self._pool(region, fn.name),
                    source,
                    endpoint_url=self.aws_endpoint_url,
                    stream_name=self.manifest.stream.local_stream_name(),
                    poll_s=self.stream_poll_s,
                    push_delay_s=self.push_delay_s,
                )
                for fn in self.manifest.functions
                for source in fn.kinesis_sources
            ]
            # The relay's puts wake the enhanced fan-out mappings (their push).
            self.relays[region].stream_listeners.extend(poller.notify for poller in self.pollers[region])
            self.queue_pollers[region] = [
                QueuePoller(
                    self._pool(region, fn.name),
                    source,
                    self.manifest.queue(source.queue),
                    endpoint_url=self.aws_endpoint_url,
                    poll_s=self.bus_poll_s or 0.2,
                )
                for fn in self.manifest.functions
                for source in fn.queue_sources
            ]
        for region in self.regions:
            self.schedulers[region] = Scheduler(
                self.manifest.schedules,
                {s.function: self._pool(region, s.function) for s in self.manifest.schedules},
                region,
                every_s=self.schedule_s,
            )
        if self.demo_ticker_s:
            self.ticker = DemoTicker(
                {region: relay.publish for region, relay in self.relays.items()},
                [(t.tenant, t.home_region) for t in TENANTS],
                interval_s=self.demo_ticker_s,
            )

    def _listen(self) -> None:
        """Bind every gateway's port first: a port in use fails the start at once, plainly."""
        for index, region in enumerate(self.regions):
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted connections inherit it: without it, a keep-alive client waits ~40 ms per
            # answer for the delayed ACK of the header segment (Nagle), as API Gateway never does.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            port = self.port + index if self.port else 0
            try:
                sock.bind((self.host, port))
            except OSError as exc:
                sock.close()
                raise StartupError(
                    f"cannot listen on {self.host}:{port} for {region}: {exc.strerror}"
                ) from exc
            self._sockets.append(sock)
            host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
            self.base_urls[region] = f"http://{host}:{sock.getsockname()[1]}"

    def _pool(self, region: str, name: str) -> FunctionPool:
        """The pool of `name` in `region`, made on first use. A function a request reaches (REST,
        WebSocket, the authorizer) gets its first container now, so no caller waits on a cold
        start; one that events and schedules invoke starts its first on its first event, as in
        Lambda (the backend is ready sooner)."""
        pool = self.pools.get((region, name))
        if pool is None:
            fn = self.manifest.function(name)
            serves_requests = (
                bool(fn.routes or fn.websocket_routes) or fn == self.manifest.authorizer.function
            )
            pool = FunctionPool(
                self._container(region, name) if serves_requests else None,
                lambda: self._container(region, name),
                cap=self.pool_cap,
                fn=fn,
                region=region,
            )
            self.pools[(region, name)] = pool
        return pool

    def _container(self, region: str, name: str) -> Container:
        """A cold start of `name` in `region`. The gateways' ports are bound already (`_listen`), so
        the REST functions learn every region's local URL for their residency answers."""
        assert self.keys is not None
        fn = self.manifest.function(name)
        if name in self.handlers:
            return Container(fn, region, self.handlers[name])
        env = function_environment(
            self.manifest,
            fn,
            region=region,
            endpoint_url=self.aws_endpoint_url,
            keys=self.keys,
            stage=self.stage,
            region_urls=self.base_urls,
            cors_origins=self.cors_origins,
            connections_url=self.connections_url(region),
            credentials=self.credentials.get((region, name)),
            file_system_dirs={
                fs.name: str(self.file_system_dir(region, fs.name)) for fs in self.manifest.file_systems
            },
        )
        if fn.concern == "migrations" and (revision := code_revision()):
            env["GUI_CODE_REVISION"] = revision  # the ledger's code version, with Lambda's `$LATEST`
        return Container.cold_start(
            fn, region, {**env, **self.environment.get(name, {})}, tmp_root=self._tmp_root
        )

    def _gateway(self, region: str) -> RegionalGateway:
        invoked = {fn.name for _, fn in self.manifest.routes()}
        invoked |= (
            {fn.name for _, fn in self.manifest.websocket_routes()} if self.manifest.websocket else set()
        )
        return RegionalGateway(
            manifest=self.manifest,
            region=region,
            authorizer=self._pool(region, self.manifest.authorizer.function.name),
            functions={name: self._pool(region, name) for name in sorted(invoked)},
            stage=self.stage,
            cors_origins=self.cors_origins,
            extra_routes=self._local_routes(region),
        )

    def _local_routes(self, region: str) -> list[BaseRoute]:
        """Routes of the local runtime only, never of the manifest or AWS: the development token
        endpoint, the GraphQL explorer (`local.graphql_explorer`) and, when `local/console.py` is
        there, the dev console."""
        from local.graphql_explorer import explorer_routes

        routes: list[BaseRoute] = [
            HttpRoute(TOKEN_PATH, self._dev_token, methods=["GET"]),
            *explorer_routes(),
        ]
        try:
            from local import console  # optional: written alongside the runtime
        except ImportError:
            return routes
        console_routes = getattr(console, "console_routes", None)
        if callable(console_routes):
            routes += console_routes(
                region=region, base_url=self.base_urls[region], ws_stage=self._websocket_api().stage
            )
        return routes

    async def _dev_token(self, request: Request) -> Response:
        """`GET /dev/token?tenant=&subject=&roles=a,b&scopes=...`: a development token signed with
        the local key (the console signs in with it)."""
        assert self.keys is not None
        tenant = request.query_params.get("tenant", "").strip()
        subject = request.query_params.get("subject", "").strip()
        if not tenant or not subject:
            return JSONResponse({"detail": "tenant and subject are required"}, status_code=400)
        roles = [r for r in request.query_params.get("roles", "viewer").replace(",", " ").split() if r]
        scopes = [s for s in request.query_params.get("scopes", "").replace(",", " ").split() if s]
        token = self.keys.mint(
            tenant=tenant, subject=subject, roles=roles, scopes=scopes, ttl_s=DEV_TOKEN_TTL_S
        )
        return JSONResponse(
            {"token": token, "token_type": "Bearer", "expires_in": DEV_TOKEN_TTL_S},
            headers={"Cache-Control": "no-store"},
        )

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except SystemExit as exc:  # uvicorn exits when it cannot start
            self._failure = StartupError(f"a gateway could not start (exit status {exc.code})")
        except BaseException as exc:  # reported to start(); the thread must not die silently
            logger.exception("local backend stopped on an error")
            self._failure = exc
        finally:
            self._ready.set()
            self._finished.set()

    async def _serve(self) -> None:
        if self.seed:
            assert self.keys is not None
            await seed_preferences(self.gateways, self.keys)
        for region in self.regions:
            api = self._websocket_api()
            config = uvicorn.Config(
                self.gateways[region].app,
                lifespan="off",
                ws=FrameSizedProtocol,  # uvicorn's websockets-sansio, telling each message's frames
                ws_max_size=max(api.message_limit_bytes, api.frame_limit_bytes) * 2,
                access_log=self.access_log,
                log_level="info" if self.access_log else "warning",
                timeout_graceful_shutdown=int(self.shutdown_timeout_s),
                server_header=False,
            )
            self._servers.append(uvicorn.Server(config))
        if self._stopping:
            return
        serving = [
            asyncio.create_task(server.serve(sockets=[sock]))
            for server, sock in zip(self._servers, self._sockets, strict=True)
        ]
        while not all(server.started for server in self._servers):
            done = [task for task in serving if task.done()]
            if done:
                for server in self._servers:
                    server.should_exit = True
                await asyncio.gather(*serving, return_exceptions=True)
                raise StartupError(f"a gateway stopped while starting: {_task_error(done[0])}")
            await asyncio.sleep(0.01)
        self._ready.set()
        sweeping = asyncio.create_task(self._sweep_periodically()) if self.ttl_sweep_s else None
        try:
            await asyncio.gather(*serving)
        finally:
            if sweeping is not None:
                sweeping.cancel()
                await asyncio.gather(sweeping, return_exceptions=True)

    async def _sweep_periodically(self) -> None:
        assert self.ttl_sweep_s
        while True:
            await asyncio.sleep(self.ttl_sweep_s)
            try:
                # Off the event loop: a sweep waits on moto and on the archiver's container.
                report = await asyncio.to_thread(self.sweep_now)
            except Exception as exc:
                if self._stopping and endpoint_gone(exc):
                    return  # stopping: moto's server is gone
                logger.exception("the TTL sweep failed; the next one tries again")
                continue
            if report.expired_total or report.retrying or report.dead_lettered:
                logger.info(
                    "TTL sweep: %d item(s) expired, %d record(s) delivered, %d to retry, %d dead-lettered",
                    report.expired_total,
                    report.delivered,
                    report.retrying,
                    report.dead_lettered,
                )


def migration_summary(steps: Sequence[Mapping[str, Any]]) -> str:
    """One line: what the migrations' deploy step did (its answer's steps)."""
    if not steps:
        return "none pending"
    parts = []
    for step in steps:
        counts = step.get("counts") or {}
        text = f"{step.get('migration')} {step.get('action')}"
        if step.get("tenants"):
            text += f" ({step['tenants']} tenant(s)"
            if counts.get("scanned"):
                text += f", {counts.get('changed', 0)} of {counts['scanned']} item(s) changed"
            text += ")"
        parts.append(text)
    return "; ".join(parts)


def _task_error(task: asyncio.Task[Any]) -> str:
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return repr(error) if error else "stopped"
