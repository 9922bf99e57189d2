"""`ddgui`: the project's command line.

ddgui dev [--port 8000] [--moto-port N] [--no-seed] [--cors-origin O ...] [--ttl-sweep-s 5]
          [--demo-ticker-s 4]                         the whole backend on loopback
ddgui token --tenant T --subject S [--scope S ...] [--role R ...] [--ttl 3600]
ddgui api OPERATION [--path K=V ...] [--query K=V ...] [--body JSON] [--header K=V ...]
          [--tenant acme --subject ada@acme --role admin] [--url http://127.0.0.1:8000]
                                                      any REST operation, by its operation id
ddgui api --list                                      the operations
ddgui openapi [--output FILE]                         the combined OpenAPI document
ddgui quarantine list|replay|discard [--endpoint-url URL | --region R [--stack S] [--queue-url U]
          [--stream-name S]] [--function F] [--reason R] [--tenant T] [--limit N] [--dry-run] [--json]
                                                      the stream's poison records: inspect, put
                                                      back on the stream, or delete (local/quarantine.py)
ddgui migrate status|plan|apply [--dry-run] [--tenant T] [--endpoint-url URL | --region R [--stack S]
          [--function-name F]] [--json]               the region's schema migrations (local/migrate.py)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from local.keys import DEFAULT_KEYS_DIR

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from types import FrameType

    from local.runtime import LocalBackend

PREFERENCES_PATH = "/service/gui/preferences"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddgui", description="DomainDetermine GUI backend tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the whole backend locally (moto, gateways, demo data)")
    dev.add_argument("--port", type=int, default=8000, help="port of the first region (next: +1, ...)")
    dev.add_argument("--moto-port", type=int, default=0, help="port of moto's server (default: a free one)")
    dev.add_argument("--no-seed", action="store_true", help="start without demo tenants and preferences")
    dev.add_argument("--no-access-log", action="store_true", help="do not log each HTTP request")
    dev.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="a browser origin allowed to call the API, e.g. http://localhost:3000 (repeat; "
        "default: the GUI dev server, http://localhost:5173 and http://127.0.0.1:5173)",
    )
    dev.add_argument(
        "--ttl-sweep-s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how often expired TTL items are removed and archived (default 5; 0: never)",
    )
    dev.add_argument(
        "--demo-ticker-s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how often each demo tenant gets a live domain event (governance, readiness, prompt pack, "
        "cost; default 4; 0: never)",
    )
    dev.add_argument(
        "--schedule-s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how often the scheduled functions run (search index drift check and rebuild, telemetry "
        "aggregation; default 60, and once at start; 0: only at start)",
    )
    dev.add_argument("--keys-dir", type=Path, default=DEFAULT_KEYS_DIR, help=argparse.SUPPRESS)

    token = commands.add_parser("token", help="print a development token signed with the local key")
    token.add_argument("--tenant", required=True)
    token.add_argument("--subject", required=True)
    token.add_argument("--scope", action="append", default=[], help="a scope, e.g. gui:preferences (repeat)")
    token.add_argument("--role", action="append", default=[], help="admin, operator or viewer (repeat)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.add_argument("--keys-dir", type=Path, default=DEFAULT_KEYS_DIR, help=argparse.SUPPRESS)

    api = commands.add_parser("api", help="call a REST operation by its operation id (see --list)")
    api.add_argument("operation", nargs="?", help="operation id, e.g. get_preferences")
    api.add_argument("--list", action="store_true", help="list the operations and exit")
    api.add_argument("--path", action="append", metavar="NAME=VALUE", help="a path parameter (repeat)")
    api.add_argument("--query", action="append", metavar="NAME=VALUE", help="a query parameter (repeat)")
    api.add_argument("--header", action="append", metavar="NAME=VALUE", help="a header, e.g. If-Match=*")
    api.add_argument("--body", help="the JSON body")
    api.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of a region's gateway")
    api.add_argument("--tenant", default="acme")
    api.add_argument("--subject", default="ada@acme")
    api.add_argument("--role", action="append", default=None, help="default: admin")
    api.add_argument("--scope", action="append", default=[], help="extra scopes (repeat)")
    api.add_argument("--keys-dir", type=Path, default=DEFAULT_KEYS_DIR, help=argparse.SUPPRESS)

    graphql = commands.add_parser("graphql", help="send a GraphQL request (as `api graphql_post`)")
    graphql.add_argument(
        "--query", required=True, help="the GraphQL document, e.g. '{ jobs { nodes { id } } }'"
    )
    graphql.add_argument("--variables", help="the variables, as a JSON object")
    graphql.add_argument("--operation-name", help="which operation of the document to run")
    for name in ("--url", "--tenant", "--subject"):
        graphql.add_argument(name, default=api.get_default(name.removeprefix("--")))
    graphql.add_argument("--role", action="append", default=None, help="default: admin")
    graphql.add_argument("--scope", action="append", default=[], help="extra scopes (repeat)")
    graphql.add_argument("--keys-dir", type=Path, default=DEFAULT_KEYS_DIR, help=argparse.SUPPRESS)

    openapi = commands.add_parser("openapi", help="print or write the combined OpenAPI document")
    openapi.add_argument("--output", type=Path, help="write here instead of printing")

    _quarantine_parser(commands)
    _migrate_parser(commands)
    return parser


def _region_actions(
    command: argparse.ArgumentParser, actions: Sequence[tuple[str, str]]
) -> Iterator[tuple[str, argparse.ArgumentParser, argparse._ArgumentGroup]]:
    """The actions (name, summary) of a command on one region (`migrate`, `quarantine`): each one's
    parser and its group of options naming the region (the local runtime's endpoint, or a deployed
    region and its stack), to which the caller adds the stack output it defaults from."""
    parsers = command.add_subparsers(dest="action", required=True)
    for action, summary in actions:
        sub = parsers.add_parser(action, help=summary)
        where = sub.add_argument_group("where (the local runtime, or a deployed region)")
        where.add_argument("--endpoint-url", help="the local AWS endpoint `ddgui dev` prints")
        where.add_argument("--region", help="default: AWS_REGION, AWS_DEFAULT_REGION (locally: eu-west-1)")
        where.add_argument("--stack", help="the region's stack (default DdGui-<region>), for its outputs")
        yield action, sub, where


def _migrate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser("migrate", help="the region's schema migrations: status, plan, apply")
    for action, sub, where in _region_actions(
        migrate,
        (
            ("status", "each migration's run: status, who, when, code version, counts, checkpoints, error"),
            ("plan", "what the pending migrations would change, with counts and examples (writes nothing)"),
            ("apply", "start or resume the pending migrations in order (a failed one too)"),
        ),
    ):
        where.add_argument("--function-name", help="default: the stack's output MigrateFunctionName")
        if action != "status":
            sub.add_argument("--tenant", help="only this tenant (homed in the region)")
        if action == "apply":
            sub.add_argument("--dry-run", action="store_true", help="say what would change; change nothing")
        sub.add_argument("--json", action="store_true", help="the answer as one JSON document")


def _quarantine_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    quarantine = commands.add_parser(
        "quarantine", help="the stream's poison records: list, replay onto the stream, or discard"
    )
    for action, sub, where in _region_actions(
        quarantine,
        (
            ("list", "print the quarantined records (none is consumed)"),
            ("replay", "put each record back on the stream with its partition key, then delete its messages"),
            ("discard", "delete the messages (records no replay can cure)"),
        ),
    ):
        where.add_argument("--queue-url", help="default: the stack's output QuarantineQueueUrl")
        if action == "replay":
            where.add_argument("--stream-name", help="default: the stack's output EventStreamName")
        sub.add_argument("--function", help="only what this consumer kept, e.g. gui_fanout")
        sub.add_argument("--reason", help="only this reason, e.g. unknown_schema_version")
        sub.add_argument("--tenant", help="only records of this partition key (the tenant)")
        sub.add_argument("--limit", type=int, help="at most this many messages (replay: records)")
        if action == "list":
            sub.add_argument("--json", action="store_true", help="a JSON document per message, data decoded")
        else:
            sub.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = _parser().parse_args(argv)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "token": _token,
        "api": _api,
        "graphql": _graphql,
        "openapi": _openapi,
        "quarantine": _quarantine,
        "migrate": _migrate,
    }
    command = commands.get(args.command)
    return command(args) if command is not None else _dev(args, started)


def _migrate(args: argparse.Namespace) -> int:
    import json

    from local import migrate as m

    try:
        target = m.where_to(
            endpoint_url=args.endpoint_url,
            region=args.region,
            stack=args.stack,
            function_name=args.function_name,
        )
        answer = target.run(
            args.action, tenant=getattr(args, "tenant", None), dry_run=getattr(args, "dry_run", False)
        )
    except m.MigrateError as exc:
        print(f"ddgui migrate: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(answer, indent=2, sort_keys=True))
    else:
        m.render(answer, print)
    print(f"ddgui migrate {args.action}: {target.where}", file=sys.stderr)
    return 0


def _quarantine(args: argparse.Namespace) -> int:
    from local import quarantine as q

    if args.limit is not None and args.limit < 1:
        print("ddgui quarantine: --limit must be positive", file=sys.stderr)
        return 2
    filters = q.Filters(function=args.function, reason=args.reason, tenant=args.tenant, limit=args.limit)
    try:
        region = q.region_of(args.region, local=bool(args.endpoint_url))
        target = (
            q.local_target(args.endpoint_url, region)
            if args.endpoint_url
            else q.deployed_target(
                region,
                stack=args.stack,
                queue_url=args.queue_url,
                stream_name=getattr(args, "stream_name", None),
                needs_stream=args.action == "replay",
            )
        )
        if args.action == "list":
            found = q.list_quarantined(target, filters)
            for message in found:
                print(q.as_json(message) if args.json else q.describe(message))
            print(f"{len(found)} message(s) in {target.queue_url}", file=sys.stderr)
            return 0
        run = q.replay if args.action == "replay" else q.discard
        report = run(target, filters, dry_run=args.dry_run)
    except q.QuarantineError as exc:
        print(f"ddgui quarantine: {exc}", file=sys.stderr)
        return 1
    q.print_report(report, verb=args.action, dry_run=args.dry_run, out=print)
    done = "would be " if args.dry_run else ""
    where = f" onto {target.stream_name}" if args.action == "replay" else ""
    print(
        f"{len(report.done)} record(s) {done}{args.action}ed{where} ({report.messages} message(s)); "
        f"{len(report.skipped)} skipped",
        file=sys.stderr,
    )
    return 1 if report.skipped else 0


def _openapi(args: argparse.Namespace) -> int:
    import json

    from local.openapi import combined_openapi
    from stacks.manifest import MANIFEST

    text = json.dumps(combined_openapi(MANIFEST), indent=2, sort_keys=False) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _graphql(args: argparse.Namespace) -> int:
    """The GraphQL request as the body of `graphql_post`, through the same path as `ddgui api`."""
    import json

    try:
        variables = json.loads(args.variables) if args.variables else None
    except ValueError:
        print("ddgui graphql: --variables is not JSON", file=sys.stderr)
        return 2
    body = {"query": args.query, "variables": variables, "operationName": args.operation_name}
    request = argparse.Namespace(
        **vars(args), operation="graphql_post", list=False, path=None, query_params=None, header=None
    )
    request.body, request.query = json.dumps(body), None
    return _api(request)


def _api(args: argparse.Namespace) -> int:
    import json

    from local.cli_api import call, operations, pairs
    from local.keys import DevKeys

    known = operations()
    if args.list or not args.operation:
        for op in sorted(known.values(), key=lambda o: (o.path, o.method)):
            print(f"{op.name:<28} {op.method:<6} {op.path}  {op.summary}")
        return 0 if args.list else 2
    operation = known.get(args.operation)
    if operation is None:
        print(f"ddgui api: no operation {args.operation!r} (see ddgui api --list)", file=sys.stderr)
        return 2
    try:
        body = json.loads(args.body) if args.body else None
        path_params, query, headers = (
            pairs(args.path, "--path"),
            pairs(args.query, "--query"),
            pairs(args.header, "--header"),
        )
    except ValueError as exc:
        print(f"ddgui api: {exc}", file=sys.stderr)
        return 2
    keys = DevKeys.load_or_create(args.keys_dir)
    token = keys.mint(
        tenant=args.tenant, subject=args.subject, scopes=args.scope, roles=args.role or ["admin"]
    )
    try:
        answer = call(
            operation,
            base_url=args.url,
            token=token,
            path_params=path_params,
            query=query,
            body=body,
            headers=headers,
        )
    except ValueError as exc:
        print(f"ddgui api: {exc}", file=sys.stderr)
        return 2
    text = answer.text
    with contextlib.suppress(ValueError):
        text = json.dumps(answer.json(), indent=2)
    print(f"HTTP {answer.status_code}", file=sys.stderr)
    print(text)
    return 0 if answer.status_code < 400 else 1


def _token(args: argparse.Namespace) -> int:
    from local.keys import DevKeys

    if args.ttl <= 0:
        print("--ttl must be positive", file=sys.stderr)
        return 2
    keys = DevKeys.load_or_create(args.keys_dir)
    scopes = [s for value in args.scope for s in value.split()]
    print(keys.mint(tenant=args.tenant, subject=args.subject, scopes=scopes, roles=args.role, ttl_s=args.ttl))
    return 0


class _StopSignals:
    """Ctrl-C and SIGTERM set a flag that the main thread polls: an exception raised from a signal
    handler can be swallowed (it may land in a finalizer), and an Event could deadlock. A second
    signal drops open connections; a third exits at once."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.on_repeat: Callable[[], None] | None = None

    def install(self) -> None:
        # Also when started with SIGINT ignored, as `ddgui dev &` in a script is.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) >= 3:  # a third Ctrl-C: the developer wants out, now
            os._exit(128 + signum)
        if len(self.received) == 2 and self.on_repeat is not None:
            self.on_repeat()


