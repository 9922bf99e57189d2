from __future__ import annotations

from pydantic import Field

from gui_core.settings import FunctionSettings


class MigrateSettings(FunctionSettings):
    """Fields of both migration functions (the deploy step and the worker)."""

    # The manifest's `Store.env_var` and `Queue.env_var` names (the manifest is not shipped). Every
    # store a registered migration changes has its table here (a unit test holds them together).
    tenants_table: str = Field(alias="TENANTS_TABLE", min_length=1)
    migrations_table: str = Field(alias="MIGRATIONS_TABLE", min_length=1)
    inbox_table: str = Field(alias="INBOX_TABLE", min_length=1)
    jobs_table: str = Field(alias="JOBS_TABLE", min_length=1)
    preferences_table: str = Field(alias="PREFERENCES_TABLE", min_length=1)
    artifacts_table: str = Field(alias="ARTIFACTS_TABLE", min_length=1)
    metrics_table: str = Field(alias="METRICS_TABLE", min_length=1)
    work_queue_url: str = Field(alias="MIGRATION_WORK_QUEUE_URL", min_length=1)
    # A migration whose target holds at most this many items runs inside the call that starts it.
    inline_max_items: int = Field(default=2000, alias="MIGRATION_INLINE_MAX_ITEMS", ge=0)
    # A run stops this long before its function's timeout, leaving its checkpoint.
    reserve_s: float = Field(default=30.0, alias="MIGRATION_RESERVE_S", ge=0)
    page_size: int = Field(default=100, alias="MIGRATION_PAGE_SIZE", ge=1, le=1000)
    # The code version the ledger records: Lambda's version of the function (the deploy's trigger
    # invokes a published version), and the source revision when the runtime knows it (the local
    # runtime sets the git commit).
    function_version: str = Field(default="$LATEST", alias="AWS_LAMBDA_FUNCTION_VERSION")
    code_revision: str | None = Field(default=None, alias="GUI_CODE_REVISION")

    @property
    def code_version(self) -> str:
        return (
            f"{self.function_version} ({self.code_revision})" if self.code_revision else self.function_version
        )

    def table_names(self) -> dict[str, str]:
        """The stores a migration may change, by manifest name."""
        return {
            "inbox": self.inbox_table,
            "jobs": self.jobs_table,
            "preferences": self.preferences_table,
            "artifacts": self.artifacts_table,
            "metrics": self.metrics_table,
        }
