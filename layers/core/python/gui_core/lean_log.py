"""JSON log lines in Powertools' shape, from the standard library alone: for the authorizer.

The authorizer runs in front of every request and imports neither boto3 nor FastAPI; importing
Powertools' Logger (and jmespath with it) was about a third of its cold start (bench/README.md;
`bench/cold_start.py --only gui_authorizer,gui_admin`). `LeanLogger` writes the lines the other
functions' Powertools Logger writes, with the same keys, so one Logs Insights query reads every
function:

    {"level": "INFO", "location": "handler:42", "message": "token accepted",
     "timestamp": "2026-11-28 03:15:11,158+0000", "service": "gui_authorizer", "cold_start": false,
     "function_name": ..., "function_memory_size": 256, "function_arn": ...,
     "function_request_id": ..., "tenant": ..., "subject": ...}

The service is `POWERTOOLS_SERVICE_NAME` (the stacks set it per function), the level
`POWERTOOLS_LOG_LEVEL` or `LOG_LEVEL` (default INFO). `inject_lambda_context` adds the
invocation's keys and `cold_start` (true on a container's first invocation only), and with
`clear_state` drops the keys appended during the previous invocation.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _JsonFormatter(logging.Formatter):
    def __init__(self, owner: LeanLogger) -> None:
        super().__init__()
        self._owner = owner

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
        return f"{stamp},{int(record.msecs):03d}+0000"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": self.formatTime(record),
            "service": self._owner.service,
            **self._owner.keys,
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class LeanLogger:
    """What the authorizer uses of Powertools' Logger: `info`/`warning`/`error`/`exception` with
    `extra`, `append_keys`, `inject_lambda_context(clear_state=...)`."""

    def __init__(self, service: str | None = None, *, stream: TextIO | None = None) -> None:
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or "service_undefined"
        self.keys: dict[str, Any] = {}
        self._cold = True
        # A name of its own: Powertools' Logger of the same service would share `getLogger(service)`.
        self._logger = logging.getLogger(f"lean.{self.service}")
        self._logger.propagate = False
        level = os.environ.get("POWERTOOLS_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO"
        self._logger.setLevel(level.upper())
        for old in [h for h in self._logger.handlers if getattr(h, "lean", False)]:
            self._logger.removeHandler(old)  # a re-import (tests) replaces the line writer
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.lean = True  # type: ignore[attr-defined]
        handler.setFormatter(_JsonFormatter(self))
        self._logger.addHandler(handler)

    def append_keys(self, **keys: Any) -> None:
        self.keys.update(keys)

    def inject_lambda_context(self, *, clear_state: bool = False) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            def invoke(event: Any, context: Any) -> Any:
                if clear_state:
                    self.keys.clear()
                self.keys.update(
                    cold_start=self._cold,
                    function_name=getattr(context, "function_name", None),
                    function_memory_size=getattr(context, "memory_limit_in_mb", None),
                    function_arn=getattr(context, "invoked_function_arn", None),
                    function_request_id=getattr(context, "aws_request_id", None),
                )
                self._cold = False
                return handler(event, context)

            return invoke  # type: ignore[return-value]

        return decorate

    def debug(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        self._logger.debug(message, extra=extra, stacklevel=2)

    def info(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        self._logger.info(message, extra=extra, stacklevel=2)

    def warning(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        self._logger.warning(message, extra=extra, stacklevel=2)

    def error(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        self._logger.error(message, extra=extra, stacklevel=2)

    def exception(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        self._logger.exception(message, extra=extra, stacklevel=2)
