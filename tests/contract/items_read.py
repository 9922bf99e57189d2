"""Counts the DynamoDB items the local functions read, per table, through a botocore hook on boto3's
default session (the functions of a local backend run in this process and make their clients from
it). Install it before the backend starts: a client copies its session's handlers when it is made."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3

_TABLE = "ddgui.items_read.table"


class ItemsRead:
    """Items handed back by Query, Scan, GetItem and BatchGetItem, per table name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def install(self) -> ItemsRead:
        events = boto3._get_default_session().events
        events.register("before-parameter-build.dynamodb", self._params, unique_id=f"items-read-p-{id(self)}")
        events.register("after-call.dynamodb", self._after, unique_id=f"items-read-a-{id(self)}")
        return self

    @classmethod
    @contextlib.contextmanager
    def installed(cls) -> Iterator[ItemsRead]:
        """A meter installed for the block (a module fixture's, around its backend's start)."""
        meter = cls().install()
        try:
            yield meter
        finally:
            meter.uninstall()

    def uninstall(self) -> None:
        events = boto3._get_default_session().events
        events.unregister("before-parameter-build.dynamodb", unique_id=f"items-read-p-{id(self)}")
        events.unregister("after-call.dynamodb", unique_id=f"items-read-a-{id(self)}")

    def reset(self) -> None:
        with self._lock:
            self.items.clear()
            self.calls.clear()

    def _params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_TABLE] = params.get("TableName")

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        counted: Counter[str] = Counter()
        if model.name in ("Query", "Scan"):
            counted[str(context.get(_TABLE))] += len(parsed.get("Items") or [])
        elif model.name == "GetItem":
            counted[str(context.get(_TABLE))] += 1 if parsed.get("Item") else 0
        elif model.name == "BatchGetItem":
            for table, items in (parsed.get("Responses") or {}).items():
                counted[table] += len(items)
        else:
            return
        with self._lock:
            self.items.update(counted)
            for table in counted:
                self.calls[table] += 1
