"""gui_core.metric_names, the one home of the application metrics' names: counting refuses a name
that is no declared member (at run time, and in mypy), the table finds the function of a member,
and a real emitter (a REST request through the jobs app behind its entry point) prints only names
its function declares. The fan-out's own check is in test_fanout; the stacks' (every metric drawn
or alarmed on is declared by its function) in tests/stacks/test_observability."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from aws_lambda_powertools import Logger, Metrics

from gui_core.metric_names import (
    EMITTED_BY,
    ApiMetric,
    FanoutMetric,
    GuardMetric,
    QuarantineMetric,
    add,
    declared,
    emitter,
)
from tests.conftest import REPO_ROOT
from tests.unit.fanout_support import metrics_of
from tests.unit.test_tracing import JOBS_CONTEXT, jobs_handler, start_job_event

NAMESPACE = "DomainDetermine/GUI"


def test_counting_a_declared_member_adds_to_the_metric_of_its_name() -> None:
    metrics = Metrics(namespace=NAMESPACE, service="gui_jobs")
    add(metrics, ApiMetric.REQUESTS)
    add(metrics, ApiMetric.LATENCY, 12.5, unit="Milliseconds")
    document = metrics.serialize_metric_set()
    metrics.clear_metrics()
    assert document["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "Requests", "Unit": "Count"},
        {"Name": "Latency", "Unit": "Milliseconds"},
    ]
    assert (document["Requests"], document["Latency"]) == ([1.0], [12.5])


@pytest.mark.parametrize("name", ["Requests", "NoSuchMetric"])
def test_counting_refuses_a_name_that_is_no_declared_member(name: str) -> None:
    """A bare string, even one a member spells: mypy refuses it too (`add` takes `MetricName`)."""
    metrics = Metrics(namespace=NAMESPACE, service="gui_jobs")
    with pytest.raises(TypeError, match="no declared metric name"):
        add(metrics, name)  # type: ignore[arg-type]
    assert metrics.metric_set == {}


def test_the_type_checker_refuses_a_bare_string_where_a_metric_name_is_taken(tmp_path: Path) -> None:
    """With the project's mypy settings: a member passes, the string a member spells does not (so an
    emitter's typo or a name no enum declares fails `make typecheck` before any run)."""
    source = tmp_path / "counting.py"
    source.write_text(
        textwrap.dedent(
            """\
            from gui_core.metric_names import ApiMetric, add

            class Sink:
                def add_metric(self, name: str, unit: str, value: float) -> None: ...

            add(Sink(), ApiMetric.REQUESTS)
            add(Sink(), "Requests")
            """
        )
    )
    # In a process of its own: mypy's main raises the interpreter's recursion limit for good, which
    # would let later tests' deeply nested JSON parse where Python's parser gives up (conftest checks).
    config = str(REPO_ROOT / "pyproject.toml")
    options = ["--config-file", config, "--no-incremental", "--cache-dir", os.devnull]
    run = subprocess.run(
        [sys.executable, "-m", "mypy", *options, str(source)],
        cwd=REPO_ROOT,  # the config's mypy_path is relative to it
        capture_output=True,
        text=True,
        check=False,
    )
    report, status = run.stdout, run.returncode
    errors = [line for line in report.splitlines() if ": error:" in line]
    assert status == 1
    assert len(errors) == 1
    assert errors[0].startswith(f'{source}:7: error: Argument 2 to "add" has incompatible type "str"')


def test_the_table_names_the_one_function_of_a_member_and_refuses_to_guess_a_shared_one() -> None:
    assert emitter(FanoutMetric.PUSHED) == "gui_fanout"
    assert {"Pushed", "RecordsQuarantined"} <= declared("gui_fanout")
    assert "Pushed" not in declared("gui_indexer")
    with pytest.raises(ValueError, match="name the service"):
        emitter(QuarantineMetric.RECORDS_QUARANTINED)  # every stream consumer quarantines
    assert all(isinstance(names, tuple) for names in EMITTED_BY.values())


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_rest_request_prints_only_metrics_its_group_declares(capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN the jobs app WHEN a tenant homed here starts a job and one homed elsewhere tries THEN
    the figures of both requests and the refusal are printed, every one a name gui_jobs declares."""
    metrics = Metrics(namespace=NAMESPACE, service="gui_jobs")
    handler, _ = jobs_handler(Logger(service="gui_jobs"), metrics=metrics)
    assert handler(start_job_event(), JOBS_CONTEXT)["statusCode"] == 201
    started = metrics_of(capsys.readouterr().out)
    elsewhere = start_job_event(request_id="8c1d6e2a-0b3f-4a5e-9d7c-2f4e6a8b0c1d")
    elsewhere["requestContext"]["authorizer"]["tenant"] = "globex"  # homed in us-east-1
    assert handler(elsewhere, JOBS_CONTEXT)["statusCode"] == 421
    refused = metrics_of(capsys.readouterr().out)
    assert set(started) == {ApiMetric.REQUESTS, ApiMetric.LATENCY}
    assert set(refused) == {
        ApiMetric.REQUESTS,
        ApiMetric.LATENCY,
        ApiMetric.ERRORS_4XX,
        GuardMetric.RESIDENCY_REFUSALS,
    }
    assert set(started) | set(refused) <= declared("gui_jobs")
