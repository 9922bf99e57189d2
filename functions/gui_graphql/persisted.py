"""Persisted queries: a document sent by its SHA-256 instead of its text.

Apollo's automatic persisted queries: a request carries `extensions.persistedQuery` (`version` 1,
`sha256Hash`: the hex SHA-256 of the document's UTF-8 text). Sent without its text, a known hash
is run as its document; an unknown one is refused with the message `PersistedQueryNotFound`, and
the client sends the text with the hash, which is checked and kept (in the container, at most
`CAPACITY` documents, the least recently used dropped first). A hash is also the key of a GET a
CDN may cache.

The allowlist is the GUI's own operations (docs/gui/operations.graphql, hashed into
`persisted_queries.json` by `.venv/bin/python -m local.graphql_sdl`, checked by a test): always
known by hash. In `allowlist` mode (`GRAPHQL_PERSISTED_QUERIES`, for production) nothing else
runs, text or hash; in `open` mode (the default) any document runs.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from gui_graphql.execution import RefusedDocument

ALLOWLIST_FILE = Path(__file__).resolve().parent / "persisted_queries.json"
CAPACITY = 1_000
Mode = Literal["open", "allowlist"]


class PersistedQueryNotFound(RefusedDocument):
    status, code, title = 400, "persisted_query_not_found", "No document is known by this hash"

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")  # the message Apollo's clients look for


class PersistedQueryMismatch(RefusedDocument):
    status, code, title = 400, "persisted_query_mismatch", "The document's SHA-256 is not the hash sent"


class PersistedQueryNotAllowed(RefusedDocument):
    status, code, title = 400, "persisted_query_not_allowed", "Only the GUI's own operations run here"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_allowlist(path: Path = ALLOWLIST_FILE) -> dict[str, str]:
    """The GUI's operations by hash ({} when the file is missing: a test's or a new checkout's)."""
    if not path.exists():
        return {}
    found: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return found


class PersistedQueries:
    def __init__(
        self, allowlist: Mapping[str, str], *, mode: Mode = "open", capacity: int = CAPACITY
    ) -> None:
        self._allowlist = dict(allowlist)
        self._mode = mode
        self._capacity = capacity
        self._kept: OrderedDict[str, str] = OrderedDict()

    def document(self, query: Any, extensions: Any) -> Any:
        """The document to run: the text sent, or the one its hash names (a RefusedDocument when it
        cannot be). Without a persisted-query extension, `query` as it came (checked later)."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, Mapping) else None
        if not isinstance(persisted, Mapping):
            if self._mode == "allowlist" and (
                not isinstance(query, str) or sha256(query) not in self._allowlist
            ):
                raise PersistedQueryNotAllowed("Send one of the GUI's operations, by its hash.")
            return query
        digest = persisted.get("sha256Hash")
        if persisted.get("version") != 1 or not isinstance(digest, str) or len(digest) != 64:
            raise PersistedQueryMismatch("`persistedQuery` is {version: 1, sha256Hash: <64 hex digits>}.")
        digest = digest.lower()
        if isinstance(query, str) and query:
            if sha256(query) != digest:
                raise PersistedQueryMismatch("The document's SHA-256 is not `sha256Hash`.")
            if self._mode == "allowlist" and digest not in self._allowlist:
                raise PersistedQueryNotAllowed("Send one of the GUI's operations, by its hash.")
            self._keep(digest, query)
            return query
        known = self._allowlist.get(digest)
        if known is None and self._mode == "open":
            known = self._kept.get(digest)
            if known is not None:
                self._kept.move_to_end(digest)
        if known is None:
            raise PersistedQueryNotFound()
        return known

    def _keep(self, digest: str, query: str) -> None:
        if digest in self._allowlist:
            return
        self._kept[digest] = query
        self._kept.move_to_end(digest)
        while len(self._kept) > self._capacity:
            self._kept.popitem(last=False)
