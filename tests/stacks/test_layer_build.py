"""The dependencies layer build: pins from pyproject, a cache that skips pip, runtime packages out."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from stacks import layer_build
from stacks.layer_build import (
    LayerBuildError,
    build_hash,
    build_layer,
    pinned_requirements,
    project_requirements,
)
from stacks.manifest import LAMBDA_PYTHON_VERSION, Layer, Manifest


def _pyproject(tmp_path: Path, *dependencies: str) -> Path:
    path = tmp_path / "pyproject.toml"
    listed = ", ".join(f'"{d}"' for d in dependencies)
    path.write_text(f'[project]\nname = "x"\nversion = "0"\ndependencies = [{listed}]\n')
    return path


def test_requirements_keep_extras_and_pins_and_match_names_loosely(tmp_path: Path) -> None:
    pyproject = _pyproject(tmp_path, "PyJWT[crypto]==2.15.1", "aws_lambda_powertools[tracer]==3.37.0")
    layer = Layer("deps", "test", source="requirements", requirements=("pyjwt", "aws-lambda-powertools"))
    assert pinned_requirements(layer, pyproject) == [
        "PyJWT[crypto]==2.15.1",
        "aws_lambda_powertools[tracer]==3.37.0",
    ]


def test_unpinned_or_missing_requirements_are_refused(tmp_path: Path) -> None:
    pyproject = _pyproject(tmp_path, "fastapi>=0.100")
    with pytest.raises(LayerBuildError, match="pin an exact version"):
        pinned_requirements(Layer("d", "t", source="requirements", requirements=("fastapi",)), pyproject)
    with pytest.raises(LayerBuildError, match="does not list"):
        pinned_requirements(Layer("d", "t", source="requirements", requirements=("mangum",)), pyproject)


def test_manifest_layers_are_all_pinned_in_the_project(manifest: Manifest) -> None:
    available = project_requirements()
    for layer in manifest.layers:
        if layer.source == "requirements":
            assert len(pinned_requirements(layer)) == len(layer.requirements)
            assert all("==" in available[layer_build.normalize(n)] for n in layer.requirements)


def test_a_current_stamp_skips_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pyproject = _pyproject(tmp_path, "mangum==0.22.0")
    layer = Layer("deps", "t", source="requirements", requirements=("mangum",))
    build_dir = tmp_path / "build"
    (build_dir / "deps" / "python").mkdir(parents=True)
    digest = build_hash(["mangum==0.22.0"], python_version=LAMBDA_PYTHON_VERSION, runtime_provided=())
    (build_dir / "deps.stamp").write_text(digest + "\n")

    def no_pip(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pip ran although the stamp was current")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert build_layer(layer, build_dir=build_dir, pyproject=pyproject) == build_dir / "deps"


def test_a_changed_requirement_rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pyproject = _pyproject(tmp_path, "mangum==0.22.0")
    layer = Layer(
        "deps", "t", source="requirements", requirements=("mangum",), runtime_provided=("botocore",)
    )
    build_dir = tmp_path / "build"
    (build_dir / "deps" / "python" / "stale").mkdir(parents=True)
    (build_dir / "deps.stamp").write_text("an older hash\n")
    calls: list[list[str]] = []

    def fake_pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        _install(target, "mangum", "0.22.0", ["mangum/__init__.py", "mangum/__pycache__/x.cpython-313.pyc"])
        _install(target, "botocore", "1.0", ["botocore/__init__.py", "botocore/data/x.json"])
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    out = build_layer(layer, build_dir=build_dir, pyproject=pyproject)

    (command,) = calls
    assert command[-1] == "mangum==0.22.0"
    assert command[command.index("--python-version") :][:2] == ["--python-version", LAMBDA_PYTHON_VERSION]
    assert "--only-binary=:all:" in command
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"] == list(
        layer_build.PLATFORMS
    )
    site = out / "python"
    assert sorted(p.name for p in site.iterdir()) == ["mangum", "mangum-0.22.0.dist-info"]
    assert not list(site.rglob("__pycache__"))
    assert (build_dir / "deps.stamp").read_text().strip() != "an older hash"


def _install(site: Path, name: str, version: str, files: list[str]) -> None:
    dist_info = site / f"{name}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    for relative in files:
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text("")
    record = [f"{f},," for f in files] + [f"{dist_info.name}/RECORD,,"]
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")
