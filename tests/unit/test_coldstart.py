"""gui_core.coldstart: the garbage collector held off during a function's init, then restored.

Each test runs on an `_Init` of its own (the process's one may already have frozen) with
`gc.freeze` recorded instead of run, so the test process's objects are never frozen here.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gui_core import coldstart


@pytest.fixture
def freezes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(1))
    return calls


@pytest.fixture
def init(monkeypatch: pytest.MonkeyPatch) -> coldstart._Init:
    fresh = coldstart._Init()
    monkeypatch.setattr(coldstart, "_INIT", fresh)
    return fresh


@pytest.fixture(autouse=True)
def collector_as_found() -> Iterator[None]:
    """Whatever a test does, the collector leaves it as the suite had it."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_held_off_during_the_init_then_enabled_with_its_thresholds(
    init: coldstart._Init, freezes: list[int]
) -> None:
    gc.enable()
    gc.set_threshold(1234, 7, 9)
    with coldstart.init():
        assert not gc.isenabled()
        assert gc.get_threshold() == (1234, 7, 9)
    assert gc.isenabled()
    assert gc.get_threshold() == (1234, 7, 9)
    assert freezes == [1]


def test_restored_when_the_init_raises_and_nothing_frozen(init: coldstart._Init, freezes: list[int]) -> None:
    gc.enable()
    thresholds = gc.get_threshold()
    with pytest.raises(RuntimeError, match="settings"), coldstart.init():
        raise RuntimeError("settings: GUI_REGION missing")
    assert gc.isenabled()
    assert gc.get_threshold() == thresholds
    assert freezes == []
    with coldstart.init():  # a later init that succeeds still freezes
        pass
    assert freezes == [1]


def test_idempotent_one_freeze_per_process(init: coldstart._Init, freezes: list[int]) -> None:
    gc.enable()
    for _ in range(3):
        with coldstart.init():
            assert not gc.isenabled()
        assert gc.isenabled()
    assert freezes == [1]


def test_nested_inits_restore_at_the_outermost_exit(init: coldstart._Init, freezes: list[int]) -> None:
    gc.enable()
    with coldstart.init():
        with coldstart.init():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer init is not done
        assert freezes == []
    assert gc.isenabled()
    assert freezes == [1]


def test_a_collector_disabled_before_stays_disabled(init: coldstart._Init, freezes: list[int]) -> None:
    gc.disable()
    with coldstart.init():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_inits_on_threads_leave_the_collector_enabled(
    init: coldstart._Init, freezes: list[int]
) -> None:
    gc.enable()
    first_in, second_out = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with coldstart.init():
                first_in.set()
                assert second_out.wait(5)  # the second init ends while this one runs
                assert not gc.isenabled()
        except BaseException as exc:
            errors.append(exc)

    def second() -> None:
        try:
            assert first_in.wait(5)
            with coldstart.init():
                pass
            second_out.set()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert gc.isenabled()
    assert freezes == [1]


HANDLER = """\
from gui_core import coldstart

with coldstart.init():
    import json

    if FAIL:
        raise RuntimeError("the init failed")
    handler = json.dumps
"""


def test_a_handler_module_imported_again_and_failing(
    init: coldstart._Init, freezes: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pattern of functions/*/handler.py, imported as tests and the local runtime do: again
    after dropping it from sys.modules, and once with an init that raises."""
    monkeypatch.syspath_prepend(str(tmp_path))
    gc.enable()
    for fail in (False, False, True, False):
        (tmp_path / "coldstart_probe.py").write_text(f"FAIL = {fail}\n" + HANDLER)
        sys.modules.pop("coldstart_probe", None)
        importlib.invalidate_caches()
        if fail:
            with pytest.raises(RuntimeError, match="the init failed"):
                importlib.import_module("coldstart_probe")
        else:
            assert importlib.import_module("coldstart_probe").handler is not None
        assert gc.isenabled()
    sys.modules.pop("coldstart_probe", None)
    assert freezes == [1]
