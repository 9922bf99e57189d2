"""Where the authorizer finds a request's credential (a token, or a stream ticket), and what its
policy allows, for REST and WebSocket."""

from __future__ import annotations

import pytest

from gui_authorizer.identity import Bearer, Ticket, presented, presented_token
from gui_authorizer.policy import allow, api_wide_resource
from gui_core.tokens import TokenError

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2ln"


def test_the_authorization_header_comes_first() -> None:
    event = {"headers": {"Authorization": f"Bearer {TOKEN}"}, "queryStringParameters": {"token": "other"}}
    assert presented_token(event) == TOKEN


def test_a_token_in_the_query_string_is_not_read() -> None:
    """A long-lived credential in a URL ends up in access logs and browser history."""
    with pytest.raises(TokenError):
        presented_token({"headers": {}, "queryStringParameters": {"token": TOKEN}})


def test_a_ticket_is_for_the_tenant_and_channel_of_the_sse_path() -> None:
    event = {
        "headers": {},
        "queryStringParameters": {"ticket": "t-1", "since": "0010"},
        "pathParameters": {"channel": "jobs", "tenant": "acme"},
    }
    assert presented(event) == Ticket("t-1", "acme", ("jobs",))


def test_a_websocket_ticket_is_for_the_query_tenant_and_every_channel_asked_for() -> None:
    event = {
        "headers": {},
        "queryStringParameters": {"tenant": "acme", "channel": "readiness", "ticket": "t-1"},
        "multiValueQueryStringParameters": {
            "tenant": ["acme"],
            "channel": ["jobs,notifications", "readiness"],
            "ticket": ["t-1"],
        },
    }
    assert presented(event) == Ticket("t-1", "acme", ("jobs", "notifications", "readiness"))


def test_the_header_wins_over_a_ticket() -> None:
    event = {"headers": {"authorization": f"Bearer {TOKEN}"}, "queryStringParameters": {"ticket": "t"}}
    assert presented(event) == Bearer(TOKEN)


def test_a_ticket_without_a_tenant_is_refused() -> None:
    with pytest.raises(TokenError, match="tenant"):
        presented({"headers": {}, "queryStringParameters": {"ticket": "t-1"}})


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
        {"headers": {}, "queryStringParameters": {"ticket": ""}},
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


def test_a_tickets_answer_allows_the_method_called_only() -> None:
    arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/service/gui/stream/jobs/acme"
    answer = allow("ada", arn, {}, whole_stage=False)
    assert answer["policyDocument"]["Statement"][0]["Resource"] == arn
