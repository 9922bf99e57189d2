"""The fan-out's test bench, shared by its suites (test_fanout, test_kinesis_samples, test_tracing):
Kinesis records built from the EventBridge samples in events/aws/, gui_fanout's Fanout wired onto
in-memory tables and a fake management API, and what the suites' fixtures return.

A record's data is the EventBridge envelope exactly as the rule `gui-events-to-stream` puts it on
the stream (base64 of its JSON); the partition key is the tenant.
"""

from __future__ import annotations

import base64
import copy
import importlib
import json
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import pytest

from gui_core.connections import ConnectionRegistry
from gui_core.pusher import Pusher
from gui_core.replay_log import CURSOR_PREFIX, ReplayLog
from gui_core.tenancy import TenantDirectory
from gui_fanout.fanout import Fanout
from gui_notifications.repository import InboxRepository
from local.memory_table import MemoryTable
from tests.events import eventbridge_samples
from tests.fakes import FailingTable, FakeLambdaContext, ManualClock, MemoryQuarantine, SlowManagement
from tests.unit.realtime_support import TENANTS

SAMPLES = eventbridge_samples()
NOW = 1_795_774_600.0  # 27 Nov 2026 10:16:40 UTC, shortly after the samples
FAN_OUT_CONTEXT = FakeLambdaContext(
    "ddgui-gui-fanout", memory_limit_in_mb=1024, aws_request_id="5f2c1a7e-3b4d-4c6e-9f80-1a2b3c4d5e6f"
)
ENV = {
    "POWERTOOLS_SERVICE_NAME": "gui_fanout",
    "POWERTOOLS_METRICS_NAMESPACE": "DomainDetermine/GUI",
    "GUI_REGION": "eu-west-1",
    "TENANTS_TABLE": "tenants",
    "INBOX_TABLE": "inbox",
    "EVENTS_TABLE": "events",
    "CONNECTIONS_TABLE": "connections",
    "REPLAY_WINDOW_S": "86400",
    "CONNECTION_TTL_S": "7200",
    "NOTIFICATION_RETENTION_DAYS": "90",
    "PUSH_CONCURRENCY": "4",
    "GUI_CONNECTIONS_URL": "https://w5x6y7z8a9.execute-api.eu-west-1.amazonaws.com/live",
    "QUARANTINE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/ddgui-quarantine",
}
CHANNEL_OF_CONNECTION = {
    "c-jobs": "jobs",
    "c-notes": "notifications",
    "c-ready": "readiness",
    "c-pack": "prompt-pack",
}


# --- building Lambda's Kinesis event ------------------------------------------------------------


def envelope(kind: str, **detail: Any) -> dict[str, Any]:
    """The sample envelope of `kind` with `detail` fields changed."""
    event = copy.deepcopy(SAMPLES[kind])
    event["detail"].update(detail)
    return event


def record(
    event: Mapping[str, Any] | bytes, sequence: int | str, *, tenant: str | None = None
) -> dict[str, Any]:
    data = event if isinstance(event, bytes) else json.dumps(event, separators=(",", ":")).encode()
    key = tenant or (event["detail"]["tenant"] if isinstance(event, Mapping) else "acme")
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": key,
            "sequenceNumber": str(sequence),
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": NOW - 1.5,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/ddgui-gui-fanout-role",
        "awsRegion": "eu-west-1",
        "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/ddgui-gui-events",
    }


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


class Backend:
    def __init__(self) -> None:
        self.clock = ManualClock(NOW)
        self.events = FailingTable()
        self.connections = MemoryTable()
        self.inbox_table = MemoryTable()
        self.management = SlowManagement()
        self.replay = ReplayLog(self.events, window_s=86_400, clock=self.clock)
        self.registry = ConnectionRegistry(self.connections, ttl_s=7200, clock=self.clock)
        self.quarantine = MemoryQuarantine()
        self.fanout = Fanout(
            region="eu-west-1",
            tenants=TenantDirectory(MemoryTable(TENANTS)),
            replay_log=self.replay,
            registry=self.registry,
            pusher=Pusher(self.management, concurrency=4),
            inbox=InboxRepository(self.inbox_table, retention_days=90),
            quarantine=self.quarantine,
            clock=self.clock,
        )

    def connect(self, connection_id: str, *channels: str, tenant: str = "acme") -> None:
        connection = self.registry.register(tenant, connection_id, subject="ada@acme", scopes=["gui:jobs"])
        self.registry.subscribe(connection, channels)

    def received(self, connection_id: str) -> list[dict[str, Any]]:
        return self.management.sent.get(connection_id, [])

    def logged(self, tenant: str, channel: str) -> list[dict[str, Any]]:
        return self.events.query(
            ("pk", f"{tenant}#{channel}"), sort_prefix=("sk", CURSOR_PREFIX), limit=100
        ).items

    def inbox(self, tenant: str = "acme") -> list[dict[str, Any]]:
        return [
            item
            for (pk, sk), item in self.inbox_table.items.items()
            if pk == tenant and sk.startswith("NOTE#")  # not the counters
        ]


def subscribed_backend() -> Backend:
    """The fan-out on fakes, a subscriber on every channel (`CHANNEL_OF_CONNECTION`)."""
    found = Backend()
    for connection_id, channel in CHANNEL_OF_CONNECTION.items():
        found.connect(connection_id, channel)
    return found


def handler_on(monkeypatch: pytest.MonkeyPatch, backend: Backend) -> ModuleType:
    """gui_fanout.handler imported under the manifest's environment, its fan-out `backend`'s."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    module = importlib.import_module("gui_fanout.handler")
    monkeypatch.setattr(module, "fanout", backend.fanout)
    return module


def invoke(function: ModuleType, event: dict[str, Any]) -> list[str]:
    """The sequence numbers the function reported failed."""
    answer = function.handler(event, FAN_OUT_CONTEXT)
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def metrics_of(output: str) -> dict[str, float]:
    """The application metrics (dimension `service` alone) of the EMF document(s) the invocation
    printed: Powertools' own ColdStart, keyed by function_name too, is not the function's figure."""
    figures: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            directive = document["_aws"]["CloudWatchMetrics"][0]
            if directive["Dimensions"] != [["service"]]:
                continue
            for definition in directive["Metrics"]:
                value = document[definition["Name"]]
                figures[definition["Name"]] = sum(value) if isinstance(value, list) else value
    return figures
