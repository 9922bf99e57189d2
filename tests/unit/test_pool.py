"""A function's pool of containers: Lambda's reserved concurrency, throttled at once past it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from local.containers import Container
from local.pool import FunctionPool, Throttled
from stacks.manifest import MANIFEST

REGION = "eu-west-1"


class Held:
    """A handler that holds every invocation until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = threading.Semaphore(0)

    def __call__(self, event: dict[str, Any], context: Any) -> str:
        self.running.release()
        assert self.release.wait(10)
        return "done"


@pytest.fixture
def held() -> Iterator[Held]:
    handler = Held()
    yield handler
    handler.release.set()


def pool_of(handler: Held, reserved: int | None, cap: int = 10) -> FunctionPool:
    fn = replace(MANIFEST.function("gui_stream"), reserved_concurrency=reserved)
    return FunctionPool(Container(fn, REGION, handler), lambda: Container(fn, REGION, handler), cap=cap)


def test_past_the_reserved_concurrency_an_invocation_fails_at_once_with_throttled(held: Held) -> None:
    pool = pool_of(held, reserved=2)
    running = [pool.submit({}), pool.submit({})]
    assert held.running.acquire(timeout=10)
    assert held.running.acquire(timeout=10)

    refused = pool.submit({})

    assert refused.done()
    with pytest.raises(Throttled, match="reserved concurrency of 2"):
        refused.result()
    assert pool.throttles == 1
    held.release.set()
    assert [f.result(timeout=10) for f in running] == ["done", "done"]
    assert pool.submit({}).result(timeout=10) == "done"  # free again
    assert pool.size <= 2
    pool.close()


def test_invocations_waiting_for_a_container_count_toward_the_reserved_concurrency(held: Held) -> None:
    pool = pool_of(held, reserved=3, cap=1)  # one container: the second and third wait for it
    waiting = [pool.submit({}) for _ in range(3)]

    refused = pool.submit({})

    with pytest.raises(Throttled):
        refused.result(timeout=0)
    held.release.set()
    assert [f.result(timeout=10) for f in waiting] == ["done"] * 3
    pool.close()


def test_without_a_reserved_concurrency_invocations_wait_for_a_container(held: Held) -> None:
    pool = pool_of(held, reserved=None, cap=1)
    first, second = pool.submit({}), pool.submit({})
    assert held.running.acquire(timeout=10)

    assert not second.done()
    held.release.set()
    assert (first.result(timeout=10), second.result(timeout=10)) == ("done", "done")
    assert pool.throttles == 0
    pool.close()
