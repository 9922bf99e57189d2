"""`ddgui migrate status | plan | apply`: the region's schema migrations (gui_core.migrations).

Two places to run against:
- the local runtime: `--endpoint-url` (which `ddgui dev` prints) and `--region`; the command runs the
  engine itself with the operator's credentials over the local tables and queue (queued work items
  go to the running runtime's worker);
- a deployed region: `--region` and the credentials of the environment (as the AWS CLI finds them);
  the command invokes the region's deploy-step function (`gui_migrate`) with the action, so the
  region's own code and role do the work. Its name comes from the stack's output
  `MigrateFunctionName` (of `DdGui-<region>`), or from `--function-name`; the caller needs
  `lambda:InvokeFunction` on it.

`plan` and `apply --dry-run` read only: what each pending migration would change, per tenant, with
counts and a few examples. `apply` starts or resumes the pending migrations in order (a failed one
too, whatever its version: the operator fixed the data, or the cause was transient); with
`--tenant`, only that tenant's part of the migrations already running.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from local.quarantine import QuarantineError, region_of, stack_outputs
from stacks.naming import stack_name

FUNCTION_OUTPUT = "MigrateFunctionName"
INVOKE_READ_TIMEOUT_S = 960  # beyond the function's timeout (stacks/manifest.py)


class MigrateError(Exception):
    """The command cannot run (no such stack or output, the function failed...)."""


class Migrations(Protocol):
    """Where the actions run: `gui_migrate.actions.run_action`'s answers."""

    @property
    def where(self) -> str: ...

    def run(self, action: str, *, tenant: str | None = None, dry_run: bool = False) -> dict[str, Any]: ...


