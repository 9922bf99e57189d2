"""Build a third-party dependencies layer with pip, without Docker.

pip installs wheels for the Lambda platform (manylinux, x86_64, the manifest's Python version)
into `.build/layers/<name>/python`. The versions come from `[project].dependencies` of
pyproject.toml, so a version is written in one place only. The bytecode is then compiled by the
runtime's own Python version when this machine has it (`stacks.bytecode`). A stamp file holds the
hash of everything that decides the result, so later synths reuse the folder instead of
reinstalling, and on its last line the hash of the install alone (the bytecode left out), so that
an interpreter appearing or going only redoes the bytecode.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from stacks.bytecode import LAYER_ROOT, RuntimePython, bytecode_stamp, runtime_python
from stacks.config import ROOT
from stacks.manifest import LAMBDA_PYTHON_VERSION
from stacks.manifest_model import Layer

BUILD_DIR = ROOT / ".build" / "layers"
PYPROJECT = ROOT / "pyproject.toml"

# Both tags: with manylinux2014 alone pip silently picks old releases of packages that stopped
# publishing manylinux2014 wheels (duckdb, for one).
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class LayerBuildError(RuntimeError):
    pass


def normalize(name: str) -> str:
    """PEP 503 normalized distribution name: `PyJWT` and `pyjwt` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """Requirement strings of `[project].dependencies` by normalized distribution name."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    found: dict[str, str] = {}
    for requirement in dependencies:
        match = _NAME.match(requirement)
        if match is None:
            raise LayerBuildError(f"cannot read a distribution name in {requirement!r}")
        found[normalize(match.group(1))] = requirement.strip()
    return found


def pinned_requirements(layer: Layer, pyproject: Path = PYPROJECT) -> list[str]:
    """The layer's requirement strings, extras and pins included, as pyproject states them."""
    available = project_requirements(pyproject)
    missing = [name for name in layer.requirements if normalize(name) not in available]
    if missing:
        raise LayerBuildError(f"layer {layer.name!r} needs {missing} but pyproject.toml does not list them")
    pinned = [available[normalize(name)] for name in layer.requirements]
    loose = [r for r in pinned if "==" not in r]
    if loose:
        raise LayerBuildError(f"layer {layer.name!r}: pin an exact version in pyproject.toml for {loose}")
    return pinned


def pip_command(target: Path, requirements: Sequence[str], python_version: str) -> list[str]:
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-input", "--no-compile",
        "--target", str(target),
        *platforms,
        "--implementation", "cp",
        "--python-version", python_version,
        "--only-binary=:all:",
        *requirements,
    ]  # fmt: skip


# Raised when the steps after pip change (what is stripped), so cached layers are rebuilt.
BUILD_STEPS_REVISION = 2

_UNSET: Any = object()


def build_hash(
    requirements: Sequence[str],
    *,
    python_version: str,
    runtime_provided: Iterable[str],
    bytecode: str | None = None,
) -> str:
    """`bytecode`: `RuntimePython.stamp` of the interpreter that compiled the layer, None for none.

    Without bytecode the hash is the one of the builds that never compiled any, so their folders
    stay current.
    """
    decided_by: dict[str, Any] = {
        "requirements": sorted(requirements),
        "platforms": PLATFORMS,
        "python_version": python_version,
        "runtime_provided": sorted(normalize(n) for n in runtime_provided),
        "build_steps": BUILD_STEPS_REVISION,
    }
    if bytecode is not None:
        decided_by["bytecode"] = bytecode
    return hashlib.sha256(json.dumps(decided_by, sort_keys=True).encode()).hexdigest()


