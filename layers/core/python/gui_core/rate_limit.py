"""Per-tenant rate limits in DynamoDB: a sliding-window counter over one-minute windows.

The count of the current window is an atomic `ADD` guarded by a condition, so concurrent Lambdas
can never admit more than the limit in a window. The previous window's count is weighted by how
much of it still overlaps the sliding minute (the standard sliding-window-counter estimate), which
smooths the burst a fixed window allows at its edge. A past window never changes, so its count is
cached per container: usually one DynamoDB call per request.

The key is the tenant and the route class only, both taken from the verified token and the matched
route: no header, path spelling, query string or client id enters it, so none can evade it.

Refusing is cheap. A refusal, and an admission that took the window's last slot, are remembered in
the container until a slot can free (the refusal's `retry_after_s`), so the rest of a flood reaching
that container is refused without a call to the store; another container pays one call to learn it.
The conditional `ADD` writes nothing when the count is at its ceiling, and a store that throttles the
counter's key (a flood of one tenant's requests on one partition) answers 429 for one second, never
a 5xx.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gui_core.errors import RateLimited
from gui_core.metric_names import GuardMetric

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
    # WebSocket messages: of the tenant's connections together, and of each connection alone (a
    # GUI sends a few a minute: subscribes, pings, acknowledgements, a resume page after another).
    "live_messages": 3000,
    "live_connection_messages": 120,
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
        "live_messages": 9000,
    },
}
LIVE_MESSAGES = "live_messages"
CONNECTION_MESSAGES = "live_connection_messages"


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


class CounterThrottled(Exception):
    """The store refused the counter's write for want of capacity (its partition is hot)."""


class CounterStore(Protocol):
    def increment_below(
        self, key: Mapping[str, Any], *, ceiling: int, expires_at: int, amount: int = 1
    ) -> int | None:
        """Add `amount` (1 unless a request costs several) to the counter unless the sum would pass
        `ceiling`; the new count, or None if refused (and then nothing is written). Raises
        CounterThrottled when the store throttles the key."""
        ...

    def read_count(self, key: Mapping[str, Any]) -> int: ...


# A counter the store throttled is refused for this long: the store's own retries already waited.
THROTTLED_RETRY_S = 1


class RefusalMemory:
    """Refusals remembered in the container until they end, by (tenant, key): the rest of a flood is
    refused without a store call. Bounded: past `capacity` entries the ended ones go, then all."""

    def __init__(self, *, clock: Callable[[], float], capacity: int = 10_000) -> None:
        self._clock = clock
        self.capacity = capacity
        self._refused: dict[tuple[str, str], tuple[float, Decision]] = {}
        self._lock = threading.Lock()

    def recall(self, tenant: str, key: str) -> Decision | None:
        """The remembered refusal, its `retry_after_s` counted down; None when there is none (now)."""
        now = self._clock()
        with self._lock:
            found = self._refused.get((tenant, key))
            if found is None:
                return None
            until, decision = found
            if until <= now:
                del self._refused[(tenant, key)]
                return None
        return Decision(False, decision.limit, 0, decision.reset_epoch, max(1, math.ceil(until - now)))

    def remember(self, tenant: str, key: str, decision: Decision) -> None:
        now = self._clock()
        with self._lock:
            if (tenant, key) in self._refused:
                return
            if len(self._refused) >= self.capacity:
                self._refused = {k: v for k, v in self._refused.items() if v[0] > now}
                if len(self._refused) >= self.capacity:
                    self._refused.clear()
            self._refused[(tenant, key)] = (now + decision.retry_after_s, decision)


