"""Where the authorizer finds a request's token, and what its policy allows, for REST and WebSocket."""

from __future__ import annotations

import pytest

from gui_authorizer.identity import presented_token
from gui_authorizer.policy import api_wide_resource
from gui_core.tokens import TokenError

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2ln"


def test_the_authorization_header_comes_first() -> None:
    event = {"headers": {"Authorization": f"Bearer {TOKEN}"}, "queryStringParameters": {"token": "other"}}
    assert presented_token(event) == TOKEN


def test_a_query_token_serves_event_source_and_websocket_connects() -> None:
    assert presented_token({"headers": {}, "queryStringParameters": {"token": TOKEN}}) == TOKEN


def test_the_websocket_subprotocol_carries_the_token_after_the_protocol_name() -> None:
    event = {"headers": {"Sec-WebSocket-Protocol": f"ddgui.v1, {TOKEN}"}, "queryStringParameters": None}
    assert presented_token(event) == TOKEN


@pytest.mark.parametrize(
    "event",
    [
        {"headers": {}},
        {"headers": {"Sec-WebSocket-Protocol": "ddgui.v1"}},
        {"headers": {"Sec-WebSocket-Protocol": f"chat, {TOKEN}"}},
        {"headers": {"Authorization": f"Basic {TOKEN}"}},
        {"headers": {}, "queryStringParameters": {"token": ""}},
    ],
)
def test_no_token_anywhere_is_refused(event: dict[str, object]) -> None:
    with pytest.raises(TokenError):
        presented_token(event)


def test_rest_answers_allow_every_method_and_path_of_the_stage() -> None:
    arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/service/gui/jobs"
    assert api_wide_resource(arn) == "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*"


def test_websocket_answers_allow_every_route_key_of_the_stage() -> None:
    arn = "arn:aws:execute-api:eu-west-1:123456789012:ws9876/live/$connect"
    assert api_wide_resource(arn) == "arn:aws:execute-api:eu-west-1:123456789012:ws9876/live/*"
