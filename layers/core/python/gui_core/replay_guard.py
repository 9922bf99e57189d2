"""Replay protection for mutations: a request sent again is refused (not the live channels' replay
log, which is `gui_core.replay_log`).

A mutation is identified by its `Idempotency-Key` when the client sends one, otherwise by the token
that carries it together with the request itself (method, path, query, If-Match, body digest). The
identity is reserved with a conditional put before the route runs; a second request with the same
identity within the window gets 409 and changes nothing. A mutation that fails (4xx/5xx) releases
its reservation, so a client can correct and resend it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Protocol

from gui_core.context import RequestContext
from gui_core.dynamo import ConditionFailed, Table, item_absent

DEFAULT_WINDOW_S = 600


def mutation_identity(
    caller: RequestContext,
    *,
    method: str,
    path: str,
    query: str,
    if_match: str | None,
    body_sha256: str,
    idempotency_key: str | None,
) -> str:
    if idempotency_key:
        material = f"key|{caller.subject}|{idempotency_key}"
    else:
        token = caller.token_id or f"{caller.subject}|{caller.expires_at}"
        material = f"token|{token}|{method}|{path}|{query}|{if_match or ''}|{body_sha256}"
    return hashlib.sha256(material.encode()).hexdigest()


class ReplayStore(Protocol):
    def reserve(self, tenant: str, identity: str) -> bool: ...

    def release(self, tenant: str, identity: str) -> None: ...


class DynamoReplayStore:
    def __init__(
        self, table: Table, *, window_s: int = DEFAULT_WINDOW_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._table = table
        self._window_s = window_s
        self._clock = clock

    def reserve(self, tenant: str, identity: str) -> bool:
        now = int(self._clock())
        item = {
            "pk": tenant,
            "sk": f"SEEN#{identity}",
            "reserved_at": now,
            "expires_at": now + self._window_s,
        }
        try:
            self._table.put(item, condition=item_absent("sk"))
        except ConditionFailed:
            # DynamoDB deletes expired items lazily: an expired reservation is not a replay.
            stored = self._table.get({"pk": tenant, "sk": f"SEEN#{identity}"})
            if stored and int(stored.get("expires_at", 0)) > now:
                return False
            self._table.put(item)
        return True

    def release(self, tenant: str, identity: str) -> None:
        self._table.delete({"pk": tenant, "sk": f"SEEN#{identity}"})
