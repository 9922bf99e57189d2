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


# A pk/sk table on demand, as the stores are.
TABLE: dict[str, Any] = {
    "TableName": "t",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
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
            **TABLE,
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


@pytest.fixture
def journaled_dynamodb() -> Iterator[Any]:
    moto_speedups.journaled_transactions()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            **TABLE,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client


def _items(client: Any) -> dict[str, dict[str, Any]]:
    return {i["sk"]["S"]: i for i in client.scan(TableName="t")["Items"]}


def _stream_records(client: Any) -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].get_table("t").stream_shard
    assert shard is not None
    return len(shard.items)


def test_a_failed_transaction_leaves_the_items_and_the_stream_as_they_were(journaled_dynamodb: Any) -> None:
    client = journaled_dynamodb
    client.put_item(TableName="t", Item={"pk": {"S": "acme"}, "sk": {"S": "a"}, "n": {"N": "1"}})
    client.put_item(TableName="t", Item={"pk": {"S": "acme"}, "sk": {"S": "b"}, "n": {"N": "1"}})
    before, records = _items(client), _stream_records(client)
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                # applied by moto before the last entry's condition fails: the journal undoes them
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "acme"}, "sk": {"S": "a"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "acme"}, "sk": {"S": "new"}}}},
                {"Delete": {"TableName": "t", "Key": {"pk": {"S": "acme"}, "sk": {"S": "b"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "acme"}, "sk": {"S": "missing"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert _items(client) == before
    assert _stream_records(client) == records


def test_a_transaction_that_holds_is_applied_whole_with_its_stream_records(journaled_dynamodb: Any) -> None:
    client = journaled_dynamodb
    client.put_item(TableName="t", Item={"pk": {"S": "acme"}, "sk": {"S": "a"}, "n": {"N": "1"}})
    records = _stream_records(client)
    client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "acme"}, "sk": {"S": "a"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                    "ConditionExpression": "n = :one",
                }
            },
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "acme"}, "sk": {"S": "c"}}}},
        ]
    )
    after = _items(client)
    assert after["a"]["n"] == {"N": "2"}
    assert "c" in after
    assert _stream_records(client) == records + 2


