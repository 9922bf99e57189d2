"""Licensing masks: fields a tenant's license policy marks restricted are removed or masked for
callers without `gui:license:restricted`. Every answer that passes through here says which license
tag applies and which fields were masked, so the GUI can show why something is hidden.

A policy names fields by dotted paths (`licensing.notes`); lists on the way are entered
element by element (`nodes.source_uri` covers the field in every node).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gui_core.rbac import LICENSE_RESTRICTED

MASK = "***"
Treatment = Literal["remove", "mask"]


@dataclass(frozen=True)
class LicensePolicy:
    license_tag: str
    restricted: Mapping[str, Treatment] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> LicensePolicy:
        """From a tenant record's `license_policy` map; no policy means nothing is restricted."""
        record = record or {}
        restricted = record.get("restricted_fields") or {}
        if isinstance(restricted, list):  # a bare list removes the fields
            restricted = dict.fromkeys(restricted, "remove")
        treatments: dict[str, Treatment] = {
            str(path): ("mask" if how == "mask" else "remove") for path, how in restricted.items()
        }
        return cls(license_tag=str(record.get("license_tag") or "unrestricted"), restricted=treatments)


@dataclass(frozen=True)
class Masked:
    document: Any
    license_tag: str
    masked_fields: tuple[str, ...]

    def license_block(self) -> dict[str, Any]:
        return {"tag": self.license_tag, "masked_fields": list(self.masked_fields)}


def apply_license(
    document: Any, policy: LicensePolicy, scopes: frozenset[str], *, share_untouched: bool = False
) -> Masked:
    """A copy of `document` with restricted fields treated, unless the caller may see them.

    `share_untouched`: only the containers a restricted path goes through are copied, the rest is
    shared with `document` (the same values, not copies of them). For a document read for one
    answer: a deep copy of each search hit was most of the search handler's own cost."""
    if LICENSE_RESTRICTED in scopes or not policy.restricted:
        return Masked(document, policy.license_tag, ())
    paths = sorted(policy.restricted.items())
    if share_untouched:
        result = document
        for path, _ in paths:
            result = _copied_along(result, path.split("."))
    else:
        result = copy.deepcopy(document)
    masked: list[str] = []
    for path, treatment in paths:
        if _treat(result, path.split("."), treatment):
            masked.append(path)
    return Masked(result, policy.license_tag, tuple(masked))


def _copied_along(node: Any, parts: list[str]) -> Any:
    """`node` with a new container at each step of `parts` (dicts by key, lists item by item), so
    that `_treat` changes nothing but the copy; what the path does not go through is shared."""
    if isinstance(node, list):
        return [_copied_along(item, parts) for item in node]
    if not isinstance(node, dict) or not parts or parts[0] not in node:
        return node
    copied = dict(node)
    if len(parts) > 1:
        copied[parts[0]] = _copied_along(node[parts[0]], parts[1:])
    return copied


def _treat(node: Any, parts: list[str], treatment: Treatment) -> bool:
    if isinstance(node, list):
        hits = [_treat(item, parts, treatment) for item in node]
        return any(hits)
    if not isinstance(node, dict) or not parts:
        return False
    head, rest = parts[0], parts[1:]
    if head not in node:
        return False
    if rest:
        return _treat(node[head], rest, treatment)
    if treatment == "remove":
        del node[head]
    else:
        node[head] = MASK if isinstance(node[head], str) else None
    return True
