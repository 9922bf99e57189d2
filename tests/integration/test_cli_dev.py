"""`ddgui dev` as a developer runs it: becomes ready, prints what to use, stops on a signal. How fast
it becomes ready is recorded in the report (`ready_s`), never a gate: `bench/cold_start.py` and
`docs/performance.md` carry the timings."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

DEADLINE_S = 90.0  # a start that has not answered by then is hung, not slow


def two_free_ports() -> int:
    """A port p such that p and p + 1 are both free on loopback now, below the ephemeral range: the
    outgoing connections of this process (every backend's clients) take ephemeral ports, and one
    of them could take a port picked from that range before `ddgui dev` binds it."""
    low, _ = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for _ in range(200):
        port = random.randrange(20000, low - 2)
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no two consecutive free ports")


def wait_ready(urls: list[str], process: subprocess.Popen[str], budget_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < budget_s:
        if process.poll() is not None:
            _, errors = process.communicate(timeout=5)
            pytest.fail(f"ddgui dev exited with {process.returncode}: {errors[-3000:]}")
        try:
            if all(httpx.get(u, timeout=1).status_code == 200 for u in urls):
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"ddgui dev was not ready within {budget_s} s")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ddgui_dev_becomes_ready_and_stops_cleanly(
    repo_root: Path,
    tmp_path: Path,
    stop_signal: signal.Signals,
    record_property: Callable[[str, object], None],
) -> None:
    port = two_free_ports()
    paths = [repo_root / "layers" / "core" / "python", repo_root / "functions", repo_root]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}
    command = [sys.executable, "-m", "local.cli", "dev", "--port", str(port), "--no-access-log"]
    command += ["--keys-dir", str(tmp_path / "keys")]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        ready_s = wait_ready(
            [f"http://127.0.0.1:{port}/healthz", f"http://127.0.0.1:{port + 1}/healthz"],
            process,
            DEADLINE_S,
        )
        process.send_signal(stop_signal)
        stopping = time.monotonic()
        # A stop waits for the invocations running (the schedules fired at start among them),
        # which on a loaded machine can take a while: a deadline for a hang, not a speed.
        stdout, stderr = process.communicate(timeout=DEADLINE_S)
        record_property("stop_s", round(time.monotonic() - stopping, 2))
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    record_property("ready_s", round(ready_s, 2))
    assert f"eu-west-1: http://127.0.0.1:{port}" in stdout
    assert f"us-east-1: http://127.0.0.1:{port + 1}" in stdout
    assert "AWS endpoint (moto): http://127.0.0.1:" in stdout
    assert "Ready in" in stdout
    assert stdout.count("Authorization: Bearer ey") == 8  # one token per demo user
    assert f"http://127.0.0.1:{port}/service/gui/preferences" in stdout
