"""The authorizer's logger writes the lines Powertools' Logger writes, with the same keys."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from gui_core.lean_log import LeanLogger


class Context:
    function_name = "gui_authorizer"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:gui_authorizer"
    aws_request_id = "req-1"


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _invoke_twice(logger: Any) -> None:
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> str:
        if event.get("tenant"):
            logger.append_keys(tenant=event["tenant"])
        logger.info("token accepted", extra={"subject": "ada@acme"})
        return "ok"

    assert handler({"tenant": "acme"}, Context()) == "ok"
    assert handler({}, Context()) == "ok"


def test_the_lines_have_powertools_keys_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "gui_authorizer")
    lean_out, powertools_out = io.StringIO(), io.StringIO()
    _invoke_twice(LeanLogger(stream=lean_out))
    _invoke_twice(Logger(service="gui_authorizer", logger_handler=logging.StreamHandler(powertools_out)))
    lean, powertools = _lines(lean_out), _lines(powertools_out)
    assert len(lean) == len(powertools) == 2
    for ours, theirs in zip(lean, powertools, strict=True):
        assert set(ours) == set(theirs) - {"xray_trace_id"}
        for key in ("level", "message", "service", "function_name", "function_memory_size", "function_arn"):
            assert ours[key] == theirs[key], key
        assert ours["location"].startswith("handler:")
        assert ours["timestamp"][:4].isdigit()
        assert ours["timestamp"].endswith("+0000")
    first, second = lean
    assert (first["cold_start"], second["cold_start"]) == (True, False)
    assert (first["tenant"], first["subject"]) == ("acme", "ada@acme")
    assert "tenant" not in second  # clear_state: the previous invocation's keys are gone
    assert second["function_request_id"] == "req-1"


def test_the_level_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "lean-level-test")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    out = io.StringIO()
    logger = LeanLogger(stream=out)
    logger.info("not written")
    logger.warning("written", extra={"reason": "expired"})
    assert [(line["level"], line["message"], line["reason"]) for line in _lines(out)] == [
        ("WARNING", "written", "expired")
    ]


def test_a_second_logger_of_one_service_replaces_the_first_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler module imported again (tests, the local runtime) does not write each line twice."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "lean-reimport-test")
    first, second = io.StringIO(), io.StringIO()
    LeanLogger(stream=first)
    LeanLogger(stream=second).info("once")
    assert first.getvalue() == ""
    assert [line["message"] for line in _lines(second)] == ["once"]


def test_an_exception_is_written_with_its_traceback() -> None:
    out = io.StringIO()
    logger = LeanLogger("lean-exception-test", stream=out)
    try:
        int("bad key")
    except ValueError:
        logger.exception("verification failed")
    (line,) = _lines(out)
    assert line["level"] == "ERROR"
    assert "ValueError: invalid literal for int()" in line["exception"]
