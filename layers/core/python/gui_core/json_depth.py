"""How deep a JSON text nests, counted before anything parses it: the one limit of a REST body and a
WebSocket message. Python's parser gives up at the interpreter's recursion limit (a RecursionError,
about 1,000 levels on Lambda), a limit any library may move; this one does not move."""

from __future__ import annotations

import re

# Deeper than any body or message of this API (a saved view's filters are 3 levels), and DynamoDB's
# own limit of a stored document.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the arrays and objects of a JSON text nest deeper than `limit`, counted without
    parsing it (its strings left out). A text with fewer brackets than the limit is not read at all."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", body)):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