def build_layer(
    layer: Layer,
    *,
    build_dir: Path = BUILD_DIR,
    pyproject: Path = PYPROJECT,
    python_version: str = LAMBDA_PYTHON_VERSION,
    python: RuntimePython | None = _UNSET,
) -> Path:
    """Install the layer into `build_dir/<name>/python` unless the stamp says it is current.

    `python` compiles the bytecode; by default the interpreter of `python_version` on PATH
    (`stacks.bytecode.runtime_python`), None for a layer without bytecode. When only the bytecode
    is out of date (the interpreter appeared or went), it is redone without pip.

    Returns the folder to hand to `Code.from_asset` (the one holding `python/`).
    """
    if layer.source != "requirements":
        raise LayerBuildError(f"layer {layer.name!r} is not built from requirements")
    if python is _UNSET:
        python = runtime_python(f"python{python_version}", version=python_version)
    requirements = pinned_requirements(layer, pyproject)
    layer_hash = functools.partial(
        build_hash, requirements, python_version=python_version, runtime_provided=layer.runtime_provided
    )
    digest = layer_hash(bytecode=bytecode_stamp(python))
    installed = layer_hash(bytecode=None)  # what pip installed, the stamp's last line
    out = build_dir / layer.name
    stamp = build_dir / f"{layer.name}.stamp"
    build_dir.mkdir(parents=True, exist_ok=True)
    # A synth from the CLI and one from pytest may run at once; the second waits and reuses.
    with (build_dir / f"{layer.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamped = stamp.read_text().split() if stamp.exists() else []
        if stamped and (out / "python").is_dir():
            if stamped[0] == digest:
                return out
            if stamped[-1] == installed:
                # Installed from the same requirements, only the bytecode differs: redo it alone.
                stamp.unlink()
                strip_bytecode(out / "python")
                if python is not None:
                    python.compile(out / "python", mounted_at=f"{LAYER_ROOT}/python")
                stamp.write_text(f"{digest}\n{installed}\n")
                return out
        staging = build_dir / f"{layer.name}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(  # noqa: S603 - this interpreter's pip, arguments built above
            pip_command(staging / "python", requirements, python_version),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LayerBuildError(f"pip could not build layer {layer.name!r}:\n{result.stderr[-4000:]}")
        remove_distributions(staging / "python", layer.runtime_provided)
        strip_bytecode(staging / "python")
        # Console scripts name the interpreter of the machine that built the layer; Lambda never
        # runs them, and they would make the asset hash depend on the build machine's paths.
        shutil.rmtree(staging / "python" / "bin", ignore_errors=True)
        if python is not None:
            python.compile(staging / "python", mounted_at=f"{LAYER_ROOT}/python")
        # Swap in whole, stamp last: an interrupted build leaves no folder that looks current.
        stamp.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
        stamp.write_text(f"{digest}\n{installed}\n")
    return out


def remove_distributions(site: Path, names: Iterable[str]) -> None:
    """Uninstall distributions from a `--target` folder by their RECORD (pip cannot exclude one)."""
    wanted = {normalize(n) for n in names}
    for dist_info in site.glob("*.dist-info"):
        name = normalize(dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        if name not in wanted:
            continue
        record = dist_info / "RECORD"
        for line in record.read_text().splitlines() if record.exists() else []:
            relative = line.split(",", 1)[0]
            path = (site / relative).resolve()
            if path.is_relative_to(site.resolve()) and path.is_file():
                path.unlink()
        shutil.rmtree(dist_info, ignore_errors=True)
    _remove_empty_dirs(site)


def strip_bytecode(site: Path) -> None:
    """Remove all bytecode: what pip or an earlier build wrote (the build machine's version, or
    timestamp-based files that make the asset hash unstable). The runtime cannot write its own (its
    /opt is read-only): `build_layer` compiles the layer again with the runtime's version."""
    for cache in sorted(site.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)
    for compiled in site.rglob("*.py[co]"):
        compiled.unlink()


def _remove_empty_dirs(site: Path) -> None:
    folders = [path for path in site.rglob("*") if path.is_dir()]
    for folder in sorted(folders, key=lambda path: len(path.parts), reverse=True):  # deepest first
        if not any(folder.iterdir()):
            folder.rmdir()
