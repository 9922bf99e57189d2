"""moto's server in a process of its own: `python -m local.moto_process HOST PORT [iam]`.

moto keeps its state in module globals, so every server started inside one process shares it:
two backends of one pytest run would see each other's queues, streams and tables (a backlog of one
suite's events reached the next suite's relay; one backend's fan-out removed another's WebSocket
connections). A server per process gives each backend its own AWS, and moves moto's request
handling off the GIL of the process that runs the functions.

The server binds PORT (0: a free one), prints `ready <port>` on stdout, and serves until its
parent closes stdin (the parent stopping, or dying: nothing outlives the run).

DynamoDB's answers are written by `local.moto_speedups` (the same answers, several times faster).

With `iam`, moto enforces IAM as AWS does (local/iam.py): every request must be signed by a known
identity, and is refused unless that identity's policies allow its action. The operator (the local
runtime's own clients, the tests, the CLI) signs with the dummy key `testing`, made here an IAM user
allowed everything, as an account's administrator is; each function signs with credentials of its
own role, made by the runtime from the manifest's grants.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any


def stop_server(process: subprocess.Popen[str], *, wait_s: float) -> None:
    """The parent's end of the protocol: close the server's stdin (it shuts down at EOF), wait up to
    `wait_s` for it to end, kill it if it has not, close its stdout. `local.aws.MotoServer` and the
    scale bench's server (`bench/_scale_moto.py`) stop theirs so."""
    with contextlib.suppress(OSError):
        assert process.stdin is not None
        process.stdin.close()
    try:
        process.wait(wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(wait_s)
    if process.stdout is not None:
        process.stdout.close()


def main(host: str, port: int, *, enforce_iam: bool = False) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from local import moto_speedups

    moto_speedups.install()
    if enforce_iam:
        from local import iam

        iam.enforce_in_moto()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # DynamoDB requests one at a time: moto does not lock its backends, so two concurrent
        # conditional updates of one item could both pass their condition (DynamoDB applies them
        # one after the other; the in-process server ran them under one GIL). Other services run
        # side by side, so the bus relay's and the stream poller's polls do not queue behind them.
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    server = make_server(host, port, serialized, True, request_handler=MotoRequestHandler)

    def watch_parent() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or is gone
        threading.Thread(target=server.shutdown, daemon=True).start()

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    sys.stdout.write(f"ready {server.server_port}\n")
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), enforce_iam=sys.argv[3:4] == ["iam"])