class RateLimiter:
    def __init__(self, counters: CounterStore, *, clock: Callable[[], float] = time.time) -> None:
        self._counters = counters
        self._clock = clock
        self._previous: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        self.refusals = RefusalMemory(clock=clock)

    def hit(self, tenant: str, route_class: str, limit: int, amount: int = 1) -> Decision:
        """`amount` requests of `route_class` at once (a GraphQL document asking several fields of
        the class): all counted, or none and refused."""
        remembered = self.refusals.recall(tenant, route_class)
        if remembered is not None:
            return Decision(False, limit, 0, remembered.reset_epoch, remembered.retry_after_s)
        now = self._clock()
        window = int(now // WINDOW_S)
        window_end = (window + 1) * WINDOW_S
        elapsed = (now - window * WINDOW_S) / WINDOW_S
        previous = self._previous_count(tenant, route_class, window - 1)
        carried = math.floor(previous * (1.0 - elapsed))
        ceiling = limit - carried
        # One slot frees when the carried share of the previous window drops by one request, and all
        # of them at the end of the window: a refusal tells the client the sooner of the two.
        until_end = max(1, math.ceil(window_end - now))
        retry = until_end if previous == 0 else min(until_end, max(1, math.ceil(WINDOW_S / previous)))
        count = None
        if ceiling >= amount:
            try:
                count = self._counters.increment_below(
                    _key(tenant, route_class, window),
                    ceiling=ceiling,
                    expires_at=window_end + 2 * WINDOW_S,
                    amount=amount,
                )
            except CounterThrottled:
                refused = Decision(False, limit, 0, window_end, THROTTLED_RETRY_S)
                self.refusals.remember(tenant, route_class, refused)
                return refused
        if count is None:
            refused = Decision(False, limit, 0, window_end, retry)
            if amount == 1 or ceiling <= 0:  # a smaller request may still fit: not remembered
                self.refusals.remember(tenant, route_class, refused)
            return refused
        remaining = max(0, ceiling - count)
        if remaining == 0:
            # The last slot: the next request here would be refused by the store, so it is refused
            # from memory instead, until a slot can free.
            self.refusals.remember(tenant, route_class, Decision(False, limit, 0, window_end, retry))
        return Decision(True, limit, remaining, window_end, 0)

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
    rate_limiter: RateLimiter | None,
    tenant: Tenant,
    route_class: str,
    *,
    count: Callable[[GuardMetric], None],
    amount: int = 1,
) -> Decision | None:
    """Count `amount` requests (one, unless a request costs several) of `route_class` against the
    tenant's limit; 429 past it. None when limiting is off."""
    if rate_limiter is None:
        return None
    limit = limit_for(route_class, plan=tenant.plan, overrides=tenant.rate_limits)
    decision = rate_limiter.hit(tenant.id, route_class, limit, amount)
    if not decision.allowed:
        count(GuardMetric.RATE_LIMIT_BREACHES)
        raise RateLimited(
            f"The {route_class} limit of {limit} requests per minute is reached.",
            headers=decision.headers(),
            route_class=route_class,
        )
    return decision


class MessageLimiter:
    """The limits on a WebSocket connection's messages: the connection's own first
    (`live_connection_messages`, counted per connection under its tenant), then the tenant's
    (`live_messages`, all its connections together). A message the connection's limit refuses is
    not counted against the tenant, so a flood from one connection never takes the budget of the
    tenant's other clients.

    Refusing is cheap: the limiter remembers a refusal in the container until its `retry_after_s`
    ends (`RefusalMemory`), and the rest of a flood reaching that container is refused without a
    call to the store (a slot can free no sooner than that). Another container pays one call to
    learn it."""

    def __init__(self, limiter: RateLimiter, *, clock: Callable[[], float] = time.time) -> None:
        self._limiter = limiter
        self._clock = clock

    def hit(self, tenant: Tenant, connection_id: str) -> tuple[str, Decision]:
        """Count one message of the connection; the class that decided and its decision."""
        own = f"{CONNECTION_MESSAGES}#{connection_id}"
        for key, route_class in ((own, CONNECTION_MESSAGES), (LIVE_MESSAGES, LIVE_MESSAGES)):
            limit = limit_for(route_class, plan=tenant.plan, overrides=tenant.rate_limits)
            decision = self._limiter.hit(tenant.id, key, limit)
            if not decision.allowed:
                return route_class, decision
        return LIVE_MESSAGES, decision


def enforce_message_limit(
    limiter: MessageLimiter | None,
    tenant: Tenant,
    connection_id: str,
    *,
    count: Callable[[GuardMetric], None],
) -> Decision | None:
    """Count one WebSocket message against the connection's and the tenant's limits; 429 past
    either (`route_class` says which, `retry_after` when to send again). None when limiting is off."""
    if limiter is None:
        return None
    route_class, decision = limiter.hit(tenant, connection_id)
    if not decision.allowed:
        count(GuardMetric.RATE_LIMIT_BREACHES)
        whose = "this connection's" if route_class == CONNECTION_MESSAGES else "the tenant's"
        raise RateLimited(
            f"The {route_class} limit of {decision.limit} messages per minute ({whose}) is reached.",
            headers=decision.headers(),
            route_class=route_class,
            retry_after=decision.retry_after_s,
        )
    return decision
