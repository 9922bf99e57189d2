"""What enforcing IAM locally costs (local/iam.py): the local endpoint's CPU per DynamoDB GetItem
with moto's enforcement off (the baseline) and on (signature check and policy evaluation), and the
client-side CPU of the runtime's call check (the botocore hook) for a function's call, against the
same call signed by the operator (not checked), in the same run. Not a CI gate.

Usage: `python bench/local_iam.py [--calls 500]`; about half a minute. The result goes to
bench/results/local_iam.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python")]

import boto3  # noqa: E402
from _common import children_cpu, load  # noqa: E402

from local.aws import MotoServer, aws_client, create_resources  # noqa: E402
from local.iam import CallCheck, Identity, assume, ensure_role, local_statements  # noqa: E402
from stacks.manifest import MANIFEST  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "local_iam.json"
REGION = "eu-west-1"
FUNCTION = "gui_preferences"


def _get(client: Any) -> Callable[[], Any]:
    key = {"pk": {"S": "acme"}, "sk": {"S": "tenant"}}
    return lambda: client.get_item(TableName=MANIFEST.store("tenants").local_table_name(), Key=key)


def _server_cpu_ms(pid: int, call: Callable[[], Any], calls: int) -> float:
    """The endpoint's CPU milliseconds per call, over `calls` calls after a warm-up."""
    for _ in range(20):
        call()
    before = children_cpu()[pid]
    for _ in range(calls):
        call()
    return (children_cpu()[pid] - before) * 1000 / calls


def _client_cpu_ms(call: Callable[[], Any], calls: int) -> float:
    """This process's median CPU milliseconds per call (the client side: botocore and the hook)."""
    samples = []
    for _ in range(calls):
        started = time.process_time()
        call()
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


def measure(calls: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for enforce in (False, True):
        with MotoServer(enforce_iam=enforce) as moto:
            assert moto.pid is not None
            create_resources(MANIFEST, endpoint_url=moto.endpoint_url, region=REGION)
            operator = aws_client("dynamodb", endpoint_url=moto.endpoint_url, region=REGION)
            label = "enforced" if enforce else "open"
            figures[f"server_cpu_ms_{label}"] = _server_cpu_ms(moto.pid, _get(operator), calls)
            if not enforce:
                continue
            fn = MANIFEST.function(FUNCTION)
            arn = ensure_role(aws_client("iam", endpoint_url=moto.endpoint_url, region=REGION), MANIFEST, fn)
            credentials = assume(
                aws_client("sts", endpoint_url=moto.endpoint_url, region=REGION), arn, fn.name
            )
            check = CallCheck.installed()
            statements = local_statements(MANIFEST, fn, region=REGION, stage="live")
            check.register(credentials["AWS_ACCESS_KEY_ID"], Identity(fn.name, REGION, statements))
            function_client = boto3.client(
                "dynamodb",
                region_name=REGION,
                endpoint_url=moto.endpoint_url,
                aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=credentials["AWS_SESSION_TOKEN"],
            )
            unchecked = boto3.client(
                "dynamodb",
                region_name=REGION,
                endpoint_url=moto.endpoint_url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - the operator's dummy key
            )
            figures["server_cpu_ms_function_role"] = _server_cpu_ms(
                moto.pid,
                _get(function_client),
                calls,
            )
            figures["client_cpu_ms_unchecked"] = _client_cpu_ms(_get(unchecked), calls)
            figures["client_cpu_ms_checked"] = _client_cpu_ms(_get(function_client), calls)
            check.forget([credentials["AWS_ACCESS_KEY_ID"]])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    print(f"load before: {load()}")
    figures = measure(args.calls)
    print(f"load after:  {load()}")
    rows = [
        ("endpoint CPU per GetItem, IAM not enforced (baseline)", "server_cpu_ms_open", "server_cpu_ms_open"),
        ("endpoint CPU per GetItem, enforced, operator", "server_cpu_ms_enforced", "server_cpu_ms_open"),
        (
            "endpoint CPU per GetItem, enforced, function role",
            "server_cpu_ms_function_role",
            "server_cpu_ms_open",
        ),
        (
            "client CPU per GetItem, unchecked (baseline)",
            "client_cpu_ms_unchecked",
            "client_cpu_ms_unchecked",
        ),
        ("client CPU per GetItem, call check", "client_cpu_ms_checked", "client_cpu_ms_unchecked"),
    ]
    print(f"{'measure':58} {'ms':>8} {'ratio':>7}")
    for label, key, baseline in rows:
        print(f"{label:58} {figures[key]:8.3f} {figures[key] / figures[baseline]:6.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"calls": args.calls, **figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
