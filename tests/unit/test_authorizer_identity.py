"""Where the authorizer finds a request's credential (a token, or a stream ticket), and what its
policy allows, for REST and WebSocket."""

from __future__ import annotations

import pytest

from gui_authorizer.identity import TICKET_RESOURCES, Bearer, Ticket, presented, presented_token
from gui_authorizer.policy import allow, api_wide_resource
from gui_core.tokens import TokenError
from stacks.manifest import MANIFEST

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2ln"


SSE = {
    "resource": "/service/gui/stream/{channel}/{tenant}",
    "pathParameters": {"channel": "jobs", "tenant": "acme"},
}
CONNECT = {"requestContext": {"routeKey": "$connect", "eventType": "CONNECT"}}
WEBSOCKET_TOKEN = {"Sec-WebSocket-Protocol": f"ddgui.v1, {TOKEN}"}


def test_on_a_cached_route_the_header_is_the_only_credential() -> None:
    """The routes whose authorizer API Gateway caches per Authorization header: the authorizer
    verifies what the cache is keyed on, and nothing else of the request is a credential there."""
    event = {
        "resource": "/service/gui/jobs",
        "headers": {"Authorization": f"Bearer {TOKEN}", **WEBSOCKET_TOKEN},
        "queryStringParameters": {"token": "other", "ticket": "t-1", "tenant": "acme"},
    }
    assert presented(event) == Bearer(TOKEN)


def test_a_token_in_the_query_string_is_not_read() -> None:
    """A long-lived credential in a URL ends up in access logs and browser history."""
    for door in ({}, SSE, CONNECT):
        with pytest.raises(TokenError):
            presented_token({**door, "headers": {}, "queryStringParameters": {"token": TOKEN}})


def test_a_ticket_is_for_the_tenant_and_channel_of_the_sse_path() -> None:
    event = {**SSE, "headers": {}, "queryStringParameters": {"ticket": "t-1", "since": "0010"}}
    assert presented(event) == Ticket("t-1", "acme", ("jobs",))


def test_a_websocket_ticket_is_for_the_query_tenant_and_every_channel_asked_for() -> None:
    event = {
        **CONNECT,
        "headers": {},
        "queryStringParameters": {"tenant": "acme", "channel": "readiness", "ticket": "t-1"},
        "multiValueQueryStringParameters": {
            "tenant": ["acme"],
            "channel": ["jobs,notifications", "readiness"],
            "ticket": ["t-1"],
        },
    }
    assert presented(event) == Ticket("t-1", "acme", ("jobs", "notifications", "readiness"))


@pytest.mark.parametrize(
    ("door", "headers", "query"),
    [
        (SSE, {"Authorization": f"Bearer {TOKEN}"}, {"ticket": "t"}),
        (SSE, {"Authorization": f"Bearer {TOKEN}"}, {"token": "not-a-jwt-42"}),
        (SSE, {"Authorization": f"Bearer {TOKEN}"}, {"token": TOKEN}),
        (SSE, {}, {"ticket": "t", "token": TOKEN}),
        (SSE, {"Authorization": f"Bearer {TOKEN}", **WEBSOCKET_TOKEN}, {}),
        (CONNECT, WEBSOCKET_TOKEN, {"tenant": "acme", "ticket": "t"}),
        (CONNECT, {"Authorization": f"Bearer {TOKEN}"}, {"tenant": "acme", "ticket": "t"}),
        (CONNECT, {"Authorization": f"Bearer {TOKEN}", **WEBSOCKET_TOKEN}, {}),
        (CONNECT, WEBSOCKET_TOKEN, {"token": "garbage"}),
        (CONNECT, {"Authorization": f"Bearer {TOKEN}"}, {"token": "garbage"}),
        (CONNECT, {"Sec-WebSocket-Protocol": f"ddgui.v1, {TOKEN}, {TOKEN}"}, {}),
    ],
)
def test_two_credentials_in_one_request_are_refused(
    door: dict[str, object], headers: dict[str, str], query: dict[str, str]
) -> None:
    with pytest.raises(TokenError, match="more than one credential"):
        presented({**door, "headers": headers, "queryStringParameters": query})


def test_one_place_given_twice_is_two_credentials() -> None:
    tickets = {**SSE, "headers": {}, "multiValueQueryStringParameters": {"ticket": ["a", "b"]}}
    headers = {**SSE, "multiValueHeaders": {"Authorization": [f"Bearer {TOKEN}", "Bearer other"]}}
    for event in (tickets, headers):
        with pytest.raises(TokenError, match="more than one credential"):
            presented(event)


def test_the_subprotocol_is_a_credential_of_the_websocket_connect_only() -> None:
    assert presented({**CONNECT, "headers": WEBSOCKET_TOKEN}) == Bearer(TOKEN)
    with pytest.raises(TokenError, match="HTTP request"):
        presented({**SSE, "headers": WEBSOCKET_TOKEN})


def test_the_header_alone_is_a_credential_of_every_door() -> None:
    for door in ({}, SSE, CONNECT):
        assert presented({**door, "headers": {"Authorization": f"Bearer {TOKEN}"}}) == Bearer(TOKEN)


def test_the_ticket_routes_are_the_manifests() -> None:
    assert {r.full_path for r, _ in MANIFEST.routes() if r.accepts_ticket} == TICKET_RESOURCES


def test_a_ticket_without_a_tenant_is_refused() -> None:
    with pytest.raises(TokenError, match="tenant"):
        presented({**CONNECT, "headers": {}, "queryStringParameters": {"ticket": "t-1"}})


def test_the_websocket_subprotocol_carries_the_token_after_the_protocol_name() -> None:
    event = {**CONNECT, "headers": WEBSOCKET_TOKEN, "queryStringParameters": None}
    assert presented_token(event) == TOKEN


@pytest.mark.parametrize("door", [{}, SSE, CONNECT])
@pytest.mark.parametrize(
    "event",
    [
        {"headers": {}},
        {"headers": {"Sec-WebSocket-Protocol": "ddgui.v1"}},
        {"headers": {"Sec-WebSocket-Protocol": f"chat, {TOKEN}"}},
        {"headers": {"Authorization": f"Basic {TOKEN}"}},
        {"headers": {}, "queryStringParameters": {"token": ""}},
        {"headers": {}, "queryStringParameters": {"ticket": ""}},
    ],
)
def test_no_token_anywhere_is_refused(door: dict[str, object], event: dict[str, object]) -> None:
    with pytest.raises(TokenError):
        presented_token({**door, **event})


def test_rest_answers_allow_every_method_and_path_of_the_stage() -> None:
    arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/service/gui/jobs"
    assert api_wide_resource(arn) == "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*"


def test_websocket_answers_allow_every_route_key_of_the_stage() -> None:
    arn = "arn:aws:execute-api:eu-west-1:123456789012:ws9876/live/$connect"
    assert api_wide_resource(arn) == "arn:aws:execute-api:eu-west-1:123456789012:ws9876/live/*"


def test_a_tickets_answer_allows_the_method_called_only() -> None:
    arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/service/gui/stream/jobs/acme"
    answer = allow("ada", arn, {}, whole_stage=False)
    assert answer["policyDocument"]["Statement"][0]["Resource"] == arn
