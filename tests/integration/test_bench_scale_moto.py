"""bench/scale.py's AWS endpoint (bench/_scale_moto.py) answers every Query as moto's own server does:
its partition-scoped Query, bulk load and journaled transactions change how fast, never what."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.aws import MotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _scale_moto import ScaleMoto

TABLE = "scale-check"


def _client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _items() -> list[dict[str, Any]]:
    rng = random.Random(1)
    items = []
    for n in range(600):
        item = {
            "pk": {"S": f"p{n % 3}"},
            "sk": {"S": rng.choice(["A#", "B#", "C#"]) + f"{rng.randint(0, 10**6):07d}"},
            "n": {"N": str(n)},
        }
        if n % 4 == 0:
            item["g"] = {"S": f"g{n % 8 // 4}"}
        items.append(item)
    return items


QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p1"}}, "Limit": 20},
    {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "p1"}},
        "Limit": 20,
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "p2"}, ":s": {"S": "B#"}},
        "Limit": 7,
    },
    {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": "p0"}, ":a": {"S": "A#0300000"}, ":b": {"S": "B#0500000"}},
    },
    {
        "KeyConditionExpression": "pk = :p AND sk > :a",
        "ExpressionAttributeValues": {":p": {"S": "p0"}, ":a": {"S": "B#0300000"}},
        "Limit": 5,
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "n > :n",
        "ExpressionAttributeValues": {":p": {"S": "p1"}, ":n": {"N": "300"}},
        "Limit": 10,
    },
    {
        "IndexName": "by-g",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": {"S": "g1"}},
        "Limit": 10,
    },
    {
        "IndexName": "by-g",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": {"S": "g0"}},
        "Limit": 6,
        "ScanIndexForward": False,
    },
    {
        "IndexName": "by-g",
        "KeyConditionExpression": "g = :g AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":g": {"S": "g1"}, ":a": {"S": "A#0200000"}, ":b": {"S": "C#0100000"}},
        "Limit": 4,
    },
    {
        "IndexName": "by-g",
        "KeyConditionExpression": "g = :g AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":g": {"S": "g0"}, ":s": {"S": "B#"}},
        "Limit": 3,
        "ScanIndexForward": False,
    },
    {
        "IndexName": "by-g",
        "KeyConditionExpression": "g = :g AND sk > :a",
        "ExpressionAttributeValues": {":g": {"S": "g1"}, ":a": {"S": "B#0300000"}},
        "Limit": 5,
    },
    {
        "IndexName": "by-g",
        "KeyConditionExpression": "g = :g AND sk <= :a",
        "FilterExpression": "n > :n",
        "ExpressionAttributeValues": {":g": {"S": "g0"}, ":a": {"S": "B#0300000"}, ":n": {"N": "100"}},
        "Limit": 4,
    },
    {
        "KeyConditionExpression": "pk = :p AND sk < :a",
        "ExpressionAttributeValues": {":p": {"S": "p1"}, ":a": {"S": "B#0300000"}},
        "Limit": 9,
        "ScanIndexForward": False,
    },
]


def _answers(client: Any, load: Any) -> list[list[tuple[list[str], int, Any]]]:
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "g")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    items = _items()
    load(items[:300])
    for n, item in enumerate(items[300:]):
        client.put_item(TableName=TABLE, Item=item)
        if n % 50 == 0:  # queries between the writes: kept partitions must follow them
            client.query(TableName=TABLE, **QUERIES[0])
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "p1"}, "sk": {"S": "Z#1"}}}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": items[0],
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    client.delete_item(TableName=TABLE, Key={"pk": items[5]["pk"], "sk": items[5]["sk"]})
    client.query(TableName=TABLE, **QUERIES[6])  # an index partition kept, then changed in place:
    for n in (8, 16, 24):
        key = {"pk": items[n]["pk"], "sk": items[n]["sk"]}
        client.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET g = :g",
            ExpressionAttributeValues={":g": {"S": "g1"}},
        )
    client.update_item(
        TableName=TABLE, Key={"pk": items[12]["pk"], "sk": items[12]["sk"]}, UpdateExpression="REMOVE g"
    )
    client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": items[3]["pk"], "sk": items[3]["sk"]},
                    "UpdateExpression": "SET g = :g",
                    "ExpressionAttributeValues": {":g": {"S": "g0"}},
                }
            }
        ]
    )
    answers = []
    for query in QUERIES:
        pages, arguments = [], dict(query)
        while True:
            answer = client.query(TableName=TABLE, **arguments)
            pages.append(
                (
                    [i["sk"]["S"] for i in answer["Items"]],
                    answer["ScannedCount"],
                    answer.get("LastEvaluatedKey"),
                )
            )
            if "LastEvaluatedKey" not in answer:
                break
            arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        answers.append(pages)
    return answers


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ScaleMoto, str]]:
    moto = MotoServer(enforce_iam=False).start()
    try:
        with ScaleMoto() as scale:
            yield scale, moto.endpoint_url
    finally:
        moto.stop()


def test_the_bench_endpoint_answers_as_moto(servers: tuple[ScaleMoto, str]) -> None:
    scale, plain_url = servers
    plain = _client(plain_url)
    expected = _answers(plain, lambda items: [plain.put_item(TableName=TABLE, Item=i) for i in items])
    got = _answers(_client(scale.endpoint_url), lambda items: scale.load("eu-west-1", TABLE, items))
    assert [len(pages) for pages in expected][:6] == [10, 10, 10, 1, 24, 20]  # paging exercised
    assert all(len(pages) > 2 for pages in expected[6:])  # every index query and the last pages
    assert all(sum(len(page[0]) for page in pages) > 0 for pages in expected[6:])  # and finds items
    assert got == expected
