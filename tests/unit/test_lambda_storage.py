"""Lambda's ephemeral storage in the local runtime: each container has a /tmp of its own, of the
function's configured size (local/containers.py)."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import pytest

from gui_core.settings import lambda_tmp
from local.containers import MB, Container, EphemeralStorageExceeded
from stacks.manifest import MANIFEST

FN = dataclasses.replace(MANIFEST.function("gui_search"), ephemeral_storage_mb=512)


def _writer(sizes_mb: list[int]) -> Any:
    """A handler writing a file of the next size into its /tmp at each invocation."""

    def handler(event: dict[str, Any], context: Any) -> str:
        size = sizes_mb.pop(0)
        folder = lambda_tmp("blobs")
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{len(sizes_mb)}.bin", "wb") as blob:
            blob.truncate(size * MB)  # sparse: the size counts, not the disk
        return "written"

    return handler


def test_an_invocation_filling_tmp_past_the_functions_storage_fails(tmp_path: Path) -> None:
    container = Container(FN, "eu-west-1", _writer([300, 300]), tmp_dir=tmp_path)
    os.environ["TMPDIR"] = str(tmp_path)
    try:
        assert container.invoke({}) == "written"  # 300 MB of 512
        with pytest.raises(
            EphemeralStorageExceeded,
            match=re.escape("600.0 MB in /tmp, more than its ephemeral storage of 512 MB"),
        ):
            container.invoke({})
    finally:
        del os.environ["TMPDIR"]
        container.close()


def test_a_larger_storage_holds_more(tmp_path: Path) -> None:
    larger = dataclasses.replace(FN, ephemeral_storage_mb=2048)
    container = Container(larger, "eu-west-1", _writer([300, 300]), tmp_dir=tmp_path)
    os.environ["TMPDIR"] = str(tmp_path)
    try:
        assert [container.invoke({}), container.invoke({})] == ["written", "written"]
    finally:
        del os.environ["TMPDIR"]
        container.close()


def test_each_cold_start_gets_a_tmp_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function's import sees its container's /tmp as TMPDIR (its settings read it there)."""
    package = tmp_path / "code" / "probe_tmp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "handler.py").write_text(
        "from gui_core.settings import lambda_tmp\n"
        "SEEN = str(lambda_tmp('gui-search'))\n"
        "def handler(event, context):\n"
        "    return SEEN\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    fn = dataclasses.replace(FN, name="probe_tmp", handler="probe_tmp.handler.handler")
    first = Container.cold_start(fn, "eu-west-1", {}, tmp_root=tmp_path / "tmp")
    second = Container.cold_start(fn, "eu-west-1", {}, tmp_root=tmp_path / "tmp")
    try:
        assert first.tmp_dir is not None
        assert second.tmp_dir is not None
        assert first.tmp_dir != second.tmp_dir
        assert first.invoke({}) == str(first.tmp_dir / "gui-search")
        assert second.invoke({}) == str(second.tmp_dir / "gui-search")
    finally:
        first.close()
        second.close()
