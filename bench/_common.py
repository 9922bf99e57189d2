"""What every benchmark script shares (not a benchmark itself: `make bench` skips `_*.py`)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gui_core.tokens import Principal


def percentile(values: Iterable[float], q: float) -> float:
    """The value of rank round(q * (n - 1)) among the n values sorted (nearest rank, no
    interpolation): every bench's p50, p95 and p99. ValueError when there is none."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values to take a percentile of")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load() -> str:
    """The load averages (1, 5, 15 min): printed before and after each bench."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


@contextlib.contextmanager
def stdout_to(path: Path) -> Iterator[None]:
    """File descriptor 1 to `path` meanwhile: the local functions' JSON logs and EMF documents
    (Powertools prints them to stdout, from the local runtime's containers too) stay out of the
    table; progress lines go to stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with path.open("w") as log:
            os.dup2(log.fileno(), 1)
            yield
            sys.stdout.flush()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def children_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of this process's children, by pid; empty where /proc is not."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found: dict[int, float] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
            if int(fields[1]) == os.getpid():
                found[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def authorized_get(path: str, principal: Principal, region: str, *, query: str = "") -> dict[str, Any]:
    """The proxy event API Gateway delivers for `GET path?query` once the authorizer has let
    `principal` in: what a bench hands a REST function's handler without a gateway."""
    from gui_core.context import authorizer_context
    from local.apigw import HttpRequest, authorizer_answer_context, proxy_event

    answer = {"principalId": principal.subject, "context": authorizer_context(principal, region)}
    request = HttpRequest(
        "GET", path, headers=(("Accept", "application/json"), ("Host", "127.0.0.1")), query=query
    )
    return proxy_event(
        request,
        resource=path,
        path_parameters={},
        authorizer=authorizer_answer_context(answer),
        stage="bench",
        host="127.0.0.1",
    )
