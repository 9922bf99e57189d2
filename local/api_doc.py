"""The generated parts of `docs/gui/backend_support_api.md`.

The hand-written prose of that document explains the rules; the tables that list what the code
declares are made here, between `<!-- generated:<name>:start -->` and `<!-- generated:<name>:end -->`
markers, from their sources of truth:

- endpoints and parameters: `docs/gui/openapi.json` (summaries, parameters, schemas, answers),
  `stacks/manifest.py` (the scope of each route) and each group's router policy
  (`gui_core.guard.GroupPolicy`: feature flag and rate-limit class);
- roles: `gui_core.rbac.ROLE_SCOPES`; rate limits: `gui_core.rate_limit`;
- error codes: every `ProblemError` class of `gui_core` and `functions/` (read from the source, so
  nothing is imported for it) and the manifest's API Gateway responses;
- channels, operations and messages: `docs/gui/asyncapi.yaml`.

`python -m local.api_doc` rewrites the generated sections in place; `--check` exits 1 when the
file is stale (a unit test does the same). The output is sorted and has no timestamps.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML comes with moto and cfn-lint (dev only)

from gui_core import errors as core_errors
from gui_core.guard import GroupPolicy
from gui_core.rate_limit import DEFAULT_LIMITS, PLAN_LIMITS, WINDOW_S
from gui_core.rbac import ALL_SCOPES, ROLE_SCOPES
from stacks.manifest import API_PREFIX, MANIFEST, Manifest, Route

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "gui" / "backend_support_api.md"
OPENAPI = ROOT / "docs" / "gui" / "openapi.json"
ASYNCAPI = ROOT / "docs" / "gui" / "asyncapi.yaml"
CORE_DIR = ROOT / "layers" / "core" / "python" / "gui_core"
FUNCTIONS_DIR = ROOT / "functions"

METHOD_ORDER = ("get", "post", "put", "patch", "delete")
REGENERATE = "`.venv/bin/python -m local.api_doc`"
_SECTION = re.compile(r"<!-- generated:(?P<name>[a-z0-9-]+):(?P<end>start|end) -->")


@dataclass(frozen=True)
class Sources:
    openapi: dict[str, Any]
    asyncapi: dict[str, Any]
    manifest: Manifest


def load_sources(
    openapi: Path = OPENAPI, asyncapi: Path = ASYNCAPI, manifest: Manifest = MANIFEST
) -> Sources:
    loaded = yaml.safe_load(asyncapi.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise TypeError(f"{asyncapi} is not a YAML mapping")
    return Sources(json.loads(openapi.read_text(encoding="utf-8")), loaded, manifest)


# -- markdown helpers ------------------------------------------------------------------------------


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text: object) -> str:
    return f"`{text}`"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _note(source: str) -> str:
    return f"_Generated from {source} by {REGENERATE}; edit the sources, not this block._"


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


# -- REST: routes, policies, schemas -----------------------------------------------------------


def route_policies(manifest: Manifest) -> dict[tuple[str, str], GroupPolicy]:
    """(METHOD, path shape) -> the guard policy of the router serving it, read from every module of
    a routed function that makes routers with `gui_core.guard.group_router`."""
    from fastapi import APIRouter
    from fastapi.routing import APIRoute

    policies: dict[tuple[str, str], GroupPolicy] = {}
    for fn in manifest.functions:
        if not fn.routes:
            continue
        for source in sorted((FUNCTIONS_DIR / fn.package).glob("*.py")):
            if "group_router(" not in source.read_text(encoding="utf-8"):
                continue
            module = importlib.import_module(f"{fn.package}.{source.stem}")
            for value in vars(module).values():
                policy = getattr(value, "guard_policy", None)
                if not isinstance(value, APIRouter) or not isinstance(policy, GroupPolicy):
                    continue
                for route in value.routes:
                    if isinstance(route, APIRoute):
                        for method in route.methods or ():
                            policies[(method, _shape(route.path))] = policy
    return policies


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    operation: dict[str, Any]
    route: Route
    policy: GroupPolicy | None

    @property
    def group(self) -> str:
        tags = self.operation.get("tags") or ["other"]
        return str(tags[0])


def instance_of(shape: str, path: str) -> bool:
    """Whether `path` is the route `shape` with literal values for some of its parameters (the
    document gives `POST /jobs/{verb}` as one operation per verb: `/jobs/ingest`, ...)."""
    template, concrete = shape.split("/"), _shape(path).split("/")
    return len(template) == len(concrete) and all(
        t in (c, "{}") for t, c in zip(template, concrete, strict=True)
    )


def endpoints(sources: Sources) -> list[Endpoint]:
    """Every operation of the OpenAPI document with its manifest route; raises when the two differ."""
    routes = {(route.method, _shape(route.full_path)): route for route, _ in sources.manifest.routes()}
    policies = route_policies(sources.manifest)
    found: list[Endpoint] = []
    documented: set[tuple[str, str]] = set()
    for path, operations in sources.openapi["paths"].items():
        for method, operation in operations.items():
            key = (method.upper(), _shape(path))
            if key not in routes:  # an operation per value of a parameter
                key = next((k for k in routes if k[0] == key[0] and instance_of(k[1], path)), key)
            if key not in routes:
                raise LookupError(f"{method.upper()} {path} is in the OpenAPI document, not in the manifest")
            documented.add(key)
            found.append(Endpoint(method.upper(), path, operation, routes[key], policies.get(key)))
    missing = sorted(f"{m} {p}" for m, p in set(routes) - documented)
    if missing:
        raise LookupError(f"manifest routes missing from the OpenAPI document: {missing}")
    return sorted(found, key=lambda e: (e.group, e.path, METHOD_ORDER.index(e.method.lower())))


def _schema_name(schema: Mapping[str, Any] | None) -> str:
    if not schema:
        return "-"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            names = [_schema_name(s) for s in schema[combinator] if s.get("type") != "null"]
            return " \\| ".join(names) or "-"
    if schema.get("type") == "array":
        return f"{_schema_name(schema.get('items'))}[]"
    return str(schema.get("type", "object"))


def _body(content: Mapping[str, Any] | None) -> str:
    if not content:
        return "-"
    media, entry = sorted(content.items())[0]
    if media not in ("application/json", "application/problem+json"):
        return media
    return _schema_name(entry.get("schema"))


def _scope(endpoint: Endpoint) -> str:
    scope = endpoint.route.scope
    if "{channel}" in endpoint.route.path:  # the live stream: the scope of the channel asked for
        from gui_core.replay_log import CHANNELS

        return " / ".join(_code(s) for s in sorted(set(CHANNELS.values()))) + " (the channel's)"
    if endpoint.route.field_scopes:
        return "each field's"
    return _code(scope) if scope else "public"


def _statuses(responses: Mapping[str, Any], first: str) -> str:
    return " ".join(sorted(code for code in responses if code.startswith(first)))


ENDPOINT_HEADER = (
    "method", "path", "operation id", "scope", "feature", "class", "summary", "body -> answer", "2xx", "4xx",
)  # fmt: skip


def _endpoint_row(endpoint: Endpoint) -> list[object]:
    operation, policy = endpoint.operation, endpoint.policy
    responses: dict[str, Any] = operation.get("responses", {})
    success: dict[str, Any] = next(
        (r for c, r in sorted(responses.items()) if c.startswith("2") and r.get("content")), {}
    )
    return [
        endpoint.method,
        _code(endpoint.path.removeprefix(API_PREFIX) or "/"),
        _code(operation.get("operationId", "")),
        _scope(endpoint),
        _code(policy.feature) if policy else "-",
        _code(policy.rate_class(endpoint.method)) if policy else "-",
        operation.get("summary", ""),
        f"{_body(operation.get('requestBody', {}).get('content'))} -> {_body(success.get('content'))}",
        _statuses(responses, "2"),
        _statuses(responses, "4"),
    ]


def render_endpoints(sources: Sources) -> list[str]:
    lines = [
        _note("`docs/gui/openapi.json`, the scopes of `stacks/manifest.py` and the routers' policies"),
        "",
        f"Paths under `{API_PREFIX}`. `feature` is the tenant feature flag that gates the route (404 "
        "`feature_disabled` when off); `class` its rate-limit class; `body -> answer` the request and "
        "success schemas (`components.schemas` of the OpenAPI document).",
    ]
    for group, members in itertools.groupby(endpoints(sources), key=lambda e: e.group):
        lines += ["", f"#### {group}", "", *_table(ENDPOINT_HEADER, [_endpoint_row(e) for e in members])]
    return lines


def _parameter(parameter: Mapping[str, Any]) -> str:
    schema = parameter.get("schema", {})
    if "anyOf" in schema:  # optional values are `X | null`: the bounds are those of X
        schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), schema)
    text = _code(parameter["name"]) + ("*" if parameter.get("required") else "")
    facts = []
    if "minimum" in schema or "maximum" in schema:
        facts.append(f"{schema.get('minimum', '')}..{schema.get('maximum', '')}")
    if "enum" in schema:
        facts.append(", ".join(str(v) for v in schema["enum"]))
    default = parameter.get("schema", {}).get("default")
    if default is not None:
        facts.append(f"default {json.dumps(default) if default == '' else default}")
    return f"{text} ({'; '.join(facts)})" if facts else text


def _credentials_in_query(document: Mapping[str, Any], operation: Mapping[str, Any]) -> str:
    """The operation's security schemes sent in the query, as `name` (credential, instead of the
    bearer token)."""
    schemes = document.get("components", {}).get("securitySchemes", {})
    names = [
        schemes[name]["name"]
        for requirement in operation.get("security", [])
        for name in requirement
        if schemes.get(name, {}).get("in") == "query"
    ]
    return ", ".join(f"{_code(name)} (credential, instead of the bearer token)" for name in names)


def render_parameters(sources: Sources) -> list[str]:
    rows = []
    for endpoint in endpoints(sources):
        parameters = endpoint.operation.get("parameters", [])
        if not parameters:
            continue
        by_place = {
            place: ", ".join(_parameter(p) for p in parameters if p.get("in") == place) or "-"
            for place in ("path", "query", "header")
        }
        credentials = _credentials_in_query(sources.openapi, endpoint.operation)
        if credentials:  # a security scheme in the query (the SSE route's stream ticket)
            by_place["query"] = ", ".join(q for q in (by_place["query"], credentials) if q != "-")
        rows.append([_code(endpoint.operation.get("operationId", "")), *by_place.values()])
    return [
        _note("`docs/gui/openapi.json`"),
        "",
        "`*`: required. Operations without parameters are left out.",
        "",
        *_table(("operation id", "path", "query", "headers"), rows),
    ]


# -- roles, rate limits, error codes -------------------------------------------------------------


def render_roles(_: Sources) -> list[str]:
    rows = [
        [_code(role), ", ".join(_code(s) for s in sorted(scopes))] for role, scopes in ROLE_SCOPES.items()
    ]
    by_role = set().union(*ROLE_SCOPES.values())
    rows += [["(scope only)", _code(s)] for s in sorted(ALL_SCOPES - by_role)]
    return [_note("`gui_core.rbac`"), "", *_table(("role", "scopes it grants"), rows)]


def render_rate_limits(sources: Sources) -> list[str]:
    used: dict[str, list[str]] = {}
    for endpoint in endpoints(sources):
        if endpoint.policy is not None:
            rate_class = endpoint.policy.rate_class(endpoint.method)
            used.setdefault(rate_class, []).append(_code(endpoint.operation.get("operationId", "")))
    plans = sorted(PLAN_LIMITS)
    rows = []
    for rate_class in sorted(DEFAULT_LIMITS):
        figures = [PLAN_LIMITS[p].get(rate_class, DEFAULT_LIMITS[rate_class]) for p in plans]
        rows.append(
            [_code(rate_class), DEFAULT_LIMITS[rate_class], *figures, ", ".join(used.get(rate_class, []))]
        )
    header = ("class", "default", *(f"plan `{p}`" for p in plans), "REST operations")
    return [
        _note("`gui_core.rate_limit` and the routers' policies"),
        "",
        f"Requests per tenant and class in a sliding window of {WINDOW_S} s.",
        "",
        *_table(header, rows),
    ]


@dataclass(frozen=True)
class ErrorCode:
    status: str
    code: str
    title: str
    where: str


def _module_label(path: Path) -> str:
    if path.is_relative_to(CORE_DIR):
        return "gui_core"
    return path.relative_to(FUNCTIONS_DIR).parts[0]


def _class_codes(path: Path) -> Iterator[tuple[str, str | None, str, str, list[str]]]:
    """(class, status or None, code, title, base names) of each class assigning `code, title` at once."""
    source = path.read_text(encoding="utf-8")
    if "code, title" not in source:  # most modules define no error class: skip parsing them
        return
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:
            if not (isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Tuple)):
                continue
            names = [t.id for t in statement.targets[0].elts if isinstance(t, ast.Name)]
            if "code" not in names or not isinstance(statement.value, ast.Tuple):
                continue
            values = dict(zip(names, (ast.literal_eval(v) for v in statement.value.elts), strict=True))
            status = str(values["status"]) if "status" in values else None
            bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
            yield node.name, status, str(values["code"]), str(values["title"]), bases


def _inherited_status(bases: Sequence[str], local: Mapping[str, str]) -> str | None:
    """The status of the first base known in the same module, else in `gui_core.errors`."""
    for base in bases:
        inherited = local.get(base) or getattr(getattr(core_errors, base, None), "status", None)
        if inherited is not None:
            return str(inherited)
    return None


def error_codes(manifest: Manifest) -> list[ErrorCode]:
    paths = sorted(CORE_DIR.glob("*.py")) + sorted(FUNCTIONS_DIR.glob("*/*.py"))
    found: list[ErrorCode] = [
        ErrorCode(
            str(core_errors.ProblemError.status),
            core_errors.ProblemError.code,
            core_errors.ProblemError.title,
            "gui_core",
        )
    ]
    for path in paths:
        local: dict[str, str] = {}
        for name, declared, code, title, bases in _class_codes(path):
            status = declared or _inherited_status(bases, local)
            if status is None:
                raise LookupError(f"{path}: no status for {name}")
            local[name] = status
            found.append(ErrorCode(status, code, title, _module_label(path)))
    for response in manifest.gateway_responses:
        status = str(response.status) if response.status else response.type.split("_")[1].lower()
        found.append(ErrorCode(status, response.code, response.title, f"API Gateway `{response.type}`"))
    return found


def render_errors(sources: Sources) -> list[str]:
    merged: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for error in error_codes(sources.manifest):
        titles, where = merged.setdefault((error.status, error.code), (set(), set()))
        titles.add(error.title)
        where.add(error.where)
    rows = [
        [status, _code(code), " / ".join(sorted(titles)), ", ".join(sorted(where))]
        for (status, code), (titles, where) in sorted(merged.items())
    ]
    return [
        _note(
            "the `ProblemError` classes of `gui_core` and `functions/` and the manifest's gateway responses"
        ),
        "",
        *_table(("status", "code", "title", "raised by"), rows),
    ]


# -- AsyncAPI ------------------------------------------------------------------------------------


def _ref_name(ref: Mapping[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def _component_of(doc: Mapping[str, Any], channel_ref: str, key: str) -> str:
    """The component message a channel's message `key` refers to."""
    channel = doc["channels"][channel_ref.rsplit("/", 1)[-1]]
    return _ref_name(channel["messages"][key])


