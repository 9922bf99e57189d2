"""Schema migrations of the data a region stores: ordered, named, versioned units, each idempotent
and resumable, applied online by every deploy of the region (gui_migrate) and by `ddgui migrate`.

- `model`: what a migration is: an `ItemMigration` of a DynamoDB store or an `ObjectMigration` of
  the objects under an S3 prefix, with its phase (expand, migrate, contract) and version.
- `targets`: the pagers that walk one tenant's items or objects a page at a time and write a change
  only where the old shape is still there (a conditional write per item or object).
- `ledger`: the region's ledger (the migrations store): a run record per migration and a checkpoint
  per tenant, advanced page by page.
- `runner`: one tenant's part of a migration within a time budget.
- `engine`: the use cases: the deploy step, an operator's apply, the worker's step, status, plan.
- `work_queue`: the SQS adapter of the per-tenant work items.
"""
