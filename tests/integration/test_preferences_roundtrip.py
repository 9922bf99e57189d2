"""Preferences end to end: HTTP -> gateway -> real authorizer -> real handler -> local DynamoDB."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from boto3.dynamodb.types import TypeDeserializer

from local.cli import main as ddgui

from .support import PREFERENCES, fresh_subject, table

pytestmark = pytest.mark.slow

_deserializer = TypeDeserializer()


def plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def query_partition(client: Any, store: str, tenant: str, prefix: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "TableName": table(store),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": tenant}},
    }
    if prefix:
        params["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
        params["ExpressionAttributeValues"][":prefix"] = {"S": prefix}
    while True:
        page = client.query(**params)
        items += [plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def user_item(client: Any, tenant: str, subject: str) -> dict[str, Any] | None:
    found = [
        i for i in query_partition(client, "preferences", tenant, "USER#") if i.get("subject") == subject
    ]
    assert len(found) <= 1
    return found[0] if found else None


def test_preferences_round_trip_is_stored_and_audited(
    http: httpx.Client,
    url: Callable[[str, str], str],
    bearer: Callable[..., dict[str, str]],
    dynamodb: Callable[[str], Any],
) -> None:
    subject = fresh_subject("acme")
    auth = bearer("acme", subject=subject, roles=("viewer",))
    endpoint = url("eu-west-1", PREFERENCES)

    # GIVEN the effective preferences and their ETag
    first = http.get(endpoint, headers=auth)
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert first.json()["effective"]["theme"] == "light"  # the seeded tenant default

    # WHEN the user replaces their preferences with that ETag
    body = json.dumps({"theme": "dark", "pinned_dashboards": ["overview", "coverage"]}).encode()
    put = http.put(
        endpoint, headers={**auth, "If-Match": etag, "Content-Type": "application/json"}, content=body
    )

    # THEN the answer, a new read, the store and the audit trail all agree
    assert put.status_code == 200, put.text
    assert put.headers["etag"] != etag
    assert put.json()["effective"]["theme"] == "dark"

    again = http.get(endpoint, headers=auth)
    assert again.status_code == 200
    assert again.headers["etag"] == put.headers["etag"]
    assert again.json()["effective"]["pinned_dashboards"] == ["overview", "coverage"]
    assert again.json()["effective"]["locale"] == "en-GB"  # still the tenant default

    client = dynamodb("eu-west-1")
    stored = user_item(client, "acme", subject)
    assert stored is not None
    assert stored["overrides"] == {"theme": "dark", "pinned_dashboards": ["overview", "coverage"]}
    assert stored["version"] == 1
    assert stored["updated_by"] == subject

    request_id = put.headers["x-amzn-requestid"]
    audit = [i for i in query_partition(client, "audit", "acme") if i.get("request_id") == request_id]
    assert len(audit) == 1, audit
    record = audit[0]
    assert record["actor"] == subject
    assert record["tenant_actor"] == f"acme#{subject}"
    assert record["method"] == "PUT"
    assert record["endpoint"] == PREFERENCES
    assert record["status"] == 200
    assert record["payload_sha256"] == hashlib.sha256(body).hexdigest()


def test_stale_etag_is_refused_and_nothing_is_written(
    http: httpx.Client,
    url: Callable[[str, str], str],
    bearer: Callable[..., dict[str, str]],
    dynamodb: Callable[[str], Any],
) -> None:
    subject = fresh_subject("globex")
    auth = {**bearer("globex", subject=subject), "Content-Type": "application/json"}
    endpoint = url("us-east-1", PREFERENCES)
    stale = http.get(endpoint, headers=auth).headers["etag"]
    assert http.put(endpoint, headers={**auth, "If-Match": stale}, json={"theme": "dark"}).status_code == 200

    refused = http.put(endpoint, headers={**auth, "If-Match": stale}, json={"theme": "system"})

    assert refused.status_code == 412, refused.text
    assert refused.json()["code"] == "precondition_failed"
    stored = user_item(dynamodb("us-east-1"), "globex", subject)
    assert stored is not None
    assert stored["overrides"] == {"theme": "dark"}


def test_view_is_created_listed_and_stored(
    http: httpx.Client,
    url: Callable[[str, str], str],
    bearer: Callable[..., dict[str, str]],
    dynamodb: Callable[[str], Any],
) -> None:
    subject = fresh_subject("acme")
    auth = bearer("acme", subject=subject, roles=("operator",))
    view = {
        "name": "Failed jobs",
        "module": "jobs",
        "filters": {"status": ["failed"]},
        "sort": [{"field": "updated", "direction": "desc"}],
        "columns": ["title", "status"],
        "visibility": "private",
    }

    created = http.post(url("eu-west-1", f"{PREFERENCES}/views"), headers=auth, json=view)

    assert created.status_code == 201, created.text
    view_id = created.json()["id"]
    assert created.headers["location"] == f"{PREFERENCES}/views/{view_id}"

    listed = http.get(url("eu-west-1", f"{PREFERENCES}/views"), headers=auth)
    assert listed.status_code == 200
    by_id = {v["id"]: v for v in listed.json()["items"]}
    assert by_id[view_id]["name"] == "Failed jobs"
    assert by_id[view_id]["owner"] == subject
    assert any(v["name"] == "Active coverage" and v["visibility"] == "tenant" for v in by_id.values())

    stored = [
        i
        for i in query_partition(dynamodb("eu-west-1"), "preferences", "acme", "VIEW#")
        if i["id"] == view_id
    ]
    assert len(stored) == 1
    assert stored[0]["owner"] == subject
    assert stored[0]["filters"] == {"status": ["failed"]}

    # another user of the tenant does not see a private view
    other = http.get(url("eu-west-1", f"{PREFERENCES}/views"), headers=bearer("acme", "vic"))
    assert view_id not in {v["id"] for v in other.json()["items"]}


def test_token_minted_by_the_cli_is_accepted(
    http: httpx.Client,
    url: Callable[[str, str], str],
    keys_dir: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    subject = fresh_subject("globex")
    status = ddgui(
        [
            "token",
            "--tenant",
            "globex",
            "--subject",
            subject,
            "--scope",
            "gui:preferences",
            "--keys-dir",
            str(keys_dir),
        ]
    )
    token = capsys.readouterr().out.strip()

    response = http.get(url("us-east-1", PREFERENCES), headers={"Authorization": f"Bearer {token}"})

    assert status == 0
    assert response.status_code == 200, response.text
    assert response.json()["subject"] == subject
