"""Names derived from the manifest's and the app's: construct ids (a rename in the manifest is the only
rename) and the regional stacks' names. Free of the CDK, so any module may import it."""

from __future__ import annotations

import re


def pascal_case(name: str) -> str:
    """`gui_preferences` -> `GuiPreferences`, `gui-events-to-stream` -> `GuiEventsToStream`."""
    return "".join(part.capitalize() for part in re.split(r"[-_]+", name) if part)


def stack_name(region: str) -> str:
    """The name of the app's stack of `region`."""
    return f"DdGui-{region}"
