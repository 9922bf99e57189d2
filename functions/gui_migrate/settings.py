from __future__ import annotations

from pydantic import Field

from gui_core.settings import FunctionSettings


class MigrateSettings(FunctionSettings):
    """Fields of both migration functions (the deploy step and the worker)."""

    # The manifest's `Store.env_var` and `Queue.env_var` names (the manifest is not shipped).
    tenants_table: str = Field(alias="TENANTS_TABLE", min_length=1)
    migrations_table: str = Field(alias="MIGRATIONS_TABLE", min_length=1)
    inbox_table: str = Field(alias="INBOX_TABLE", min_length=1)
    work_queue_url: str = Field(alias="MIGRATION_WORK_QUEUE_URL", min_length=1)
    # A migration whose plan holds at most this many items runs inside the deploy step.
    inline_max_items: int = Field(default=2000, alias="MIGRATION_INLINE_MAX_ITEMS", ge=0)
    # A run stops this long before its function's timeout, leaving its checkpoint.
    reserve_s: float = Field(default=30.0, alias="MIGRATION_RESERVE_S", ge=0)
    # The code version the ledger records: Lambda's version of the function (the trigger invokes a
    # published version), or what the local runtime sets (the git commit).
    code_version: str = Field(default="unknown", alias="AWS_LAMBDA_FUNCTION_VERSION")
    code_revision: str | None = Field(default=None, alias="GUI_CODE_REVISION")