def render_channels(sources: Sources) -> list[str]:
    doc = sources.asyncapi
    channel_rows = []
    for name, channel in sorted(doc["channels"].items()):
        servers = ", ".join(_code(_ref_name(s)) for s in channel.get("servers", []))
        protocols = sorted({doc["servers"][_ref_name(s)]["protocol"] for s in channel.get("servers", [])})
        messages = ", ".join(_code(m) for m in sorted(channel.get("messages", {})))
        row = [_code(name), _code(channel["address"]), servers, "/".join(protocols), channel.get("title", "")]
        channel_rows.append([*row, messages])
    scopes = doc["components"]["schemas"]["Channel"].get("x-scopes", {})
    scope_rows = [[_code(name), _code(scope)] for name, scope in sorted(scopes.items())]
    operation_rows = []
    for name, operation in sorted(doc["operations"].items()):
        channel_ref = operation["channel"]["$ref"]
        sent = [_code(_component_of(doc, channel_ref, _ref_name(m))) for m in operation["messages"]]
        reply = operation.get("reply", {})
        replies = [
            _code(_component_of(doc, reply["channel"]["$ref"], _ref_name(m)))
            for m in reply.get("messages", [])
        ]
        route_key = operation.get("x-route-key")
        operation_rows.append(
            [
                _code(name),
                operation["action"],
                _code(route_key) if route_key else "-",
                _code(_ref_name(operation["channel"])),
                operation.get("title", ""),
                ", ".join(sent),
                ", ".join(replies) or "-",
            ]
        )
    return [
        _note("`docs/gui/asyncapi.yaml`"),
        "",
        "Live channels (the `channel` of a connection, a subscription or an SSE path) and the scope "
        "each needs:",
        "",
        *_table(("live channel", "scope"), scope_rows),
        "",
        "AsyncAPI channels (addresses):",
        "",
        *_table(("channel", "address", "servers", "protocol", "title", "messages"), channel_rows),
        "",
        "Operations (`send`: client to server; `receive`: server to client):",
        "",
        *_table(
            ("operation", "action", "route key", "channel", "title", "messages", "reply"), operation_rows
        ),
    ]


