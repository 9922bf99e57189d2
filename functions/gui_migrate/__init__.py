"""Schema migrations of the region's stored data (gui_core.migrations): the deploy step
(`gui_migrate.handler`, run by the stack's trigger and by the local runtime at start) and the worker
consuming the per-tenant work items (`gui_migrate.gui_migrate_worker`). The registered migrations
are in `gui_migrate.registry`."""