def _dev(args: argparse.Namespace, started: float) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from local.demo_live import DEFAULT_INTERVAL_S
    from local.runtime import DEFAULT_CORS_ORIGINS, DEFAULT_TTL_SWEEP_S, LocalBackend, StartupError
    from stacks.config import origin

    try:
        cors_origins = (
            tuple(origin(o) for o in args.cors_origin) if args.cors_origin else DEFAULT_CORS_ORIGINS
        )
    except ValueError as exc:
        print(f"ddgui dev: {exc}", file=sys.stderr)
        return 2
    ttl_sweep_s = DEFAULT_TTL_SWEEP_S if args.ttl_sweep_s is None else args.ttl_sweep_s
    if ttl_sweep_s < 0:
        print("ddgui dev: --ttl-sweep-s must not be negative", file=sys.stderr)
        return 2
    ticker_s = DEFAULT_INTERVAL_S if args.demo_ticker_s is None else args.demo_ticker_s
    if ticker_s < 0:
        print("ddgui dev: --demo-ticker-s must not be negative", file=sys.stderr)
        return 2
    schedule_s = DEFAULT_SCHEDULE_S if args.schedule_s is None else args.schedule_s
    if schedule_s < 0:
        print("ddgui dev: --schedule-s must not be negative", file=sys.stderr)
        return 2
    backend = LocalBackend(
        port=args.port,
        moto_port=args.moto_port,
        seed=not args.no_seed,
        keys_dir=args.keys_dir,
        access_log=not args.no_access_log,
        cors_origins=cors_origins,
        ttl_sweep_s=ttl_sweep_s or None,
        demo_ticker_s=(ticker_s or None) if not args.no_seed else None,
        # 0 still fires once at start: a long interval; the loop ends with the backend.
        schedule_s=schedule_s or ONCE_S,
    )
    stop = _StopSignals()
    stop.install()
    stop.on_repeat = backend.hurry  # a second signal drops open connections
    try:
        backend.start()
    except (StartupError, OSError) as exc:
        print(f"ddgui dev: {exc}", file=sys.stderr)
        return 1
    try:
        if not stop.received:
            _print_banner(backend, time.perf_counter() - started, seeded=not args.no_seed)
        while not stop.received and not backend.wait(0.25):
            pass
        if stop.received:
            print("\nstopping...", flush=True)
    finally:
        backend.stop()
    return 0