def _directions(doc: Mapping[str, Any]) -> dict[str, set[str]]:
    directions: dict[str, set[str]] = {}
    for operation in doc["operations"].values():
        channel_ref = operation["channel"]["$ref"]
        outgoing = "client -> server" if operation["action"] == "send" else "server -> client"
        for message in operation["messages"]:
            directions.setdefault(_component_of(doc, channel_ref, _ref_name(message)), set()).add(outgoing)
        reply = operation.get("reply", {})
        for message in reply.get("messages", []):
            component = _component_of(doc, reply["channel"]["$ref"], _ref_name(message))
            directions.setdefault(component, set()).add("server -> client")
    return directions


def render_messages(sources: Sources) -> list[str]:
    doc = sources.asyncapi
    schemas = doc["components"]["schemas"]
    directions = _directions(doc)
    rows = []
    for name, message in sorted(doc["components"]["messages"].items()):
        schema_name = _ref_name(message["payload"])
        schema = schemas.get(schema_name, {})
        properties = schema.get("properties", {})
        selector = next(
            (
                f"{key}: {_code(json.dumps(properties[key]['const']))}"
                for key in ("action", "type")
                if "const" in properties.get(key, {})
            ),
            "-",
        )
        required = ", ".join(_code(r) for r in schema.get("required", [])) or "-"
        transport = "SSE" if message.get("contentType") == "text/event-stream" else "WebSocket"
        rows.append(
            [
                _code(name),
                _code(message.get("name", name)),
                transport,
                " / ".join(sorted(directions.get(name, {"-"}))),
                _code(schema_name),
                selector,
                required,
            ]
        )
    header = ("message", "name", "transport", "direction", "payload schema", "selected by", "required fields")
    return [_note("`docs/gui/asyncapi.yaml`"), "", *_table(header, rows)]


