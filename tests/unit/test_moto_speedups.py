"""The local endpoint's DynamoDB serializer answers exactly what moto's own does, only faster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import serialize
from moto.core.serialize import JSONSerializer, XFormedAttributePicker
from moto.core.utils import get_service_model

from local import moto_speedups
from local.moto_speedups import FastDynamoDBSerializer

# Every AttributeValue type, nested, as moto holds them after `dynamo_to_dict` (blobs as bytes).
ITEM = {
    "pk": {"S": "acme"},
    "sk": {"S": "NOTE#n000000000001"},
    "count": {"N": "42"},
    "ratio": {"N": "0.125"},
    "blob": {"B": b"\x00\x01binary\xff"},
    "blobs": {"BS": [b"a", b"\xfe\xff"]},
    "names": {"SS": ["ada", "otto"]},
    "numbers": {"NS": ["1", "2.5"]},
    "flag": {"BOOL": False},
    "nothing": {"NULL": True},
    "empty": {"S": ""},
    "source": {"M": {"kind": {"S": "job"}, "ids": {"L": [{"N": "1"}, {"S": "x"}, {"M": {}}]}}},
    "list": {"L": [{"BOOL": True}, {"L": []}, {"B": b"z"}, {"SS": ["q"]}]},
}


def _answer(serializer: type[JSONSerializer], operation: str, result: dict[str, Any]) -> dict[str, Any]:
    model = get_service_model("dynamodb").operation_model(operation)
    body = serializer(
        operation_model=model, pretty_print=False, value_picker=XFormedAttributePicker()
    ).serialize(result)["body"]
    decoded: dict[str, Any] = json.loads(body)
    return decoded


@pytest.mark.parametrize(
    ("operation", "result"),
    [
        ("GetItem", {"Item": ITEM, "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}),
        (
            "Query",
            {"Items": [ITEM, ITEM], "Count": 2, "ScannedCount": 2, "LastEvaluatedKey": {"pk": ITEM["pk"]}},
        ),
        ("Scan", {"Items": [], "Count": 0, "ScannedCount": 0}),
        ("UpdateItem", {"Attributes": ITEM}),
        (
            "BatchGetItem",
            {"Responses": {"t": [ITEM]}, "UnprocessedKeys": {"t": {"Keys": [{"pk": ITEM["pk"]}]}}},
        ),
        ("DescribeTable", {"Table": {"TableName": "t", "ItemCount": 3, "TableStatus": "ACTIVE"}}),
    ],
)
def test_the_fast_serializer_writes_what_motos_writes(operation: str, result: dict[str, Any]) -> None:
    expected = _answer(JSONSerializer, operation, result)
    assert expected  # moto's own answer is not empty: the comparison is of something
    assert _answer(FastDynamoDBSerializer, operation, result) == expected


@pytest.fixture
def installed() -> Iterator[None]:
    before = dict(serialize.SERVICE_SPECIFIC_SERIALIZERS.get("dynamodb", {}))
    moto_speedups.install()
    try:
        yield
    finally:
        if before:
            serialize.SERVICE_SPECIFIC_SERIALIZERS["dynamodb"] = before
        else:
            serialize.SERVICE_SPECIFIC_SERIALIZERS.pop("dynamodb", None)


def test_an_item_of_every_type_reads_back_as_written_through_boto3(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    assert serialize.get_serializer_class("dynamodb", "json") is FastDynamoDBSerializer
    with mock_aws():
        table = boto3.resource("dynamodb", region_name="eu-west-1").create_table(
            TableName="t",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        item = {
            "pk": "acme",
            "sk": "NOTE#1",
            "count": Decimal(42),
            "ratio": Decimal("0.125"),
            "blob": b"\x00\x01binary\xff",
            "blobs": {b"a", b"\xfe\xff"},
            "names": {"ada", "otto"},
            "numbers": {Decimal(1), Decimal("2.5")},
            "flag": False,
            "nothing": None,
            "source": {"kind": "job", "ids": [Decimal(1), "x", {}]},
        }
        table.put_item(Item=item)
        read = table.get_item(Key={"pk": "acme", "sk": "NOTE#1"}, ConsistentRead=True)["Item"]
        queried = table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "acme"})[
            "Items"
        ]
    normalized = {k: (v.value if hasattr(v, "value") else v) for k, v in read.items()}
    normalized["blobs"] = {b.value for b in read["blobs"]}  # type: ignore[union-attr]
    assert normalized == item
    assert [i["sk"] for i in queried] == ["NOTE#1"]
    assert queried[0]["source"] == item["source"]