@dataclass
class LocalMigrations:
    """The engine in this process, over the local runtime's tables and queue in one region."""

    endpoint_url: str
    region: str

    @property
    def where(self) -> str:
        return f"{self.endpoint_url} ({self.region})"

    def run(self, action: str, *, tenant: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        from gui_core.dynamo import Table
        from gui_core.migrations.engine import MigrationBlocked, RunIdentity
        from gui_core.migrations.runner import Budget
        from gui_core.migrations.work_queue import SqsWorkQueue
        from gui_migrate.actions import run_action
        from gui_migrate.deps import build_engine
        from local.aws import aws_client, queue_url
        from local.runtime import code_revision
        from stacks.manifest import MANIFEST, MIGRATION_QUEUE

        dynamodb = aws_client("dynamodb", endpoint_url=self.endpoint_url, region=self.region)
        try:
            dynamodb.describe_table(TableName=MANIFEST.store("migrations").local_table_name())
        except dynamodb.exceptions.ResourceNotFoundException as exc:
            raise MigrateError(f"no migrations store at {self.where}: is `ddgui dev` running?") from exc
        tables = {store.name: Table(store.local_table_name(), dynamodb) for store in MANIFEST.stores}
        from gui_dashboard.rollup_store import RollupStore
        from gui_migrate.migrations.m0020_dashboard_rollups_jobs import use_rollups

        use_rollups(RollupStore(tables["metrics"]))  # the rollups' backfill writes the metrics store
        caller = aws_client("sts", endpoint_url=self.endpoint_url, region=self.region).get_caller_identity()
        engine = build_engine(
            region=self.region,
            tenants=tables["tenants"],
            migrations=tables["migrations"],
            tables=tables,
            queue=SqsWorkQueue(
                queue_url(MANIFEST, MIGRATION_QUEUE.name, endpoint_url=self.endpoint_url),
                aws_client("sqs", endpoint_url=self.endpoint_url, region=self.region),
            ),
            identity=RunIdentity(
                who=f"ddgui migrate ({caller['Arn']})", code_version=f"cli ({code_revision() or 'unknown'})"
            ),
        )
        try:
            return run_action(engine, action, Budget(), tenant=tenant, dry_run=dry_run)
        except MigrationBlocked as exc:
            raise MigrateError(str(exc)) from exc


@dataclass
class DeployedMigrations:
    """The region's `gui_migrate` function, invoked with the action."""

    region: str
    function_name: str
    client: Any
    caller: str

    @property
    def where(self) -> str:
        return f"{self.function_name} ({self.region})"

    def run(self, action: str, *, tenant: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        payload = {"action": action, "tenant": tenant, "dry_run": dry_run, "requested_by": self.caller}
        answer = self.client.invoke(
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
        body = answer["Payload"].read().decode() or "null"
        if answer.get("FunctionError"):
            try:
                message = json.loads(body).get("errorMessage") or body
            except (ValueError, AttributeError):
                message = body
            raise MigrateError(f"{self.function_name}: {message}")
        document: dict[str, Any] = json.loads(body)
        return document


def deployed(
    region: str, *, stack: str | None = None, function_name: str | None = None
) -> DeployedMigrations:
    """A deployed region's migrations, with the environment's credentials."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name=region)
    if function_name is None:
        try:
            outputs = stack_outputs(session.client("cloudformation"), stack or stack_name(region))
        except QuarantineError as exc:
            raise MigrateError(str(exc)) from exc
        if FUNCTION_OUTPUT not in outputs:
            raise MigrateError(
                f"the stack has no output {FUNCTION_OUTPUT}: deploy this version, or give --function-name"
            )
        function_name = outputs[FUNCTION_OUTPUT]
    client = session.client(
        "lambda", config=Config(read_timeout=INVOKE_READ_TIMEOUT_S, retries={"max_attempts": 1})
    )
    caller = str(session.client("sts").get_caller_identity()["Arn"])
    return DeployedMigrations(region, function_name, client, caller)


def where_to(
    *, endpoint_url: str | None, region: str | None, stack: str | None, function_name: str | None
) -> Migrations:
    try:
        chosen = region_of(region, local=bool(endpoint_url))
    except QuarantineError as exc:
        raise MigrateError(str(exc)) from exc
    if endpoint_url:
        return LocalMigrations(endpoint_url, chosen)
    return deployed(chosen, stack=stack, function_name=function_name)


# -- rendering ----------------------------------------------------------------------------------


def render(answer: Mapping[str, Any], out: Callable[[str], None]) -> None:
    """The answer of an action as lines for a terminal."""
    for state in answer.get("migrations", []):
        _render_state(state, out)
    for plan in answer.get("plans", []):
        _render_plan(plan, out)
    for step in answer.get("steps", []):
        counts = step.get("counts") or {}
        line = f"{step['migration']}: {step['action']}"
        if step.get("tenants"):
            line += f", {step['tenants']} tenant(s)"
        if counts.get("scanned"):
            line += f", changed {counts['changed']} of {counts['scanned']} read"
        out(line + (f" ({step['detail']})" if step.get("detail") else ""))


def _render_state(state: Mapping[str, Any], out: Callable[[str], None]) -> None:
    run = state.get("run") or {}
    tenants = run.get("tenants") or {}
    counts = run.get("counts") or {}
    line = (
        f"{state['migration']:<32} {state['status']:<8} {state['phase']:<8} v{state['version']}  "
        f"{state['target']}  tenants {tenants.get('done', 0)}/{tenants.get('total', 0)}  "
        f"changed {counts.get('changed', 0)} of {counts.get('scanned', 0)}"
    )
    if run.get("mode"):
        line += f"  ({run['mode']})"
    if not state.get("known", True):
        line += "  [not in this code]"
    out(line)
    if run.get("started_at"):
        finished = ""
        if run.get("finished_at"):
            finished = f", finished {run['finished_at']} in {run.get('duration_s')} s"
        by = f"by {run.get('started_by')}, code {run.get('code_version')}"
        out(f"    started {run['started_at']} {by}{finished}")
    if state.get("tenants"):
        progress = state.get("in_progress") or {}
        out(f"    checkpoints {state['tenants']}; in progress: changed {progress.get('changed', 0)}")
    if run.get("error"):
        error = run["error"]
        where = f"tenant {error.get('tenant')}, version {error.get('version')}"
        out(f"    error ({where}): {error.get('message')}")


def _render_plan(plan: Mapping[str, Any], out: Callable[[str], None]) -> None:
    if plan["status"] == "done":
        out(f"{plan['migration']:<32} done: nothing to change")
        return
    out(
        f"{plan['migration']:<32} {plan['status']:<8} {plan['phase']:<8} v{plan['version']}  "
        f"{plan['target']}: would change {plan['would_change']} of {plan['scanned']} read "
        f"({plan['already_new']} already new); estimate {plan['estimate']}, would run {plan['mode']}"
        + ("  [partial: time ran out]" if plan.get("partial") else "")
    )
    if plan.get("after"):
        out(f"    read before {', '.join(plan['after'])} ran: the counts may change")
    if plan.get("blocked"):
        out(f"    blocked: {plan['blocked']}")
    for tenant, counts in plan.get("tenants", {}).items():
        out(f"    {tenant}: would change {counts['changed']} of {counts['scanned']}")
    for example in plan.get("examples", []):
        out(f"    e.g. {json.dumps(example, sort_keys=True)}")
