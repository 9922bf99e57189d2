"""Per-tenant rate limits in DynamoDB: a sliding-window counter over one-minute windows.

The count of the current window is an atomic `ADD` guarded by a condition, so concurrent Lambdas
can never admit more than the limit in a window. The previous window's count is weighted by how
much of it still overlaps the sliding minute (the standard sliding-window-counter estimate), which
smooths the burst a fixed window allows at its edge. A past window never changes, so its count is
cached per container: usually one DynamoDB call per request.

The key is the tenant and the route class only, both taken from the verified token and the matched
route: no header, path spelling, query string or client id enters it, so none can evade it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gui_core.errors import RateLimited

if TYPE_CHECKING:
    from gui_core.tenancy import Tenant

WINDOW_S = 60

DEFAULT_LIMITS: Mapping[str, int] = {
    "dashboard": 100,
    "job_commands": 20,
    "reads": 300,
    "writes": 60,
    "search": 120,
    "admin": 60,
    # WebSocket connects and SSE requests: an SSE client comes back after every answer that
    # carried events, so this class is the busiest per user.
    "live": 600,
}

PLAN_LIMITS: Mapping[str, Mapping[str, int]] = {
    "standard": {},
    "enterprise": {
        "dashboard": 300,
        "job_commands": 60,
        "reads": 900,
        "writes": 180,
        "search": 360,
        "live": 1800,
    },
}


def limit_for(route_class: str, *, plan: str, overrides: Mapping[str, int]) -> int:
    """Tenant override, else the plan's figure, else the default."""
    if route_class in overrides:
        return int(overrides[route_class])
    return int(
        PLAN_LIMITS.get(plan, {}).get(route_class, DEFAULT_LIMITS.get(route_class, DEFAULT_LIMITS["reads"]))
    )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int  # when the current window ends
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class CounterStore(Protocol):
    def increment_below(self, key: Mapping[str, Any], *, ceiling: int, expires_at: int) -> int | None:
        """Add 1 to the counter unless it is already >= ceiling; the new count, or None if refused."""
        ...

    def read_count(self, key: Mapping[str, Any]) -> int: ...


class RateLimiter:
    def __init__(self, counters: CounterStore, *, clock: Callable[[], float] = time.time) -> None:
        self._counters = counters
        self._clock = clock
        self._previous: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()

    def hit(self, tenant: str, route_class: str, limit: int) -> Decision:
        now = self._clock()
        window = int(now // WINDOW_S)
        window_end = (window + 1) * WINDOW_S
        elapsed = (now - window * WINDOW_S) / WINDOW_S
        previous = self._previous_count(tenant, route_class, window - 1)
        carried = math.floor(previous * (1.0 - elapsed))
        ceiling = limit - carried
        count = None
        if ceiling > 0:
            count = self._counters.increment_below(
                _key(tenant, route_class, window), ceiling=ceiling, expires_at=window_end + 2 * WINDOW_S
            )
        if count is None:
            # One slot frees when the carried share of the previous window drops by one request,
            # and all of them at the end of the window: tell the client the sooner of the two.
            until_end = max(1, math.ceil(window_end - now))
            retry = until_end if previous == 0 else min(until_end, max(1, math.ceil(WINDOW_S / previous)))
            return Decision(False, limit, 0, window_end, retry)
        return Decision(True, limit, max(0, ceiling - count), window_end, 0)

    def _previous_count(self, tenant: str, route_class: str, window: int) -> int:
        cache_key = (tenant, route_class, window)
        with self._lock:
            if cache_key in self._previous:
                return self._previous[cache_key]
        count = self._counters.read_count(_key(tenant, route_class, window))
        with self._lock:
            if len(self._previous) > 10_000:
                self._previous.clear()
            self._previous[cache_key] = count
        return count


def _key(tenant: str, route_class: str, window: int) -> dict[str, str]:
    return {"pk": tenant, "sk": f"RATE#{route_class}#{window}"}


def enforce_limit(
    rate_limiter: RateLimiter | None, tenant: Tenant, route_class: str, *, count: Callable[[str], None]
) -> Decision | None:
    """Count one request of `route_class` against the tenant's limit; 429 past it. None when
    limiting is off."""
    if rate_limiter is None:
        return None
    limit = limit_for(route_class, plan=tenant.plan, overrides=tenant.rate_limits)
    decision = rate_limiter.hit(tenant.id, route_class, limit)
    if not decision.allowed:
        count("RateLimitBreaches")
        raise RateLimited(
            f"The {route_class} limit of {limit} requests per minute is reached.",
            headers=decision.headers(),
            route_class=route_class,
        )
    return decision
