"""A REST function routes by what API Gateway matched, not by the path it passes on.

API Gateway has chosen the resource before the function runs, and the proxy event says which:
`resource` (`/service/gui/artifacts/{id}/lineage`) and the values of its path parameters
(`pathParameters`, percent-encoded as the request sent them, as `path` is). Routing again on `path`
(which Mangum decodes) gets wrong what API Gateway got right:
- a trailing slash: `/preferences/` is the `/preferences` resource, where FastAPI would answer a
  redirect to a URL without the stage (and a PUT would not be applied);
- an encoded slash in a parameter: `a%2Flineage` is one segment; decoded first, `/artifacts/a/lineage`
  is another resource (the lineage of `a`), and a subject holding a `/` could never be reset;
- a custom domain's base path mapping, which `path` carries and `resource` does not.

So `route_by_resource` (the shared middleware calls it) makes the ASGI path the resource with each
parameter's value percent-encoded whole, so no value holds a `/` the router could split on, and the
routes of `gui_core.guard.group_router` (`GatewayRoute`) decode the values they capture. An event
without a resource (an app called directly, as some tests do) is routed by its path as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import quote, unquote

from fastapi.routing import APIRoute
from starlette.routing import Match

GATEWAY_ROUTED = "gui.gateway_routed"  # scope key: the path was rebuilt from the event's resource

_PARAMETER = re.compile(r"\{(\w+)(\+?)\}")


class _Unmatched(Exception):
    pass


def resource_path(event: Mapping[str, Any]) -> str | None:
    """The path of the resource API Gateway matched, its parameters' values percent-encoded whole
    (a greedy `{name+}` keeps its `/`); None when the event names no resource or misses a value."""
    resource = event.get("resource")
    if not isinstance(resource, str) or not resource.startswith("/"):
        return None
    parameters = event.get("pathParameters") or {}

    def encoded(found: re.Match[str]) -> str:
        value = parameters.get(found.group(1))
        if not isinstance(value, str) or not value:
            raise _Unmatched
        return quote(unquote(value), safe="/" if found.group(2) else "")

    try:
        return _PARAMETER.sub(encoded, resource)
    except _Unmatched:
        return None


def route_by_resource(scope: MutableMapping[str, Any]) -> None:
    """Route this request by the resource of its API Gateway event, if it has one."""
    event = scope.get("aws.event")
    path = resource_path(event) if isinstance(event, Mapping) else None
    if path is not None:
        scope["path"] = path
        scope["raw_path"] = path.encode()
        scope[GATEWAY_ROUTED] = True


class GatewayRoute(APIRoute):
    """A route whose path parameters are decoded once more when the path was rebuilt from the
    event (`route_by_resource`), where each value is one percent-encoded segment."""

    def matches(self, scope: Any) -> tuple[Match, Any]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE and scope.get(GATEWAY_ROUTED):
            params = dict(child_scope.get("path_params") or {})
            for name in self.param_convertors:
                if isinstance(params.get(name), str):
                    params[name] = unquote(params[name])
            child_scope["path_params"] = params
        return match, child_scope
