"""gui_core.snapstart: SnapStart's runtime hooks leave nothing two restored copies would share, warm
every kind of function without I/O, and do nothing off Lambda.

A snapshot is simulated the way it happens: a process initializes, runs the before-snapshot hook,
and is copied; here the copies are forks (each one a restored environment, with what a fork does
that a restore does not undone), which run the after-restore hook and report what they draw, hold
and fetch. The same forks without the hook are the control: they do share (else the test could not
tell).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gui_core import coldstart, snapstart
from local.aws import function_environment
from local.keys import DevKeys
from stacks.constructs.functions import warmup_request
from stacks.manifest import MANIFEST

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join(str(ROOT / part) for part in ("layers/core/python", "functions", "."))
CLOSED = "http://127.0.0.1:9"  # nothing listens: a connection is refused at once

# The snapshotted process: a botocore client that has used its pool, refreshable credentials, the
# signed @connections client with an idle connection and its signer, a tenant directory with a
# cached record; then the before-snapshot hook, and two copies.
SNAPSHOT = r"""
import json, os, random, sys, tempfile, threading, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from datetime import datetime, timedelta, timezone

class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET = do_DELETE = _answer
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"

import boto3
from botocore.credentials import RefreshableCredentials
from gui_core import snapstart
from gui_core.signed_post import SignedConnections
from gui_core.tenancy import TenantDirectory, TENANT_SK

