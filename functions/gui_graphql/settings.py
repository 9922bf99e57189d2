from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings


class GraphQLSettings(ApiSettings):
    """The stores of the groups the schema's fields call, as each group's REST function names them."""

    jobs_table: str = Field(alias="JOBS_TABLE")
    inbox_table: str = Field(alias="INBOX_TABLE")
    migrations_table: str = Field(alias="MIGRATIONS_TABLE")  # the ledger, read: gui_core.migrations.gate
    domain_bus: str = Field(alias="DOMAIN_BUS")
    idempotency_hours: int = Field(default=24, alias="JOB_IDEMPOTENCY_HOURS", gt=0, le=24 * 30)
    retention_days: int = Field(default=90, alias="NOTIFICATION_RETENTION_DAYS", gt=0, le=3650)
    # Introspection (`__schema`, `__type`) answered: on where the GUI team explores the schema (the
    # local runtime, a test stage), off in production, where the GUI's operations are known.
    introspection: bool = Field(default=False, alias="GRAPHQL_INTROSPECTION")
