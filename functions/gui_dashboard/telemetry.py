"""The `telemetry` block of the dashboard answers: the aggregate gui_telemetry keeps in the metrics
cache for each preset range (`gui_dashboard.cache.telemetry_key`), read as it is, never computed
here.

- a preset range ending now (`range=24h|7d|30d`, or none: 7d): the cached aggregate of that preset,
  `status: fresh`; its own `as_of` and `range` say when it was computed and over what (up to the
  aggregation's schedule before the answer's range);
- no live item (the aggregation has not run for the tenant yet, or its item expired because it
  stopped running): `status: pending`;
- `from`/`to`: `status: preset_only`, the aggregation computes the presets only.

`/metrics/{module}` answers the module's slice of the same aggregate (`module_slice`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gui_dashboard.logic import DEFAULT_PRESET, MODULES

FRESH, PENDING, PRESET_ONLY = "fresh", "pending", "preset_only"


def telemetry_preset(*, start: datetime | None, end: datetime | None, preset: str | None) -> str | None:
    """The preset of a request's range, None for an explicit `from`/`to`."""
    if start is not None or end is not None:
        return None
    return preset or DEFAULT_PRESET


def telemetry_block(
    document: dict[str, Any] | None, *, preset: str | None, module: str | None = None
) -> dict[str, Any]:
    """The block for an answer: the cached document (or its module slice) and its status."""
    if preset is None:
        return {"status": PRESET_ONLY, "preset": None, "module": module}
    if document is None:
        return {"status": PENDING, "preset": preset, "module": module}
    found = document if module is None else module_slice(document, module)
    return {**found, "status": FRESH, "preset": preset, "module": module}


def module_slice(document: dict[str, Any], module: str) -> dict[str, Any]:
    """What concerns one dashboard module: its verbs' SLA and queues, its cost, its reported metrics,
    and its own section (governance, readiness, prompt packs). `cost` (every verb) gets every verb
    and the whole cost section. Daily trends and incidents stay on the dashboard."""
    verbs = set(MODULES[module].verbs)
    every_verb = module == "cost"
    queue = document.get("queue") or {}
    queue_verbs = [v for v in queue.get("verbs", []) if v.get("verb") in verbs]
    if every_verb:
        queue_figures = queue.get("figures", [])
    elif len(queue_verbs) == 1:
        queue_figures = queue_verbs[0].get("figures", [])
    else:
        queue_figures = []  # percentiles are not composed from other percentiles
    return {
        "as_of": document.get("as_of"),
        "range": document.get("range"),
        "previous_range": document.get("previous_range"),
        "facts": document.get("facts"),
        "sla": [entry for entry in document.get("sla", []) if entry.get("verb") in verbs],
        "cost": _cost_slice(document.get("cost"), module, every_verb=every_verb) if verbs else None,
        "queue": {
            "waiting": sum(int(v.get("waiting", 0)) for v in queue_verbs),
            "figures": queue_figures,
            "verbs": queue_verbs,
            "reported": [r for r in queue.get("reported", []) if r.get("module") == module],
        },
        "trends": None,
        "modules": [m for m in document.get("modules", []) if m.get("module") == module],
        "governance": document.get("governance") if module == "governance" else None,
        "readiness": document.get("readiness") if module == "readiness" else None,
        "prompt_packs": document.get("prompt_packs") if module == "prompt_pack" else None,
        "incidents": None,
    }


def _cost_slice(cost: dict[str, Any] | None, module: str, *, every_verb: bool) -> dict[str, Any] | None:
    if cost is None or every_verb:
        return cost
    mine = [m for m in cost.get("modules", []) if m.get("module") == module]
    if not mine:
        return None
    return {
        "total": mine[0]["cost_usd"],
        "modules": mine,
        "budget_alerts": [a for a in cost.get("budget_alerts", []) if a.get("module") == module],
    }