fetched = []
def fetch_credentials():
    fetched.append(os.getpid())
    expiry = datetime.now(timezone.utc) + timedelta(hours=6)
    return {"access_key": "AKIDSNAP", "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()}

credentials = RefreshableCredentials.create_from_metadata(
    fetch_credentials(), refresh_using=fetch_credentials, method="container-role"
)
fetched.clear()  # the snapshot's own fetch
client = boto3.client("dynamodb", region_name="eu-west-1", endpoint_url=url,
                      aws_access_key_id="a", aws_secret_access_key="b")
client.list_tables()
pool = lambda: sum(len(p.pool.queue) - p.pool.queue.count(None) for p in
                   client._endpoint.http_session._manager.pools._container.values())
assert pool() == 1, "the snapshot holds a connection"

posts = SignedConnections(url + "/live", "eu-west-1", credentials=credentials)
posts.post_to_connection(ConnectionId="c1", Data=b"x")
assert posts.opened == 1

reads = []
class Table:
    def get(self, key, *, consistent=True):
        reads.append(key["pk"])
        return {"pk": key["pk"], "sk": TENANT_SK, "home_region": "eu-west-1"}
tenants = TenantDirectory(Table(), ttl_s=3600)
tenants.get("acme")
reads.clear()

next(tempfile._get_candidate_names())  # tempfile's name sequence exists, as it does once used
hooks = snapstart.Hooks(environ={})
report = hooks.before_snapshot()
run_hooks = sys.argv[1] == "hooks"
snapshot_random = random.getstate()

copies = []
for _ in range(2):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # a restored copy
        os.close(read_fd)
        # A fork is not quite a restore: Python reseeds `random` in a forked child
        # (os.register_at_fork) and tempfile's names notice the new pid. A restored snapshot keeps
        # the pid and runs no at-fork handler: the copy undoes both, and is the snapshot's again.
        random.setstate(snapshot_random)
        tempfile._name_sequence._rng_pid = os.getpid()
        restore = hooks.after_restore() if run_hooks else None
        pooled_at_restore = pool()
        client.list_tables()
        credentials.get_frozen_credentials()
        posts.post_to_connection(ConnectionId="c2", Data=b"y")
        tenants.get("acme")
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
        seen = {
            "random": [random.getrandbits(64) for _ in range(3)],
            "trace_id": RandomIdGenerator().generate_trace_id(),
            "uuid4": str(uuid.uuid4()),
            "temp_name": next(tempfile._get_candidate_names()),
            "pooled_at_restore": pooled_at_restore,
            "credential_fetches": len(fetched),
            "signed_connections_opened": posts.opened,
            "tenant_reads": list(reads),
            "restore": restore,
        }
        os.write(write_fd, json.dumps(seen).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        copies.append(json.loads(pipe.read()))
    os.waitpid(pid, 0)
print(json.dumps({"snapshot": report, "copies": copies}))
"""


def _snapshot(mode: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run(
        [sys.executable, "-c", SNAPSHOT, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_two_copies_restored_with_the_hooks_share_no_state() -> None:
    result = _snapshot("hooks")
    found = result["snapshot"]["resettables"]
    assert found["botocore.client.BaseClient"] >= 1
    assert found["botocore.credentials.RefreshableCredentials"] >= 1
    assert found["gui_core.signed_post.SignedConnections"] == 1
    assert found["gui_core.signed_post.Signer"] == 1
    assert found["gui_core.tenancy.TenantDirectory"] == 1
    first, second = result["copies"]
    # Random draws: the generator of `random` (OpenTelemetry's ids, botocore's jitter) and tempfile's
    # names are each copy's own.
    for key in ("random", "trace_id", "temp_name", "uuid4"):
        assert first[key] != second[key], key
    for copy in (first, second):
        assert copy["restore"]["failed"] == []
        assert copy["pooled_at_restore"] == 0, "the snapshot's connection is not reused"
        assert copy["credential_fetches"] == 1, "each copy fetches its own credentials, once"
        assert copy["signed_connections_opened"] == 2, "the signed client opened a connection of its own"
        assert copy["tenant_reads"] == ["acme"], "the cached tenant is read again"


def test_without_the_hooks_two_copies_do_share_that_state() -> None:
    """The control: what the hooks change is what a copy of the snapshot shares otherwise."""
    first, second = _snapshot("none")["copies"]
    for key in ("random", "trace_id", "temp_name"):
        assert first[key] == second[key], key
    assert first["uuid4"] != second["uuid4"]  # os.urandom: never shared
    for copy in (first, second):
        assert copy["pooled_at_restore"] == 1
        assert copy["credential_fetches"] == 0
        assert copy["signed_connections_opened"] == 1
        assert copy["tenant_reads"] == []


# -- the warm-up of each kind of function ---------------------------------------------------------------

WARM = r"""
import json, sys
connects = []
sys.addaudithook(lambda name, args: connects.append(repr(args[1])) if name == "socket.connect" else None)
import importlib, os
module_name = os.environ["_HANDLER"].rpartition(".")[0]
importlib.import_module(module_name)  # the init: gui_core.coldstart registers the hooks
import snapshot_restore_py
from gui_core import snapstart
hooks = snapshot_restore_py.get_before_snapshot()
registered = len(hooks)
while hooks:
    func, args, kwargs = hooks.pop()
    func(*args, **kwargs)
print(json.dumps({"registered": registered, "report": snapstart.HOOKS.last_snapshot, "connects": connects}))
"""

EXPECTED = {
    "gui_dashboard": "401",
    "gui_stream": "401",
    "gui_authorizer": "raised Exception: Unauthorized",
    "gui_realtime": "401",
    "gui_fanout": "0 failed",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_before_snapshot_hook_warms_the_function_without_io(name: str) -> None:
    fn = MANIFEST.function(name)
    assert fn.snap_start
    env = function_environment(
        MANIFEST,
        fn,
        region="eu-west-1",
        endpoint_url=CLOSED,
        keys=DevKeys.ephemeral(),
        connections_url=f"{CLOSED}/live" if fn.manages_connections else None,
    )
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        **env,
        "PYTHONPATH": PYTHONPATH,
        "AWS_EC2_METADATA_DISABLED": "true",
        snapstart.INIT_TYPE_ENV: snapstart.SNAP_START,
        snapstart.WARMUP_ENV: warmup_request(MANIFEST, fn),
        "_HANDLER": fn.handler,
    }
    done = subprocess.run(
        [sys.executable, "-c", WARM], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["registered"] == 1
    report = result["report"]
    assert report["outcome"] == EXPECTED[name], report
    assert report["cold_start_flags"] >= 2  # the restored copy's first invocation is its cold start
    assert report["not_imported"] == 0
    assert result["connects"] == [], "the warm-up must not reach for the network"
    # Its log lines, metrics and spans are discarded: stdout has the hook's one line and ours.
    assert [json.loads(line)["message"] for line in lines[:-1]] == ["snapstart"]


# -- registration -----------------------------------------------------------------------------------


@pytest.fixture
def registries(monkeypatch: pytest.MonkeyPatch) -> Any:
    import snapshot_restore_py

    monkeypatch.setattr(snapstart, "_registered", [])
    before, after = snapshot_restore_py.get_before_snapshot(), snapshot_restore_py.get_after_restore()
    saved = (list(before), list(after))
    yield before, after
    before[:], after[:] = saved


def test_register_is_a_no_op_unless_lambda_initializes_a_snapshot(registries: Any) -> None:
    before, after = registries
    assert snapstart.register({}) is False
    assert snapstart.register({snapstart.INIT_TYPE_ENV: "on-demand"}) is False
    assert before == []
    assert after == []
    snapshot = {snapstart.INIT_TYPE_ENV: snapstart.SNAP_START}
    assert snapstart.register(snapshot) is True
    assert snapstart.register(snapshot) is True  # once per process
    assert [entry[0] for entry in before] == [snapstart.HOOKS.before_snapshot]
    assert [entry[0] for entry in after] == [snapstart.HOOKS.after_restore]


def test_register_without_the_package_does_nothing(registries: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # `import` raises ImportError
    assert snapstart.register({snapstart.INIT_TYPE_ENV: snapstart.SNAP_START}) is False


def test_the_first_init_registers_at_a_snapshot_s_init_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(snapstart, "register", lambda: calls.append(1) or True)
    monkeypatch.setattr(coldstart.gc, "freeze", lambda: None)
    monkeypatch.delenv(snapstart.INIT_TYPE_ENV, raising=False)
    with coldstart._Init():
        pass
    assert calls == []
    monkeypatch.setenv(snapstart.INIT_TYPE_ENV, snapstart.SNAP_START)
    init = coldstart._Init()
    with pytest.raises(RuntimeError), init:
        raise RuntimeError("an init that fails registers nothing")
    with init:
        pass
    with init:
        pass
    assert calls == [1]


def test_an_unknown_warm_up_is_refused_and_none_is_nothing() -> None:
    assert snapstart.warmup_event("none", "eu-west-1") is None
    with pytest.raises(ValueError, match=snapstart.WARMUP_ENV):
        snapstart.warmup_event("soap", "eu-west-1")
    event = snapstart.warmup_event("rest GET /service/gui/stream/{channel}/{tenant}", "eu-west-1")
    assert event is not None
    assert event["path"] == f"/service/gui/stream/{snapstart.WARMUP_ID}/{snapstart.WARMUP_ID}"
    assert event["pathParameters"] == {"channel": snapstart.WARMUP_ID, "tenant": snapstart.WARMUP_ID}
    assert "authorizer" not in event["requestContext"]
