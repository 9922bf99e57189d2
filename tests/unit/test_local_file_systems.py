"""The local runtime plays the region's shared file system (EFS) as Lambda mounts it: every container
of every function that mounts it in a region sees the same folder of that region (its
`SEARCH_SHARED_DIR`), each region has its own, and the functions that do not mount it are not told
of it (rule 1 of DEVELOPERS.md)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from local.aws import function_environment
from local.containers import Container
from local.iam import local_file_system_arn, local_statements
from local.keys import DevKeys
from local.runtime import LocalBackend
from stacks.grants import FILE_SYSTEM_ACTIONS, access_point
from stacks.manifest import MANIFEST, SEARCH_FILE_SYSTEM

REGIONS = ("eu-west-1", "us-east-1")
MOUNTING = {"gui_search", "gui_graphql", "gui_indexer", "gui_index_rebuild"}


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(regions=REGIONS, port=0, seed=False, keys_dir=tmp_path / "keys")
    try:
        yield backend
    finally:
        backend.stop()


def _cold_start_environments(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> dict[tuple[str, str], Mapping[str, str]]:
    """The environment each function's first container gets in each region, from the runtime's own
    cold start path (the handler's import left out)."""
    seen: dict[tuple[str, str], Mapping[str, str]] = {}

    def cold_start(fn: Any, region: str, env: Mapping[str, str], **_: Any) -> object:
        seen[(region, fn.name)] = dict(env)
        return object()

    monkeypatch.setattr(Container, "cold_start", cold_start)
    backend.keys = DevKeys.ephemeral()
    backend.base_urls = {region: f"http://127.0.0.1:{9000 + i}" for i, region in enumerate(REGIONS)}
    backend._make_file_system_dirs()
    for region in REGIONS:
        for fn in MANIFEST.all_functions():
            backend._container(region, fn.name)
    return seen


def test_the_mounting_functions_share_one_folder_per_region_and_the_others_see_none(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {fn.name for fn in MANIFEST.mounting(SEARCH_FILE_SYSTEM.name)} == MOUNTING
    environments = _cold_start_environments(backend, monkeypatch)
    var = SEARCH_FILE_SYSTEM.env_var
    folders: dict[str, set[str]] = {region: set() for region in REGIONS}
    for (region, name), env in environments.items():
        if name in MOUNTING:
            folders[region].add(env[var])
        else:
            assert var not in env, (region, name)
    for region in REGIONS:
        (folder,) = folders[region]  # one folder for the four functions of the region
        assert Path(folder) == backend.file_system_dir(region, SEARCH_FILE_SYSTEM.name)
        assert Path(folder).is_dir()  # made at start, as the file system exists before a mount
    assert folders["eu-west-1"] != folders["us-east-1"]


def test_the_shared_folder_is_not_a_containers_tmp(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container's /tmp is its own and held to the function's ephemeral storage; the shared folder
    is neither (EFS grows as it is written), and outlives every container until the backend stops."""
    environments = _cold_start_environments(backend, monkeypatch)
    folder = Path(environments[("eu-west-1", "gui_search")][SEARCH_FILE_SYSTEM.env_var])
    # A container's /tmp is a folder `<region>-<function>-*` of its own under the runtime's root.
    assert folder.parts[-3:] == ("file-systems", "eu-west-1", "search")
    assert not any(part.startswith(("eu-west-1-", "us-east-1-")) for part in folder.parts)
    backend.stop()
    assert not folder.exists()


def test_a_mounting_function_needs_its_local_folder() -> None:
    fn = MANIFEST.function("gui_search")
    with pytest.raises(ValueError, match="mounts the file system 'search'"):
        function_environment(
            MANIFEST, fn, region="eu-west-1", endpoint_url="http://127.0.0.1:1", keys=DevKeys.ephemeral()
        )
    other = MANIFEST.function("gui_preferences")
    env = function_environment(
        MANIFEST,
        other,
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:1",
        keys=DevKeys.ephemeral(),
        file_system_dirs={"search": "/nowhere"},
    )
    assert SEARCH_FILE_SYSTEM.env_var not in env


def test_the_local_policy_names_the_file_system_and_its_access_point() -> None:
    """The grant on the file system, with the access point as its condition, in local ARNs (nothing
    local calls EFS: Lambda mounts it with the role, so the runtime only names it)."""
    for name in sorted(MOUNTING):
        statements = local_statements(MANIFEST, MANIFEST.function(name), region="eu-west-1", stage="live")
        (mount,) = [s for s in statements if s.actions == FILE_SYSTEM_ACTIONS]
        assert mount.resources == (local_file_system_arn("search", region="eu-west-1"),)
        ap = local_file_system_arn("search", region="eu-west-1", access_point=True)
        assert mount.conditions == {"StringEquals": {"elasticfilesystem:AccessPointArn": (ap,)}}
        assert access_point("search") not in repr(statements)
    statements = local_statements(MANIFEST, MANIFEST.function("gui_jobs"), region="eu-west-1", stage="live")
    assert not [s for s in statements if any(a.startswith(("elasticfilesystem:", "ec2:")) for a in s.actions)]
