"""What the cursor key (gui_core.cursors) adds to a cold start and to the first paged request, in a
fresh interpreter per run, as a container starts: the function's imports (the jobs app's, with
`gui_core.cursors`) and the keys object made at init, then its first cursor (a Secrets Manager client
and one GetSecretValue against the local endpoint) and a later one (the HMAC alone). The baseline,
in the same process: the first and a later DynamoDB GetItem with the client the function made at
init, which every request already pays. Not a CI gate.

Usage: `python bench/cursor_key.py [--runs 7]`; about ten seconds. The result goes to
bench/results/cursor_key.json. Against AWS the GetSecretValue adds its round trip within the region
to the first cursor (the local endpoint's is on loopback).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python")]

from _common import load  # noqa: E402

from local.aws import DUMMY_CREDENTIALS, MotoServer, create_resources  # noqa: E402
from local.iam import local_secret_arn  # noqa: E402
from stacks.manifest import MANIFEST  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "cursor_key.json"
REGION = "eu-west-1"

# One container's life, timed with perf_counter in milliseconds; printed as one JSON line.
CHILD = """
import json, statistics, time
started = time.perf_counter()
import gui_jobs.app  # the function's imports: FastAPI, boto3, gui_core (cursors among them)
imported = time.perf_counter()
import gui_core.cursors as cursors  # imported with the app (its own cost: -X importtime, below)
from gui_core.dynamo import dynamodb_client
client = dynamodb_client({region!r})  # made at init, as the jobs app makes it
keys = cursors.SecretsManagerCursorKeys({arn!r}, {region!r})
place = cursors.CursorPlace("GET /service/gui/jobs", "bench", (("status", "queued"),))
pager = cursors.Cursors(keys)
init_done = time.perf_counter()

def timed(call):
    t = time.perf_counter()
    call()
    return (time.perf_counter() - t) * 1000

key = {{"pk": {{"S": "bench"}}, "sk": {{"S": "tenant"}}}}
get = lambda: client.get_item(TableName={table!r}, Key=key)
first_get = timed(get)
later_get = statistics.median(timed(get) for _ in range(20))
first_cursor = timed(lambda: pager.read(pager.issue({{"sk": "JOB#1"}}, place), place))
later_cursor = statistics.median(
    timed(lambda: pager.read(pager.issue({{"sk": "JOB#1"}}, place), place)) for _ in range(20)
)
print(json.dumps({{
    "imports_ms": (imported - started) * 1000,
    "init_ms": (init_done - imported) * 1000,
    "first_get_item_ms": first_get,
    "later_get_item_ms": later_get,
    "first_cursor_ms": first_cursor,
    "later_cursor_ms": later_cursor,
}}))
"""
IMPORT_TIME = "import gui_core.cursors"


def _child_env(endpoint: str) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions"), str(ROOT)])
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "PYTHONPATH": path,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **DUMMY_CREDENTIALS,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def _import_cost_ms(env: dict[str, str]) -> float:
    """gui_core.cursors' own import time (`-X importtime`, self column), in a fresh interpreter."""
    answer = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", IMPORT_TIME],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in answer.stderr.splitlines():
        if line.rstrip().endswith("gui_core.cursors"):
            return int(line.split("|")[0].split(":")[1]) / 1000
    raise RuntimeError(answer.stderr[-500:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"load before: {load()}", file=sys.stderr)
    with MotoServer("127.0.0.1", 0) as moto:
        create_resources(MANIFEST, endpoint_url=moto.endpoint_url, region=REGION)
        env = _child_env(moto.endpoint_url)
        code = CHILD.format(
            region=REGION,
            arn=local_secret_arn(MANIFEST, "cursor-key", region=REGION),
            table=MANIFEST.store("tenants").local_table_name(),
        )
        samples: list[dict[str, float]] = []
        for _ in range(args.runs):
            answer = subprocess.run(
                [sys.executable, "-c", code],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            samples.append(json.loads(answer.stdout.strip().splitlines()[-1]))
        imports = [_import_cost_ms(env) for _ in range(args.runs)]
    result: dict[str, Any] = {
        "runs": args.runs,
        "median_ms": {key: round(statistics.median(s[key] for s in samples), 2) for key in samples[0]},
        "cursors_module_import_ms": round(statistics.median(imports), 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'median of ' + str(args.runs) + ' cold processes':<44}{'ms':>10}")
    print(f"{'gui_core.cursors import (self)':<44}{result['cursors_module_import_ms']:>10.2f}")
    for key, value in result["median_ms"].items():
        print(f"{key:<44}{value:>10.2f}")
    print(f"load after: {load()}", file=sys.stderr)


if __name__ == "__main__":
    main()
