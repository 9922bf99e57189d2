"""The dependencies layer build: pins from pyproject, a cache that skips pip, runtime packages out,
bytecode of the runtime's Python version only (and none without that interpreter)."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stacks import layer_build
from stacks.bytecode import RuntimePython, runtime_python, stage_sources
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
    assert build_layer(layer, build_dir=build_dir, pyproject=pyproject, python=None) == build_dir / "deps"


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
    out = build_layer(layer, build_dir=build_dir, pyproject=pyproject, python=None)

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


def _install(
    site: Path, name: str, version: str, files: list[str], content: str = "", *, parents: bool = True
) -> None:
    dist_info = site / f"{name}-{version}.dist-info"
    dist_info.mkdir(parents=parents)
    for relative in files:
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(content)
    record = [f"{f},," for f in files] + [f"{dist_info.name}/RECORD,,"]
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")


# Bytecode. PEP 552: the flags word after the magic number is 0b01 for unchecked-hash `.pyc` files
# (hash-based, source not checked), 0b11 for checked-hash ones, 0 for timestamp-based ones.
UNCHECKED_HASH = 0b01
MODULE = "KINDS = {'a', 'b', 'c'}\n\n\ndef f(x):\n    return x in KINDS\n"


@pytest.fixture(scope="module")
def runtime() -> RuntimePython:
    python = runtime_python()
    if python is None:
        pytest.skip(f"no python{LAMBDA_PYTHON_VERSION} on PATH")
    return python


def assert_runtime_bytecode(root: Path, runtime: RuntimePython) -> None:
    """Every module under `root` has its `.pyc` of the runtime's version, unchecked-hash; no other."""
    modules = {p.relative_to(root) for p in root.rglob("*.py")}
    compiled = {p.relative_to(root) for p in root.rglob("*.pyc")}
    assert modules
    assert compiled == {m.parent / "__pycache__" / f"{m.stem}.{runtime.cache_tag}.pyc" for m in modules}
    for path in compiled:
        header = (root / path).read_bytes()[:8]
        assert header[:4].hex() == runtime.magic, path
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH, path


def _files_by_path(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fake_pip(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """pip replaced by a tiny install (a module and the build machine's bytecode); other commands
    (compileall) run."""
    calls: list[list[str]] = []
    real_run = subprocess.run

    def run(command: list[str], **kwargs: Any) -> Any:
        if command[1:3] != ["-m", "pip"]:
            return real_run(command, **kwargs)
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        files = ["mangum/__init__.py", "mangum/adapter.py", "mangum/__pycache__/adapter.cpython-311.pyc"]
        _install(target, "mangum", "0.22.0", files, MODULE)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def test_a_layer_ships_bytecode_of_the_runtime_version_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: RuntimePython
) -> None:
    pyproject = _pyproject(tmp_path, "mangum==0.22.0")
    layer = Layer("deps", "t", source="requirements", requirements=("mangum",))
    _fake_pip(monkeypatch)
    first = build_layer(layer, build_dir=tmp_path / "one", pyproject=pyproject, python=runtime)
    second = build_layer(layer, build_dir=tmp_path / "two", pyproject=pyproject, python=runtime)

    assert_runtime_bytecode(first / "python", runtime)
    assert not list(first.rglob("*cpython-311*"))
    assert _files_by_path(first) == _files_by_path(second), "two builds must give the same asset"
    stamp = (tmp_path / "one" / "deps.stamp").read_text().split()
    requirements = ["mangum==0.22.0"]
    assert stamp == [
        build_hash(
            requirements, python_version=LAMBDA_PYTHON_VERSION, runtime_provided=(), bytecode=runtime.stamp
        ),
        build_hash(requirements, python_version=LAMBDA_PYTHON_VERSION, runtime_provided=()),
    ], "the hash decided by the bytecode too, then the one of the install alone"
    assert stamp[0] != stamp[1]


def test_without_the_interpreter_a_layer_builds_without_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = runtime_python("python-not-on-this-path")
    assert missing is None
    assert "without bytecode" in capsys.readouterr().err
    assert runtime_python("python-not-on-this-path") is None
    assert capsys.readouterr().err == "", "the warning is given once"

    pyproject = _pyproject(tmp_path, "mangum==0.22.0")
    layer = Layer("deps", "t", source="requirements", requirements=("mangum",))
    _fake_pip(monkeypatch)
    out = build_layer(layer, build_dir=tmp_path / "build", pyproject=pyproject, python=missing)
    assert (out / "python" / "mangum" / "adapter.py").is_file()
    assert not list(out.rglob("*.pyc"))
    assert not list(out.rglob("__pycache__"))


def test_the_interpreter_coming_or_going_redoes_the_bytecode_without_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: RuntimePython
) -> None:
    pyproject = _pyproject(tmp_path, "mangum==0.22.0")
    layer = Layer("deps", "t", source="requirements", requirements=("mangum",))
    build_dir = tmp_path / "build"
    pip_calls = _fake_pip(monkeypatch)

    out = build_layer(layer, build_dir=build_dir, pyproject=pyproject, python=None)
    assert not list(out.rglob("*.pyc"))
    build_layer(layer, build_dir=build_dir, pyproject=pyproject, python=runtime)
    assert_runtime_bytecode(out / "python", runtime)
    build_layer(layer, build_dir=build_dir, pyproject=pyproject, python=None)
    assert not list(out.rglob("*.pyc"))
    assert len(pip_calls) == 1


