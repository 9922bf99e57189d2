from __future__ import annotations

from gui_core.migrations.model import Phase
from gui_migrate.migrations.m0011_view_list_keys import ViewListKeys


class ViewListKeysAgain(ViewListKeys):
    """The second pass of 0011_view_list_keys, which `GET /preferences/views` waits for before it
    serves from the keys: the release before kept writing views while 0011's deploy ran, after the
    first pass had gone by, a new view without its key items or a change of visibility or module
    carrying the old `keyed_as` over. 0011's own upgrade, again: it writes the keys of a view with
    none, moves those of a view whose visibility or module moved since, and leaves a view keyed as
    it is alone."""

    id = "0013_view_list_keys_again"
    description = (
        "Second pass of 0011: saved views the release before wrote during 0011's deploy get their "
        "list keys (or have them moved), before GET /preferences/views serves from the keys."
    )
    phase = Phase.MIGRATE
    requires = ("0011_view_list_keys",)
    repeats = "0011_view_list_keys"
