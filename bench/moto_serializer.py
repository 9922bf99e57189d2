"""The local endpoint's DynamoDB answers: moto's own serializer against `local.moto_speedups`.

moto in process (`mock_aws`), one table of two tenants' inbox-like items (17 attributes, one map),
then a consistent Query of one tenant's partition (newest first, as the inbox list reads it) and a
GetItem, each timed in CPU time (`process_time`, boto3's client side included) first with moto's
serializer (the baseline) and then with the fast one installed, in the same run. Not a CI gate.

Usage: `python bench/moto_serializer.py [--items 70] [--repeat 20]`; a few seconds. The result
goes to bench/results/moto_serializer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")  # noqa: S106

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core import serialize  # noqa: E402

from local import moto_speedups  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "moto_serializer.json"
TENANTS = ("acme", "globex")


def _item(tenant: str, n: int) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": tenant}, "sk": {"S": f"NOTE#n{n:012x}"}}
    item.update({f"a{k}": {"S": "v" * 40} for k in range(15)})
    item["source"] = {"M": {"kind": {"S": "job"}, "id": {"S": f"job-{n}"}}}
    return item


def _cpu_ms(call: Callable[[], Any], repeat: int) -> float:
    """Median CPU milliseconds of `call` over `repeat` rounds (after one warm-up call)."""
    call()
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        call()
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


def measure(items: int, repeat: int) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="inbox",
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
        for tenant in TENANTS:
            for n in range(items):
                client.put_item(TableName="inbox", Item=_item(tenant, n))

        def query() -> Any:
            return client.query(
                TableName="inbox",
                KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                ExpressionAttributeValues={":p": {"S": "acme"}, ":s": {"S": "NOTE#"}},
                ScanIndexForward=False,
                ConsistentRead=True,
            )

        def get() -> Any:
            key = {"pk": {"S": "acme"}, "sk": {"S": f"NOTE#n{0:012x}"}}
            return client.get_item(TableName="inbox", Key=key)

        before = dict(serialize.SERVICE_SPECIFIC_SERIALIZERS.get("dynamodb", {}))
        assert not before, "the fast serializer is installed already: no baseline"
        figures["moto"] = {"query_ms": _cpu_ms(query, repeat), "get_ms": _cpu_ms(get, repeat)}
        slow_answer = query()["Items"]
        moto_speedups.install()
        try:
            figures["fast"] = {"query_ms": _cpu_ms(query, repeat), "get_ms": _cpu_ms(get, repeat)}
            assert query()["Items"] == slow_answer, "the two serializers answered differently"
        finally:
            serialize.SERVICE_SPECIFIC_SERIALIZERS.pop("dynamodb", None)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=70, help="items of the queried tenant")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    figures = measure(args.items, args.repeat)
    print(f"moto DynamoDB answers, CPU ms (medians of {args.repeat}; boto3's client side included)")
    print(f"{'call':<32} {'moto':>8} {'fast':>8} {'fast/moto':>10}")
    for call, label in (("query_ms", f"Query of {args.items} items"), ("get_ms", "GetItem")):
        moto, fast = figures["moto"][call], figures["fast"][call]
        print(f"{label:<32} {moto:8.2f} {fast:8.2f} {fast / moto:9.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"items": args.items, "repeat": args.repeat, **figures}, indent=2))
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