def test_a_transaction_copies_no_table(journaled_dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's rollback copy of every table a transaction names is the table itself: a transaction's
    cost does not grow with what the table holds."""
    import copy as copy_module

    from moto.dynamodb.models.table import Table

    client = journaled_dynamodb
    client.put_item(TableName="t", Item={"pk": {"S": "acme"}, "sk": {"S": "a"}})
    tables: list[bool] = []  # per copy of a table: whether the copy was the table itself
    original = copy_module.deepcopy

    def watching(value: Any, memo: Any = None) -> Any:
        copied = original(value, memo)
        if isinstance(value, Table):
            tables.append(copied is value)
        return copied

    monkeypatch.setattr(copy_module, "deepcopy", watching)
    client.transact_write_items(
        TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": "acme"}, "sk": {"S": "d"}}}}]
    )
    assert tables == [True]


# An update, valid or refused for its clauses, its paths or its key, and what moto does with it.
UPDATES = {
    "two ADD clauses": ("ADD a :one ADD b :one", "refused"),
    "two SET clauses": ("SET a = :one SET b = :one", "refused"),
    "a path set twice": ("SET a = :one, b = :one, a = :one", "refused"),
    "a name added twice": ("ADD #a :one, #a :one", "refused"),
    "overlapping paths": ("SET m.x = :one, m = :map", "refused"),
    "a path set and removed": ("SET a = :one REMOVE a", "refused"),
    "the key updated": ("SET sk = :s", "refused"),
    "many counters": ("ADD " + ", ".join(f"c{i} :one" for i in range(122)), "applied"),
    "SET, ADD and REMOVE": ("SET a = :one, b = :one ADD c :one REMOVE d", "applied"),
}


def _update(client: Any, expression: str) -> tuple[str, Any]:
    """What moto answers an update: the item it leaves, or the refusal's code and message."""
    uses = [name for name in (":one", ":map", ":s") if name in expression]
    values = {":one": {"N": "1"}, ":map": {"M": {}}, ":s": {"S": "x"}}
    try:
        answer = client.update_item(
            TableName="t",
            Key={"pk": {"S": "acme"}, "sk": {"S": "R"}},
            UpdateExpression=expression,
            ExpressionAttributeValues={name: values[name] for name in uses},
            **({"ExpressionAttributeNames": {"#a": "a"}} if "#a" in expression else {}),
            ReturnValues="ALL_NEW",
        )
    except client.exceptions.ClientError as exc:
        return "refused", (exc.response["Error"]["Code"], exc.response["Error"]["Message"])
    return "applied", answer["Attributes"]


@pytest.mark.parametrize(("expression", "outcome"), UPDATES.values(), ids=UPDATES.keys())
def test_an_update_expression_checked_at_its_root_gets_motos_own_answer(
    expression: str, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the same update, valid or refused for its clauses or its paths WHEN moto checks it at
    every node of its tree (its own validators) and at its root alone THEN the answers are equal."""
    from moto.dynamodb.parsing import validators

    moto_speedups.root_only_validators()
    answers = []
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(**TABLE)
        answers.append(_update(client, expression))
        client.delete_item(TableName="t", Key={"pk": {"S": "acme"}, "sk": {"S": "R"}})
        with monkeypatch.context() as moto_own:
            for validator in (validators.ActionCountValidator, validators.OverlappingPathsValidator):
                for name, check in list(vars(validator).items()):
                    if getattr(check, "root_only", False):
                        moto_own.setattr(validator, name, check.moto_check)
            assert not getattr(validators.ActionCountValidator.verify_action_counts, "root_only", False)
            answers.append(_update(client, expression))
    assert answers[0] == answers[1]
    assert answers[0][0] == outcome


def _add_one(client: Any, **token: str) -> None:
    update = {
        "TableName": "t",
        "Key": {"pk": {"S": "acme"}, "sk": {"S": "C"}},
        "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    client.transact_write_items(TransactItems=[{"Update": update}], **token)


def test_a_transaction_sent_again_with_its_token_is_applied_once() -> None:
    """GIVEN a transaction that adds one WHEN botocore sends it again with the same client request
    token (its retry of a call whose answer timed out) THEN it is applied once and answered as the
    first; a new token applies it again; the token with other parameters is refused."""
    moto_speedups.idempotent_transactions()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(**TABLE)
        _add_one(client, ClientRequestToken="retry-1")
        _add_one(client, ClientRequestToken="retry-1")
        key = {"pk": {"S": "acme"}, "sk": {"S": "C"}}
        assert client.get_item(TableName="t", Key=key)["Item"]["n"] == {"N": "1"}
        _add_one(client)  # botocore's own token, a new one
        assert client.get_item(TableName="t", Key=key)["Item"]["n"] == {"N": "2"}
        with pytest.raises(client.exceptions.IdempotentParameterMismatchException):
            client.transact_write_items(
                TransactItems=[{"Delete": {"TableName": "t", "Key": key}}], ClientRequestToken="retry-1"
            )
        assert client.get_item(TableName="t", Key=key)["Item"]["n"] == {"N": "2"}


@pytest.mark.parametrize("size", [4096, 4097])
def test_an_expression_longer_than_4_kb_is_refused_alone_and_in_a_transaction(size: int) -> None:
    """DynamoDB refuses any expression string over 4 KB (a ValidationException); at 4 KB it holds.
    The same on its own and inside TransactWriteItems, whose refusal writes nothing."""
    moto_speedups.expression_limits()
    moto_speedups.idempotent_transactions()
    names = "attribute_exists(pk) OR attribute_not_exists(pk)"
    condition = names + " OR attribute_exists(pk)" * ((size - len(names)) // 24)
    condition += " " * (size - len(condition))
    assert len(condition.encode()) == size
    key = {"pk": {"S": "acme"}, "sk": {"S": "E"}}
    update = {
        "TableName": "t",
        "Key": key,
        "UpdateExpression": "SET a = :a",
        "ConditionExpression": condition,
    }
    update["ExpressionAttributeValues"] = {":a": {"N": "1"}}
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(**TABLE)
        outcomes = []
        for call in (
            lambda: client.update_item(**update),
            lambda: client.transact_write_items(TransactItems=[{"Update": update}]),
        ):
            try:
                call()
            except client.exceptions.ClientError as exc:
                outcomes.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"]))
            else:
                outcomes.append(("applied", client.get_item(TableName="t", Key=key).get("Item", {}).get("a")))
    if size == 4096:
        assert outcomes == [("applied", {"N": "1"})] * 2
    else:
        refusal = (
            "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; "
            f"expression size: {size}"
        )
        assert outcomes == [("ValidationException", refusal)] * 2
