"""The ledger's keys and the status a reader looks for: all that gui_core.migrations.gate needs of
the ledger's format, in a module of its own so that a function reading the gate at request time does
not import the ledger, the migration model and the S3 pagers of the targets at its cold start (issue
17: about 15-30 ms of a REST or WebSocket function's import)."""

from __future__ import annotations

RUN_SK = "RUN"  # the sort key of a migration's run record (its partition key is the migration's id)
TENANT_PREFIX = "TENANT#"  # the sort key of a tenant's checkpoint: this prefix and the tenant
DONE = "done"  # gui_core.migrations.model.Status.DONE's value, as the ledger stores it
