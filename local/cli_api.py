"""`ddgui api OPERATION ...`: every REST operation from the command line, by its operation id.

The operations are read from the combined OpenAPI document, so a route added to any group is a
command at once; the call goes through the gateway like the GUI's (same authorizer, same handler,
same logic) and prints the JSON answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx

from local.openapi import combined_openapi
from stacks.manifest import MANIFEST

HTTP_METHODS = ("get", "put", "post", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    summary: str


@cache
def operations() -> dict[str, Operation]:
    document = combined_openapi(MANIFEST)
    found: dict[str, Operation] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if method not in HTTP_METHODS:
                continue
            name = operation["operationId"]
            if name in found:
                raise ValueError(f"two operations are named {name!r}")
            found[name] = Operation(name, method.upper(), path, operation.get("summary", ""))
    return found


def pairs(values: list[str] | None, option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values or []:
        key, sep, item = value.partition("=")
        if not sep or not key:
            raise ValueError(f"{option} takes key=value, not {value!r}")
        result[key] = item
    return result


def call(
    operation: Operation,
    *,
    base_url: str,
    token: str,
    path_params: dict[str, str],
    query: dict[str, str],
    body: Any,
    headers: dict[str, str],
    timeout_s: float = 30.0,
) -> httpx.Response:
    path = operation.path
    for name, value in path_params.items():
        path = path.replace(f"{{{name}}}", value)
    if "{" in path:
        raise ValueError(f"give every path parameter of {operation.path} with --path NAME=VALUE")
    sent = {"Authorization": f"Bearer {token}", **headers}
    if body is not None and not any(name.lower() == "content-type" for name in sent):
        sent["Content-Type"] = "application/json"  # the API refuses a body of no type (415)
    with httpx.Client(timeout=timeout_s) as client:
        return client.request(
            operation.method,
            f"{base_url.rstrip('/')}{path}",
            params=query,
            headers=sent,
            content=json.dumps(body).encode() if body is not None else None,
        )
