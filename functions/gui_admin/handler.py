"""Lambda entry point of the admin group."""

from __future__ import annotations

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_admin.app import create_app
    from gui_admin.settings import AdminSettings
    from gui_core.observability import observability, rest_handler

    settings = AdminSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    handler = rest_handler(create_app(settings, metrics=metrics), logger=logger, metrics=metrics)
