from __future__ import annotations

from gui_core.migrations.model import Phase
from gui_migrate.migrations.m0010_jobs_filter_keys import JobsFilterKeys


class JobsFilterKeysAgain(JobsFilterKeys):
    """The second pass of 0010_jobs_filter_keys, which a filtered `GET /jobs` waits for before it
    serves from the keys: the release before kept writing jobs while 0010's deploy ran, after the
    first pass had gone by, a new job without its key items or a status change carrying the old
    `keyed_status` over. 0010's own upgrade, again: it writes the keys of a job with none, moves
    those of a job whose status moved since, and leaves a job keyed for its status alone, so a job
    a writer of this release keyed, or the first pass did, costs a read."""

    id = "0012_jobs_filter_keys_again"
    description = (
        "Second pass of 0010: jobs the release before wrote during 0010's deploy get their list keys "
        "(or have them moved to their status), before a filtered GET /jobs serves from the keys."
    )
    phase = Phase.MIGRATE
    requires = ("0010_jobs_filter_keys",)
    repeats = "0010_jobs_filter_keys"
