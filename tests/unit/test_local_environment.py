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


def test_a_cold_start_takes_its_package_while_other_threads_import() -> None:
    """A handler running on another thread imports lazily while a cold start takes its package's
    modules out of `sys.modules`: the cold start must not fail on the registry changing size."""
    import sys
    import types

    from local.containers import _take_package

    errors: list[BaseException] = []
    stop = threading.Event()

    def importing() -> None:
        n = 0
        while not stop.is_set():
            name = f"_other_thread_module_{n % 200}"
            sys.modules[name] = types.ModuleType(name)
            sys.modules.pop(f"_other_thread_module_{(n + 100) % 200}", None)
            n += 1

    sys.modules["_taken_pkg"] = types.ModuleType("_taken_pkg")
    sys.modules["_taken_pkg.sub"] = types.ModuleType("_taken_pkg.sub")
    importer = threading.Thread(target=importing)
    importer.start()
    try:
        for _ in range(300):
            try:
                taken = _take_package("_taken_pkg")
                assert sorted(taken) == ["_taken_pkg", "_taken_pkg.sub"]
                sys.modules.update(taken)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)
    finally:
        stop.set()
        importer.join()
        for name in [n for n in list(sys.modules) if n.startswith(("_other_thread_module_", "_taken_pkg"))]:
            sys.modules.pop(name, None)
    assert errors == []