DEFAULT_SCHEDULE_S = 60.0
ONCE_S = 10**9


def _print_banner(backend: LocalBackend, ready_s: float, *, seeded: bool) -> None:
    from local.demo import TENANTS, mint_for

    assert backend.keys is not None
    lines = [
        "",
        "DomainDetermine GUI backend: local runtime",
        f"  AWS endpoint (moto): {backend.aws_endpoint_url}",
        f"    e.g. AWS_ENDPOINT_URL={backend.aws_endpoint_url} AWS_ACCESS_KEY_ID=testing "
        "AWS_SECRET_ACCESS_KEY=testing aws dynamodb scan --region eu-west-1 --table-name ddgui-preferences",
        f"    poison records of the stream: ddgui quarantine list --endpoint-url {backend.aws_endpoint_url} "
        "--region eu-west-1 (then replay or discard)",
    ]
    for region, url in backend.base_urls.items():
        homed = ", ".join(t.tenant for t in TENANTS if t.home_region == region) or "none"
        lines.append(f"  {region}: {url}   (healthz: {url}/healthz; demo tenants homed here: {homed})")
    lines.append(f"  CORS origins: {', '.join(backend.cors_origins) or 'none'}")
    if backend.migration_steps:
        from local.runtime import migration_summary

        done = "; ".join(f"{r}: {migration_summary(steps)}" for r, steps in backend.migration_steps.items())
        lines.append(
            f"  schema migrations at start: {done} "
            f"(ddgui migrate status --endpoint-url {backend.aws_endpoint_url} --region <region>)"
        )
    sweep = f"every {backend.ttl_sweep_s:g} s" if backend.ttl_sweep_s else "off"
    lines.append(
        f"  TTL expiry and archiving ({backend.manifest.bucket.local_bucket_name('<region>')}): {sweep}"
    )
    every = f"every {schedule_s:g} s" if (schedule_s := backend.schedule_s or 0) < ONCE_S else "once at start"
    names = ", ".join(s.name for s in backend.manifest.schedules)
    lines.append(
        f"  scheduled functions ({names}): {every}; search: {backend.base_urls[backend.regions[0]]}"
        "/service/gui/search?q=snomed"
    )
    ticker = f"every {backend.demo_ticker_s:g} s per demo tenant" if backend.ticker is not None else "off"
    lines.append(f"  live demo events (governance, readiness, prompt pack, cost): {ticker}")
    if not seeded:
        lines.append("  demo data: not seeded (--no-seed); the tokens below name tenants with no records")
    lines += ["", "Development tokens (12 h; more with `ddgui token --tenant T --subject S --scope S ...`):"]
    for tenant in TENANTS:
        home_url = backend.base_urls.get(tenant.home_region)
        if home_url is None:
            continue
        for user in tenant.users:
            token = mint_for(backend.keys, tenant, user)
            lines.append(f"  {user.subject} ({user.note})")
            header = shlex.quote(f"Authorization: Bearer {token}")
            lines.append(f"    curl -s -H {header} {home_url}{PREFERENCES_PATH}")
    lines += ["", "Live channels (WebSocket, server-sent events) and the dev console:"]
    for tenant in TENANTS:
        if tenant.home_region not in backend.base_urls:
            continue
        home_url = backend.base_urls[tenant.home_region]
        ws_url = backend.websocket_url(tenant.home_region, tenant=tenant.tenant, channel="jobs,notifications")
        lines.append(f"  {tenant.tenant}: {ws_url}   (the token as 2nd subprotocol, or &ticket=<ticket>)")
        lines.append(
            f"    SSE: {home_url}/service/gui/stream/<channel>/{tenant.tenant}   (Authorization: Bearer, or "
            f"?ticket=<ticket>; tickets: POST {home_url}/service/gui/live/tickets)"
        )
        lines.append(f"    console: {home_url}/dev/console?tenant={tenant.tenant}")
    lines += ["", f"Ready in {ready_s:.1f} s. Stop with Ctrl-C.", ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
