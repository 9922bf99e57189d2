"""The GraphQL `search` field on the local runtime, over HTTP, against the demo tenants' indexes
(built by the drift check): it answers what `GET /search` answers for the same arguments (hits,
highlights, facets, index, license block and masking), its cursors continue REST's pages and the
other way round, and a refusal is its field's error with REST's code and status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.keys import DevKeys
from local.runtime import LocalBackend

SEARCH = "/service/gui/search"
GRAPHQL = "/service/gui/graphql"
EU = "eu-west-1"
HIT = (
    "id kind title summary score highlights { field text ranges } version owner tags license_tag "
    "governance_status deprecated published_at updated_at licensing_notes source_uri source_text"
)
QUERY = (
    "query Search($q: String, $kind: [ArtifactKind!], $first: Int, $after: String) {"
    " search(q: $q, kind: $kind, first: $first, after: $after) {"
    f" nodes {{ {HIT} }} pageInfo {{ hasNextPage endCursor }} query mode total"
    " facets { kind } index { version documents built_at } license { tag masked_fields } } }"
)


@pytest.fixture(scope="module")
def indexed(local_backend: LocalBackend) -> Any:
    return local_backend.fire_schedule("index-rebuild", EU)


def _headers(keys: DevKeys, tenant: str, *scopes: str) -> dict[str, str]:
    roles = [] if scopes else ["viewer"]
    token = keys.mint(tenant=tenant, subject=f"it-gql-search@{tenant}", roles=roles, scopes=list(scopes))
    return {"Authorization": f"Bearer {token}"}


def _graphql(http: httpx.Client, url: str, headers: dict[str, str], **variables: Any) -> dict[str, Any]:
    answer = http.post(url, json={"query": QUERY, "variables": variables}, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _as_rest(connection: dict[str, Any]) -> dict[str, Any]:
    """The GraphQL page in REST's shape (hits, next_cursor), the rest as it is."""
    rest = {k: v for k, v in connection.items() if k not in {"nodes", "pageInfo"}}
    return {**rest, "hits": connection["nodes"], "next_cursor": connection["pageInfo"]["endCursor"]}


def _rest_hit(hit: dict[str, Any]) -> dict[str, Any]:
    """A REST hit with every field of the GraphQL type (a removed field is null there)."""
    fields = HIT.replace("{ field text ranges }", "").split()
    return {name: hit.get(name) for name in fields}


@pytest.mark.parametrize(
    ("variables", "params"),
    [
        ({"q": "snomed"}, {"q": "snomed"}),
        ({"kind": ["mapping", "coverage"], "first": 3}, {"kind": ["mapping", "coverage"], "limit": 3}),
        ({}, {}),
    ],
)
def test_search_answers_what_rest_answers(
    http: httpx.Client,
    url: Callable[[str, str], str],
    dev_keys: DevKeys,
    indexed: Any,
    variables: dict[str, Any],
    params: dict[str, Any],
) -> None:
    headers = _headers(dev_keys, "acme")
    rest = http.get(url(EU, SEARCH), params=params, headers=headers)
    assert rest.status_code == 200, rest.text
    body = _graphql(http, url(EU, GRAPHQL), headers, **variables)
    assert "errors" not in body, body
    page = _as_rest(body["data"]["search"])
    expected = rest.json()
    assert page["hits"] == [_rest_hit(hit) for hit in expected["hits"]]
    assert {k: v for k, v in page.items() if k not in {"hits", "next_cursor"}} == {
        k: v for k, v in expected.items() if k not in {"hits", "next_cursor"}
    }
    assert (page["next_cursor"] is None) == (expected["next_cursor"] is None)
    if variables.get("q"):
        assert page["total"] >= 3
        assert all(hit["highlights"] for hit in page["hits"])


def test_cursors_continue_rest_pages_and_back(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, indexed: Any
) -> None:
    headers = _headers(dev_keys, "acme")
    first = _graphql(http, url(EU, GRAPHQL), headers, kind=["mapping", "coverage"], first=2)["data"]["search"]
    cursor = first["pageInfo"]["endCursor"]
    assert cursor
    rest = http.get(
        url(EU, SEARCH),
        params={"kind": ["mapping", "coverage"], "limit": 2, "cursor": cursor},
        headers=headers,
    )
    assert rest.status_code == 200, rest.text
    second = rest.json()
    third = _graphql(
        http, url(EU, GRAPHQL), headers, kind=["mapping", "coverage"], first=2, after=second["next_cursor"]
    )["data"]["search"]
    ids = (
        [h["id"] for h in first["nodes"]]
        + [h["id"] for h in second["hits"]]
        + [h["id"] for h in third["nodes"]]
    )
    assert len(ids) == len(set(ids)) == 6
    foreign = _graphql(http, url(EU, GRAPHQL), headers, q="snomed", after=cursor)
    assert foreign["data"]["search"] is None
    (error,) = foreign["errors"]
    assert (error["extensions"]["code"], error["extensions"]["status"]) == ("invalid_cursor", 400)


def test_restricted_fields_are_masked_unless_the_license_scope(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, indexed: Any
) -> None:
    viewer = _graphql(http, url(EU, GRAPHQL), _headers(dev_keys, "acme"))["data"]["search"]
    licensed = _graphql(
        http, url(EU, GRAPHQL), _headers(dev_keys, "acme", "gui:search", "gui:license:restricted")
    )["data"]["search"]
    assert licensed["license"]["masked_fields"] == []
    assert viewer["license"]["masked_fields"], viewer["license"]
    for field in viewer["license"]["masked_fields"]:
        assert {hit[field] for hit in viewer["nodes"]} <= {None, "***"}


def test_a_refusal_is_the_field_s_error(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, indexed: Any
) -> None:
    body = _graphql(http, url(EU, GRAPHQL), _headers(dev_keys, "acme", "gui:jobs"))
    assert body["data"]["search"] is None
    (error,) = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["status"]) == ("insufficient_scope", 403)
    unparsable = _graphql(http, url(EU, GRAPHQL), _headers(dev_keys, "acme"), q='"unclosed')
    (error,) = unparsable["errors"]
    assert (error["extensions"]["code"], error["extensions"]["status"]) == ("invalid_query", 400)
