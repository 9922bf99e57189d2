"""Reading a synthesized CloudFormation template: find resources by what they are for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stacks.constructs.state import STORE_TAG

Template = dict[str, Any]


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def one(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def props(resource: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def references(value: Any) -> set[str]:
    """Logical ids that a property value points at through Ref or Fn::GetAtt."""
    found: set[str] = set()
    for node in _walk(value):
        if isinstance(node, dict):
            if isinstance(node.get("Ref"), str):
                found.add(node["Ref"])
            if isinstance(node.get("Fn::GetAtt"), list):
                found.add(node["Fn::GetAtt"][0])
    return found


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def tables_by_store(template: Template) -> dict[str, str]:
    """Store name -> table logical id, by the store tag the state construct puts on each table."""
    found: dict[str, str] = {}
    for logical_id, table in resources(template, "AWS::DynamoDB::Table").items():
        tags = {t["Key"]: t["Value"] for t in props(table).get("Tags", [])}
        found[tags[STORE_TAG]] = logical_id
    return found


def functions_by_name(template: Template) -> dict[str, str]:
    """Manifest function name -> function logical id, by the service name in its environment (the
    CDK's own functions, such as the trigger's provider, have none)."""
    found: dict[str, str] = {}
    for logical_id, function in resources(template, "AWS::Lambda::Function").items():
        service = props(function).get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
        if service is not None:
            found[service] = logical_id
    return found


def resource_paths(template: Template) -> dict[str, str]:
    """API Gateway resource logical id -> its full path (`/service/gui/...`)."""
    parts = resources(template, "AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        resource = props(parts[logical_id])
        parent = resource["ParentId"]
        prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{resource['PathPart']}"

    return {logical_id: path_of(logical_id) for logical_id in parts}


def method_path(template: Template, method: dict[str, Any]) -> str:
    resource_id = props(method)["ResourceId"]
    return resource_paths(template)[resource_id["Ref"]] if "Ref" in resource_id else "/"


def role_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to a role, inline or separate."""
    statements: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if role_id in references(props(policy)["Roles"]):
            statements.extend(props(policy)["PolicyDocument"]["Statement"])
    for inline in props(template["Resources"][role_id]).get("Policies", []):
        statements.extend(inline["PolicyDocument"]["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def invoked_by_name(template: Template) -> dict[str, str]:
    """Manifest function name -> the logical id its invokers name (API Gateway, the mappings, rules,
    schedules): the `live` alias of a SnapStart function, else the function itself."""
    aliases = {
        function_id: alias_id
        for alias_id, alias in resources(template, "AWS::Lambda::Alias").items()
        for function_id in references(props(alias)["FunctionName"])
    }
    return {
        name: aliases.get(function_id, function_id)
        for name, function_id in functions_by_name(template).items()
    }


def invoked_function(template: Template, value: Any) -> str:
    """The function logical id that an invoker's `FunctionName` (or integration URI) names: the
    function's own, or through its alias."""
    aliases = {
        alias_id: function_id
        for alias_id, alias in resources(template, "AWS::Lambda::Alias").items()
        for function_id in references(props(alias)["FunctionName"])
    }
    functions = set(resources(template, "AWS::Lambda::Function"))
    (found,) = {aliases.get(ref, ref) for ref in references(value)} & functions
    return found
