"""The local runtime swaps `os.environ` for a cold start while other threads run: its own boto3
clients, whose creation scans the environment, must never see the swap half done."""

from __future__ import annotations

import os
import threading
from unittest import mock

from local.aws import aws_client
from local.containers import environment


def test_clients_made_during_cold_starts_on_another_thread_never_fail() -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def cold_starts() -> None:
        while not stop.is_set():
            with environment({"GUI_REGION": "eu-west-1"}):
                pass

    # Variables the swap removes and puts back: what CI had (AWS_CA_BUNDLE) made the race visible.
    host = {f"AWS_LOCAL_TEST_{n}": "x" for n in range(50)}
    with mock.patch.dict(os.environ, host):
        swapper = threading.Thread(target=cold_starts)
        swapper.start()
        try:
            for _ in range(60):
                try:
                    aws_client("sqs", endpoint_url="http://127.0.0.1:1", region="eu-west-1")
                except BaseException as exc:  # collected and asserted below
                    errors.append(exc)
        finally:
            stop.set()
            swapper.join()
    assert errors == []
