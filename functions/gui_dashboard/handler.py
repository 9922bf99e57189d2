"""Lambda entry point of the dashboard group: settings validated at cold start, app behind Mangum."""

from __future__ import annotations

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_core.observability import observability, rest_handler
    from gui_dashboard.app import create_app
    from gui_dashboard.settings import DashboardSettings

    settings = DashboardSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    handler = rest_handler(create_app(settings, metrics=metrics), logger=logger, metrics=metrics)
