"""Bytecode for the assets, compiled by the Lambda runtime's own Python version.

Lambda's /opt (layers) and /var/task (function code) are read-only: the runtime cannot write
`__pycache__`, so without shipped `.pyc` files it compiles every module it imports from source at
every cold start. The assets therefore carry bytecode, compiled by an interpreter of exactly the
manifest's `LAMBDA_PYTHON_VERSION` (a `.pyc` of another version is ignored: its magic number
differs), in `unchecked-hash` mode: the header holds a hash of the source instead of its mtime
(which an asset zip does not keep) and the runtime never checks it, so two builds of the same
sources give the same bytes and the same asset hash.

The interpreter is looked up by name (`python3.13`) on PATH at build time. Without it the assets are
built without bytecode, as before, and one warning says so.

Our own sources (the `core` layer and the functions' code) are staged under `.build/code/<name>`
and compiled there, with a stamp of their content so that an unchanged tree is not copied again.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stacks.config import ROOT
from stacks.manifest import LAMBDA_PYTHON_VERSION

CODE_BUILD_DIR = ROOT / ".build" / "code"
CORE_LAYER_DIR = ROOT / "layers" / "core"  # holds python/gui_core, the layout Lambda puts on sys.path
FUNCTIONS_DIR = ROOT / "functions"
# Where Lambda mounts an asset's root: recorded as the modules' file names in the bytecode (what a
# traceback shows), so the `.pyc` files name no folder of the build machine.
LAYER_ROOT = "/opt"
CODE_ROOT = "/var/task"
# Never copied from the sources: the build machine's bytecode (another Python version) and caches.
IGNORED_NAMES = ("__pycache__", ".mypy_cache", ".pytest_cache")
IGNORED_SUFFIXES = (".pyc", ".pyo")
# Raised when what `stage_sources` does changes, so stamped trees are built again.
STAGING_REVISION = 1

_PROBE = (
    "import importlib.util, sys; "
    "print(sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER.hex(), sys.executable, sep='\\n')"
)


class BytecodeError(RuntimeError):
    pass


@dataclass(frozen=True)
class RuntimePython:
    """An interpreter of the runtime's version, found on this machine."""

    executable: str
    cache_tag: str  # `cpython-313`: the `.pyc` files are `__pycache__/<module>.cpython-313.pyc`
    magic: str  # importlib.util.MAGIC_NUMBER, hex

    @property
    def stamp(self) -> str:
        """What the bytecode depends on, for the build stamps."""
        return f"{self.cache_tag}:{self.magic}"

    def compile(self, folder: Path, *, mounted_at: str) -> None:
        """Write `__pycache__/*.pyc` next to every module under `folder`, unchecked-hash."""
        # Without the variables that would move or change the output: PYTHONPYCACHEPREFIX writes the
        # files elsewhere, a fixed hash seed keeps set constants in one order.
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONPYCACHEPREFIX"}}
        env["PYTHONHASHSEED"] = "0"
        command = [
            self.executable, "-m", "compileall",
            "-q", "-j", "0",
            "--invalidation-mode", "unchecked-hash",
            "-d", mounted_at,
            str(folder),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-4000:]
            raise BytecodeError(f"compileall failed on {folder}:\n{output}")


def runtime_python(
    name: str = f"python{LAMBDA_PYTHON_VERSION}", *, version: str = LAMBDA_PYTHON_VERSION
) -> RuntimePython | None:
    """The interpreter `name` on PATH when it is CPython `version`; None (and one warning) if not.

    A pyenv shim of a version that is installed but not selected answers with an error; it is then
    asked again with that version selected (`pyenv latest <version>`).
    """
    return _lookup(name, version)


@functools.cache
def _lookup(name: str, version: str) -> RuntimePython | None:
    expected_tag = "cpython-" + version.replace(".", "")
    found = shutil.which(name)
    python = _probe(found, expected_tag) if found else None
    if found and python is None and shutil.which("pyenv"):
        selected = _run(["pyenv", "latest", version])
        if selected:
            python = _probe(found, expected_tag, {"PYENV_VERSION": selected.strip()})
    if python is None:
        sys.stderr.write(
            f"warning: no {name} (CPython {version}, the Lambda runtime's version) on PATH: the "
            "layers and function code are built without bytecode, so Lambda compiles every "
            "module at each cold start.\n"
        )
    return python


def _probe(
    executable: str, expected_tag: str, extra_env: dict[str, str] | None = None
) -> RuntimePython | None:
    answer = _run([executable, "-c", _PROBE], extra_env)
    lines = answer.splitlines() if answer else []
    if len(lines) != 3 or lines[0] != expected_tag:
        return None
    return RuntimePython(executable=lines[2], cache_tag=lines[0], magic=lines[1])


def _run(command: list[str], extra_env: dict[str, str] | None = None) -> str | None:
    env = {**os.environ, **(extra_env or {})}
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=60)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def bytecode_stamp(python: RuntimePython | None) -> str | None:
    return python.stamp if python is not None else None


def source_files(root: Path) -> Iterator[Path]:
    """The files under `root` an asset ships, sorted: no bytecode, no tool caches."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_NAMES)
        for file_name in sorted(files):
            if not file_name.endswith(IGNORED_SUFFIXES):
                yield Path(folder, file_name)


def sources_hash(root: Path, python: RuntimePython | None) -> str:
    digest = hashlib.sha256()
    header = {"revision": STAGING_REVISION, "bytecode": bytecode_stamp(python)}
    digest.update(json.dumps(header, sort_keys=True).encode() + b"\0")
    for path in source_files(root):
        relative = path.relative_to(root).as_posix()
        mode = "x" if os.access(path, os.X_OK) else "-"
        digest.update(f"{relative}\0{mode}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def stage_sources(
    name: str,
    root: Path,
    *,
    mounted_at: str,
    build_dir: Path = CODE_BUILD_DIR,
    python: RuntimePython | None = None,
) -> Path:
    """A copy of `root` in `build_dir/<name>`, compiled by `python` when given; reused while its
    stamp matches the sources.

    Returns the folder to hand to `Code.from_asset`: it holds no bytecode but `python`'s.
    """
    digest = sources_hash(root, python)
    out = build_dir / name
    stamp = build_dir / f"{name}.stamp"
    build_dir.mkdir(parents=True, exist_ok=True)
    # A synth from the CLI and one from pytest may run at once; the second waits and reuses.
    with (build_dir / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text().strip() == digest and out.is_dir():
            return out
        staging = build_dir / f"{name}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for path in source_files(root):
            target = staging / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)  # content and mode; the asset hash ignores times
        if python is not None:
            python.compile(staging, mounted_at=mounted_at)
        # Swap in whole, stamp last: an interrupted build leaves no folder that looks current.
        stamp.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
        stamp.write_text(digest + "\n")
    return out


def staged_core_layer() -> Path:
    """The `core` layer's asset: layers/core compiled for the runtime (none when this machine lacks
    its Python), as the stacks deploy it."""
    return stage_sources("core", CORE_LAYER_DIR, mounted_at=LAYER_ROOT, python=runtime_python())


def staged_functions() -> Path:
    """`functions/` as the functions' assets take it (each keeps its own packages of it)."""
    return stage_sources("functions", FUNCTIONS_DIR, mounted_at=CODE_ROOT, python=runtime_python())
