"""Fixtures every suite may use."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
RECURSION_LIMIT = sys.getrecursionlimit()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(autouse=True)
def _recursion_limit_kept() -> Iterator[None]:
    """A test leaves the interpreter's recursion limit as Lambda has it. A raised limit (mypy's main
    raises it for good) lets later tests parse JSON nested where Python's parser otherwise gives up,
    so their answers would depend on the order tests ran in; the limit is put back and the test that
    moved it fails."""
    yield
    limit = sys.getrecursionlimit()
    if limit != RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
        pytest.fail(f"the test changed the recursion limit from {RECURSION_LIMIT} to {limit}")
