"""Lambda entry point of the migrations' deploy step.

The stack's trigger (the CDK's `triggers.Trigger`) invokes a published version of this function with
an empty event after every deploy that changed it; the local runtime invokes it the same way at
start. It records the pending migrations in the ledger and runs them (inline or queued per tenant);
it raises, and so fails the deploy with the message, when one cannot proceed (gui_core.migrations).

`ddgui migrate` against a deployed region invokes it with `{"action": "status" | "plan" | "apply",
"tenant": ..., "dry_run": ..., "requested_by": <the operator's identity>}`.
"""

from __future__ import annotations

from typing import Any

from gui_core import coldstart

with coldstart.init():
    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.metric_names import add
    from gui_core.migrations.engine import Engine, MigrationBlocked, RunIdentity
    from gui_core.migrations.runner import Budget
    from gui_core.migrations.work_queue import SqsWorkQueue
    from gui_core.observability import observability
    from gui_core.quarantine import sqs_client
    from gui_migrate.actions import run_action
    from gui_migrate.deps import build_engine
    from gui_migrate.settings import MigrateSettings

    settings = MigrateSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    _dynamodb = dynamodb_client(settings.region)
    _tenants = Table(settings.tenants_table, _dynamodb)
    _ledger = Table(settings.migrations_table, _dynamodb)
    _tables = {name: Table(table, _dynamodb) for name, table in settings.table_names().items()}
    _queue = SqsWorkQueue(settings.work_queue_url, sqs_client(settings.region))

    def engine(who: str) -> Engine:
        return build_engine(
            region=settings.region,
            tenants=_tenants,
            migrations=_ledger,
            tables=_tables,
            queue=_queue,
            identity=RunIdentity(who=who, code_version=settings.code_version),
            count=lambda name, value: add(metrics, name, value),
            page_size=settings.page_size,
            inline_max_items=settings.inline_max_items,
        )

    def budget(context: Any) -> Budget:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        timed = (lambda: remaining() / 1000) if callable(remaining) else None
        return Budget(timed, reserve_s=settings.reserve_s)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    event = event or {}  # the trigger's invocation carries no payload
    action = str(event.get("action") or "deploy")
    function = str(getattr(context, "invoked_function_arn", "") or settings.service_name)
    requested_by = event.get("requested_by")
    who = f"deploy {function}" if action == "deploy" else f"{requested_by or 'unknown'} via {function}"
    tenant = event.get("tenant")
    logger.append_keys(action=action, tenant=tenant)
    version = str(getattr(context, "function_version", "") or "")
    try:
        answer = run_action(
            engine(who),
            action,
            budget(context),
            tenant=tenant,
            dry_run=bool(event.get("dry_run")),
            function_version=int(version) if version.isdigit() else None,  # `$LATEST`: no version
        )
    except MigrationBlocked:
        logger.exception("the migrations cannot proceed")
        raise
    for step in answer.get("steps", []):
        logger.info(f"{step['migration']}: {step['action']}", extra=step)
    return answer