def _sources(root: Path) -> Path:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "handler.py").write_text(MODULE)
    (root / "pkg" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"the build machine's")
    (root / "pkg" / "data.json").write_text("{}")
    (root / ".mypy_cache").mkdir()
    (root / ".mypy_cache" / "x.json").write_text("{}")
    return root


def test_staged_sources_hold_the_runtime_bytecode_and_build_the_same_twice(
    tmp_path: Path, runtime: RuntimePython
) -> None:
    root = _sources(tmp_path / "src")
    first = stage_sources("code", root, mounted_at="/var/task", build_dir=tmp_path / "one", python=runtime)
    second = stage_sources("code", root, mounted_at="/var/task", build_dir=tmp_path / "two", python=runtime)

    assert_runtime_bytecode(first, runtime)
    assert {str(p.relative_to(first)) for p in first.rglob("*") if p.is_file() and p.suffix != ".pyc"} == {
        "pkg/__init__.py",
        "pkg/handler.py",
        "pkg/data.json",
    }
    assert _files_by_path(first) == _files_by_path(second)


def test_staged_sources_are_reused_until_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: RuntimePython
) -> None:
    root = _sources(tmp_path / "src")
    build_dir = tmp_path / "build"
    out = stage_sources("code", root, mounted_at="/var/task", build_dir=build_dir, python=runtime)
    marker = out / "pkg" / "__pycache__" / f"handler.{runtime.cache_tag}.pyc"
    built = marker.stat().st_mtime_ns

    def no_compile(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("compiled although nothing changed")

    with monkeypatch.context() as patched:
        patched.setattr(subprocess, "run", no_compile)
        assert stage_sources("code", root, mounted_at="/var/task", build_dir=build_dir, python=runtime) == out
    assert marker.stat().st_mtime_ns == built

    (root / "pkg" / "handler.py").write_text(MODULE + "\nY = 1\n")
    stage_sources("code", root, mounted_at="/var/task", build_dir=build_dir, python=runtime)
    assert (out / "pkg" / "handler.py").read_text().endswith("Y = 1\n")
    assert_runtime_bytecode(out, runtime)

    stage_sources("code", root, mounted_at="/var/task", build_dir=build_dir, python=None)
    assert not list(out.rglob("*.pyc")), "built again without bytecode when the interpreter is gone"


def _dist_versions(site: Path) -> dict[str, str]:
    """Normalized distribution name -> version, from a `--target` folder's dist-info folders."""
    found = {}
    for dist_info in site.glob("*.dist-info"):
        name, _, version = dist_info.name.removesuffix(".dist-info").rpartition("-")
        found[layer_build.normalize(name)] = version
    return found


@pytest.mark.slow
def test_the_deps_layer_ships_the_pinned_aws_sdk_with_the_s3_conditional_writes(manifest: Manifest) -> None:
    """The code writes S3 objects with IfMatch/IfNoneMatch (gui_core.objects): an SDK older than those
    parameters refuses them before any request. The layer ships pyproject's pins of boto3, botocore
    and s3transfer (the copy in /opt/python comes before the runtime's own on sys.path), the versions
    the suites run with; the runtime's bundled copy is whatever Lambda ships that month."""
    layer = manifest.layer("deps")
    site = build_layer(layer) / "python"  # the folder the stack deploys (reused when current)
    shipped = _dist_versions(site)
    pins = project_requirements()
    for name in ("boto3", "botocore", "s3transfer"):
        assert f"{name}=={shipped.get(name)}" == pins[name], f"{name}: shipped {shipped.get(name)}"
    s3 = site / "botocore" / "data" / "s3" / "2006-03-01" / "service-2.json.gz"
    model = json.loads(gzip.decompress(s3.read_bytes()))
    put_object = model["shapes"][model["operations"]["PutObject"]["input"]["shape"]]["members"]
    assert {"IfMatch", "IfNoneMatch"} <= set(put_object)