# -- the document --------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[Sources], list[str]]] = {
    "roles": render_roles,
    "errors": render_errors,
    "rate-limits": render_rate_limits,
    "endpoints": render_endpoints,
    "parameters": render_parameters,
    "channels": render_channels,
    "messages": render_messages,
}


def render(text: str, sources: Sources) -> str:
    """`text` with every generated section made anew; raises when a section's markers are missing,
    repeated or out of order, or when the text names a section this module does not make."""
    markers = [(m.group("name"), m.group("end"), m.start(), m.end()) for m in _SECTION.finditer(text)]
    names = [name for name, end, _, _ in markers if end == "start"]
    if sorted(names) != sorted(SECTIONS) or len(markers) != 2 * len(SECTIONS):
        raise ValueError(
            f"the document must hold each generated section once: {sorted(SECTIONS)}, has {names}"
        )
    out, position = [], 0
    for (name, start, _, open_end), (close_name, end, close_start, _) in zip(
        markers[::2], markers[1::2], strict=True
    ):
        if (start, end, close_name) != ("start", "end", name):
            raise ValueError(f"generated section {name!r}: its end marker must follow its start marker")
        body = "\n".join(SECTIONS[name](sources)).rstrip()
        out += [text[position:open_end], "\n", body, "\n"]
        position = close_start
    out.append(text[position:])
    return "".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.api_doc", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the document is stale; write nothing"
    )
    parser.add_argument("--doc", type=Path, default=DOC, help="the document (default: %(default)s)")
    args = parser.parse_args(argv)
    current = args.doc.read_text(encoding="utf-8")
    fresh = render(current, load_sources())
    if fresh == current:
        return 0
    if args.check:
        sys.stderr.write(f"{args.doc} is stale: run {REGENERATE}\n")
        return 1
    args.doc.write_text(fresh, encoding="utf-8")
    sys.stderr.write(f"rewrote {args.doc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
