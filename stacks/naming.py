"""Construct ids from manifest names, so a rename in the manifest is the only rename."""

from __future__ import annotations

import re


def pascal_case(name: str) -> str:
    """`gui_preferences` -> `GuiPreferences`, `gui-events-to-stream` -> `GuiEventsToStream`."""
    return "".join(part.capitalize() for part in re.split(r"[-_]+", name) if part)
