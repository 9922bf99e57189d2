"""The local runtime's IAM check (local/iam.py): which action and resource each call asks for, and
IAM's evaluation of a role's statements, resources and conditions included."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.iam import (
    AccessDenied,
    CallCheck,
    Identity,
    Request,
    Statement,
    allows,
    local_secret_arn,
    local_statements,
    moto_policy,
    requests_of,
)
from stacks.grants import grants
from stacks.manifest import MANIFEST

REGION = "eu-west-1"
TABLES = f"arn:aws:dynamodb:{REGION}:123456789012:table/"


def test_a_query_on_an_index_asks_for_the_index():
    (request,) = requests_of(
        "dynamodb", "Query", {"TableName": "ddgui-audit", "IndexName": "by_actor"}, region=REGION, url=None
    )
    assert request == Request("dynamodb:Query", f"{TABLES}ddgui-audit/index/by_actor")


def test_a_transaction_asks_for_each_items_own_action():
    found = requests_of(
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "ddgui-jobs", "Item": {}}},
                {"ConditionCheck": {"TableName": "ddgui-limits", "Key": {}}},
            ]
        },
        region=REGION,
        url=None,
    )
    assert found == [
        Request("dynamodb:PutItem", f"{TABLES}ddgui-jobs"),
        Request("dynamodb:ConditionCheckItem", f"{TABLES}ddgui-limits"),
    ]


def test_a_listing_carries_its_prefix_as_a_condition_key():
    (request,) = requests_of(
        "s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "search/t-acme/"}, region=REGION, url=None
    )
    assert request == Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "search/t-acme/"})
    (head,) = requests_of("s3", "HeadObject", {"Bucket": "b", "Key": "search/x"}, region=REGION, url=None)
    assert head == Request("s3:GetObject", "arn:aws:s3:::b/search/x")


def test_a_push_names_the_stage_method_and_connection():
    (request,) = requests_of(
        "execute-api",
        "PostToConnection",
        {"ConnectionId": "abc=", "Data": b"{}"},
        region=REGION,
        url="http://127.0.0.1:8000/live/@connections/abc%3D",
    )
    assert request.action == "execute-api:ManageConnections"
    assert (
        request.resource == f"arn:aws:execute-api:{REGION}:123456789012:localws/live/POST/@connections/abc="
    )


def test_a_secret_is_read_by_its_arn_and_only_the_paged_functions_may():
    arn = local_secret_arn(MANIFEST, "cursor-key", region=REGION)
    (request,) = requests_of("secretsmanager", "GetSecretValue", {"SecretId": arn}, region=REGION, url=None)
    assert request == Request("secretsmanager:GetSecretValue", arn)
    for fn in MANIFEST.all_functions():
        statements = local_statements(MANIFEST, fn, region=REGION, stage="live")
        assert allows(statements, request) == ("cursor-key" in fn.secrets), fn.name
    other_region = local_secret_arn(MANIFEST, "cursor-key", region="us-east-1")
    assert not allows(
        local_statements(MANIFEST, MANIFEST.function("gui_jobs"), region=REGION, stage="live"),
        Request("secretsmanager:GetSecretValue", other_region),
    )
    # By name, the ARN IAM checks is the endpoint's to know: not guessed, refused.
    with pytest.raises(AccessDenied):
        requests_of(
            "secretsmanager", "GetSecretValue", {"SecretId": "ddgui-cursor-key"}, region=REGION, url=None
        )
    with pytest.raises(AccessDenied):
        requests_of("secretsmanager", "PutSecretValue", {"SecretId": arn}, region=REGION, url=None)


def test_a_call_without_a_model_is_refused_not_passed():
    with pytest.raises(AccessDenied):
        requests_of("lambda", "Invoke", {}, region=REGION, url=None)
    with pytest.raises(AccessDenied):
        requests_of("s3", "PutBucketPolicy", {"Bucket": "b"}, region=REGION, url=None)


def test_evaluation_needs_action_resource_and_every_condition():
    listing = Statement(("s3:ListBucket",), ("arn:aws:s3:::b",), {"StringLike": {"s3:prefix": ("search/*",)}})
    objects = Statement(("s3:GetObject",), ("arn:aws:s3:::b/search/*",))
    role = (listing, objects)
    assert allows(role, Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "search/t-a/"}))
    assert not allows(role, Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "telemetry/"}))
    assert not allows(role, Request("s3:ListBucket", "arn:aws:s3:::b"))  # no key: the condition fails
    assert allows(
        role, Request("S3:getobject", "arn:aws:s3:::b/search/t-a/manifest.json")
    )  # actions: any case
    assert not allows(role, Request("s3:GetObject", "arn:aws:s3:::b/telemetry/x"))
    assert not allows(role, Request("s3:PutObject", "arn:aws:s3:::b/search/x"))


def test_local_statements_name_the_local_resources_of_each_grant():
    fn = MANIFEST.function("gui_search")
    statements = local_statements(MANIFEST, fn, region=REGION, stage="live")
    assert len(statements) == len(grants(MANIFEST, fn))
    bucket = MANIFEST.bucket.local_bucket_name(REGION)
    assert allows(statements, Request("s3:GetObject", f"arn:aws:s3:::{bucket}/search/t-acme/manifest.json"))
    assert not allows(statements, Request("s3:GetObject", f"arn:aws:s3:::{bucket}/telemetry/x"))
    assert allows(
        statements, Request("dynamodb:GetItem", f"{TABLES}{MANIFEST.store('tenants').local_table_name()}")
    )
    assert not allows(
        statements, Request("dynamodb:GetItem", f"{TABLES}{MANIFEST.store('jobs').local_table_name()}")
    )


def test_the_policy_in_moto_holds_the_grants_actions_on_every_resource():
    policy = moto_policy(MANIFEST, MANIFEST.function("gui_jobs"))
    (statement,) = policy["Statement"]
    assert statement["Resource"] == "*"
    assert {"dynamodb:PutItem", "events:PutEvents", "dynamodb:TransactWriteItems"} <= set(statement["Action"])
    assert "dynamodb:Scan" not in statement["Action"]


def _client(key: str) -> Any:
    return boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",  # nothing listens: a refused call never gets this far
        aws_access_key_id=key,
        aws_secret_access_key="secret",
        aws_session_token="token",
    )


def test_a_call_the_role_does_not_allow_is_refused_before_it_is_sent():
    check = CallCheck.installed()
    key = "ASIAUNITTESTREFUSED1"
    statements = (Statement(("dynamodb:GetItem",), (f"{TABLES}ddgui-tenants",)),)
    check.register(key, Identity("gui_unit", REGION, statements))
    try:
        with pytest.raises(ClientError) as refused:
            _client(key).get_item(TableName="ddgui-jobs", Key={"pk": {"S": "x"}})
        error = refused.value.response["Error"]
        assert error["Code"] == "AccessDeniedException"
        assert "dynamodb:GetItem" in error["Message"]
        assert "table/ddgui-jobs" in error["Message"]
        assert "assumed-role/ddgui-local-gui_unit" in error["Message"]
        (call,) = check.calls_of("gui_unit")
        assert (call.action, call.allowed) == ("dynamodb:GetItem", False)
    finally:
        check.forget([key])
