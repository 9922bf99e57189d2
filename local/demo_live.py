"""Demo ticker of `ddgui dev`: a live domain event every few seconds per demo tenant, so the
notifications, readiness and prompt-pack channels move on a local screen (jobs move through the
demo executor already).

Each tick publishes, for every demo tenant in its home region, the next of: a governance alert, a
readiness gate change, a prompt pack calibration status and a cost alert, through the bus relay's
`publish`, as a producer's PutEvents would: the rule `gui-events-to-stream` takes them to the stream
and the fan-out to the connections. The details start from the samples in `events/aws/` and change
only the tenant, ids, times and a few values. Not started by tests.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from local.apigw import sample_event
from local.background import BackgroundLoop, endpoint_gone

logger = logging.getLogger("local.demo_live")

DEFAULT_INTERVAL_S = 4.0
KINDS = (
    "eventbridge_governance_alert",
    "eventbridge_readiness_gate_changed",
    "eventbridge_prompt_pack_calibration_status",
    "eventbridge_cost_alert",
)
Publish = Callable[[str, str, Mapping[str, Any]], None]  # (source, detail-type, detail)


def demo_event(kind: str, tenant: str, region: str, n: int) -> tuple[str, str, dict[str, Any]]:
    """(source, detail-type, detail) of the `n`th demo event of `kind` for `tenant`."""
    sample = sample_event(kind)
    detail: dict[str, Any] = dict(sample["detail"])
    detail.update(
        {
            "tenant": tenant,
            "event_id": str(uuid.uuid4()),
            "region": region,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
    )
    if "alert_id" in detail:
        detail["alert_id"] = f"demo-{kind.rsplit('_', 2)[-2]}-{n}"
    if kind.endswith("governance_alert"):
        detail["severity"] = ("info", "warning", "critical")[n % 3]
        detail["title"] = f"Review overdue #{n}: ICD-10 to SNOMED CT mapping"
    elif kind.endswith("readiness_gate_changed"):
        detail["status"], detail["previous_status"] = ("open", "blocked") if n % 2 else ("blocked", "open")
        detail["score"] = round(0.7 + (n % 5) * 0.05, 2)
    elif kind.endswith("calibration_status"):
        steps = (("started", 0), ("running", 50), ("calibrated", 100))
        detail["status"], detail["progress"] = steps[n % len(steps)]
        if detail["status"] != "calibrated":
            detail["accuracy"] = None
    elif kind.endswith("cost_alert"):
        detail["spent_usd"] = round(4000 + (n % 10) * 150.0, 2)
        detail["severity"] = "critical" if detail["spent_usd"] >= detail["budget_usd"] else "warning"
    return str(sample["source"]), str(sample["detail-type"]), detail


class DemoTicker(BackgroundLoop):
    """Publishes the demo events every `interval_s` on a thread of its own."""

    def __init__(
        self,
        publishers: Mapping[str, Publish],
        tenants: Sequence[tuple[str, str]],
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        """`publishers` by region; `tenants` as (tenant, home region)."""
        self.publishers = dict(publishers)
        self.tenants = [(t, r) for t, r in tenants if r in self.publishers]
        self.interval_s = interval_s
        self.published = 0
        super().__init__("ddgui-demo-ticker")
        self._ticks: Iterator[int] = itertools.count()

    def tick(self) -> int:
        """Publish one event per tenant now; the number published."""
        n = next(self._ticks)
        published = 0
        for tenant, region in self.tenants:
            source, detail_type, detail = demo_event(KINDS[n % len(KINDS)], tenant, region, n)
            try:
                self.publishers[region](source, detail_type, detail)
                published += 1
            except Exception as exc:
                if self._stop.is_set() and endpoint_gone(exc):
                    return published  # stopping: moto's server is gone
                logger.exception("demo ticker: could not publish %s for %s", detail_type, tenant)
        self.published += published
        return published

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()
