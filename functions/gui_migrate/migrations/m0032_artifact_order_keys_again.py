from __future__ import annotations

from gui_core.migrations.model import Phase
from gui_migrate.migrations.m0030_artifact_order_keys import ArtifactOrderKeys


class ArtifactOrderKeysAgain(ArtifactOrderKeys):
    """The second pass of 0030_artifact_order_keys, which `GET /artifacts/search` waits for before it
    serves from the order index: the release before kept publishing while 0030's deploy ran, after
    the first pass had gone by, a new artifact with no order items and no count, or a rewrite of a
    listed one without `listed` and with its order items stale. 0030's own upgrade, again: the first
    is listed and counted, the second relisted (its order items made again) and not counted again,
    since its `created` order item says it was counted; a listed record costs a read."""

    id = "0032_artifact_order_keys_again"
    description = (
        "Second pass of 0030: artifacts the release before published during 0030's deploy get their "
        "order items and are counted once (or, counted before, relisted), before the search serves "
        "from the by_order index."
    )
    phase = Phase.MIGRATE
    requires = ("0030_artifact_order_keys",)
    repeats = "0030_artifact_order_keys"
