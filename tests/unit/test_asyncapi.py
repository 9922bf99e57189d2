"""docs/gui/asyncapi.yaml describes the live protocol the code speaks: every channel of
`gui_core.replay_log.CHANNELS`, every WebSocket route of the manifest, every message of
docs/gui/live_channels.md, and references that all resolve."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML comes with moto and cfn-lint

from gui_core.replay_log import CHANNELS, ORIGIN, LiveEvent, to_cursor
from stacks.manifest import MANIFEST

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "gui" / "asyncapi.yaml"
SERVER_MESSAGES = {"event", "replay", "gap", "subscribed", "unsubscribed", "acked", "pong", "error"}
CLIENT_ACTIONS = {"subscribe", "unsubscribe", "resume", "ack", "ping"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references: {ref}"
    node: Any = doc
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref}: {part} under a non-object"
        assert part in node, f"{ref} does not resolve ({part})"
        node = node[part]
    return node


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    schema = doc["components"]["schemas"][name]
    assert isinstance(schema, dict)
    return schema


def test_is_an_asyncapi_3_document(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    assert {"channels", "operations", "components"} <= doc.keys()


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs = set(_refs(doc))
    assert refs
    for ref in sorted(refs):
        _resolve(doc, ref)


def test_every_live_channel_is_described_with_its_scope(doc: dict[str, Any]) -> None:
    channel = _schema(doc, "Channel")
    assert channel["enum"] == list(CHANNELS)
    assert channel["x-scopes"] == CHANNELS
    assert doc["components"]["parameters"]["channel"]["enum"] == list(CHANNELS)
    pattern = doc["channels"]["live"]["bindings"]["ws"]["query"]["properties"]["channel"]["pattern"]
    for name in CHANNELS:
        assert name in pattern


def test_every_websocket_route_of_the_manifest_is_described(doc: dict[str, Any]) -> None:
    assert MANIFEST.websocket is not None
    assert doc["channels"]["live"]["address"] == f"/{MANIFEST.websocket.stage}"
    manifest_routes = {route.route_key for route, _ in MANIFEST.websocket_routes()}
    assert manifest_routes
    described = set(doc["channels"]["live"]["x-routes"])
    described |= {op["x-route-key"] for op in doc["operations"].values() if "x-route-key" in op}
    assert described == manifest_routes


def test_every_message_of_the_protocol_is_described(doc: dict[str, Any]) -> None:
    live = doc["channels"]["live"]["messages"]
    assert live.keys() >= SERVER_MESSAGES | CLIENT_ACTIONS
    for action in CLIENT_ACTIONS:
        schema = _resolve(doc, live[action]["$ref"])["payload"]
        assert _resolve(doc, schema["$ref"])["properties"]["action"] == {"const": action}
    for kind in SERVER_MESSAGES:
        schema = _resolve(doc, live[kind]["$ref"])["payload"]
        assert _resolve(doc, schema["$ref"])["properties"]["type"] == {"const": kind}
    stream = {m["$ref"].rsplit("/", 1)[-1] for m in doc["channels"]["stream"]["messages"].values()}
    assert stream == {"sseReady", "sseEvent", "sseGap"}


def test_operations_use_their_channels_messages(doc: dict[str, Any]) -> None:
    for name, operation in doc["operations"].items():
        assert operation["action"] in {"send", "receive"}, name
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel}/messages/"), (name, message)
        if "reply" in operation:
            reply_channel = operation["reply"]["channel"]["$ref"]
            for message in operation["reply"]["messages"]:
                assert message["$ref"].startswith(f"{reply_channel}/messages/"), (name, message)


def test_the_event_schema_is_what_the_fanout_sends(doc: dict[str, Any]) -> None:
    message = LiveEvent(
        tenant="acme",
        channel="jobs",
        cursor=to_cursor(1),
        event_id="e",
        kind="JobStatusChanged",
        at="2026-11-27T10:15:30+00:00",
        payload={},
    ).message()
    event = _schema(doc, "Event")
    assert set(event["required"]) == set(message)
    assert event["properties"]["v"]["const"] == message["v"]


def test_client_messages_match_the_realtime_models(doc: dict[str, Any]) -> None:
    models = pytest.importorskip("gui_realtime.models")
    pairs = {
        "SubscribeAction": models.ChannelsMessage,
        "UnsubscribeAction": models.ChannelsMessage,
        "ResumeAction": models.ResumeMessage,
        "AckAction": models.AckMessage,
        "PingAction": models.ClientMessage,
    }
    for schema_name, model in pairs.items():
        assert set(_schema(doc, schema_name)["properties"]) == set(model.model_fields), schema_name


def test_the_cursor_schema_takes_the_code_s_cursors(doc: dict[str, Any]) -> None:
    pattern = re.compile(_schema(doc, "Cursor")["pattern"])
    for cursor in (ORIGIN, to_cursor(0), to_cursor(1), to_cursor("9" * 56), to_cursor("9" * 129)):
        assert pattern.fullmatch(cursor), cursor
