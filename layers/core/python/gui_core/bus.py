"""EventBridge adapter: publishes domain events on the region's bus.

The only module of gui_core that talks to EventBridge. Every domain event has the source
`domaindetermine.<module>` and a detail that carries `tenant`, `event_id`, `schema_version`,
`region` and `time`, so consumers can partition, deduplicate and order without reading the envelope.

Each publication is a PRODUCER span (`publish <detail-type>`, a child of the current span: the REST
request's, say), and the detail carries that span's W3C context as `trace` (`{"traceparent": ...,
"tracestate": ...}`, see gui_core.tracing), so the consumers' spans continue the trace. A detail
that already names a `trace` keeps it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.config import Config
from opentelemetry.trace import SpanKind

from gui_core import tracing
from gui_core.credentials import client_credentials, signing_identity
from gui_core.date_times import iso

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from opentelemetry.trace import Tracer

SOURCE_PREFIX = "domaindetermine."
SCHEMA_VERSION = "1"
TRACE_FIELD = tracing.TRACE_FIELD


@cache
def _tracer() -> Tracer:
    return tracing.tracer("gui_core.bus")


class PublishFailed(Exception):
    """EventBridge refused the event (FailedEntryCount > 0)."""


class Publisher(Protocol):
    def publish(
        self,
        source: str,
        detail_type: str,
        detail: Mapping[str, Any],
        *,
        trace_id: str | None = None,
    ) -> dict[str, Any]: ...


def events_client(region: str) -> BaseClient:
    """One client per region, endpoint and container (the endpoint is part of the key, as for
    `gui_core.dynamo.dynamodb_client`: a process may serve functions of several endpoints)."""
    return _events_client(region, os.environ.get("AWS_ENDPOINT_URL") or None, signing_identity())


@cache
def _events_client(region: str, endpoint_url: str | None, signer: str | None) -> BaseClient:
    del signer  # a part of the cache key only
    return boto3.client(
        "events",
        **client_credentials(),
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5),
    )


def _now_iso() -> str:
    return iso(datetime.now(UTC))


class EventPublisher:
    """Puts one domain event at a time on `bus_name`; returns the detail as sent."""

    def __init__(
        self,
        bus_name: str,
        client: BaseClient,
        *,
        region: str,
        clock: Callable[[], str] = _now_iso,
    ) -> None:
        self.bus_name = bus_name
        self.region = region
        self._client = client
        self._clock = clock

    def publish(
        self,
        source: str,
        detail_type: str,
        detail: Mapping[str, Any],
        *,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        if not source.startswith(SOURCE_PREFIX) or len(source) == len(SOURCE_PREFIX):
            raise ValueError(f"a domain event's source is {SOURCE_PREFIX}<module>, not {source!r}")
        if not detail.get("tenant"):
            raise ValueError("a domain event's detail names its tenant")
        with tracing.span(
            _tracer(),
            f"publish {detail_type}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "aws.eventbridge",
                "messaging.operation.type": "send",
                "messaging.destination.name": self.bus_name,
                tracing.EVENT_KIND: detail_type,
                tracing.TENANT: str(detail["tenant"]),
            },
        ) as span:
            full = {
                "event_id": str(uuid.uuid4()),
                "schema_version": SCHEMA_VERSION,
                "region": self.region,
                "time": self._clock(),
                **detail,
            }
            span.set_attribute("messaging.message.id", str(full["event_id"]))
            carried = tracing.carrier(span)
            if carried and TRACE_FIELD not in full:
                full[TRACE_FIELD] = carried
            entry: dict[str, Any] = {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(full, separators=(",", ":"), default=str),
                "EventBusName": self.bus_name,
            }
            if trace_id:
                entry["TraceHeader"] = trace_id
            answer = self._client.put_events(Entries=[entry])
            if answer.get("FailedEntryCount", 0):
                failures = [
                    f"{e.get('ErrorCode')}: {e.get('ErrorMessage')}"
                    for e in answer.get("Entries", [])
                    if e.get("ErrorCode")
                ]
                raise PublishFailed(f"{detail_type} was not accepted by {self.bus_name}: {failures}")
        return full
