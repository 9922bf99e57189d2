"""Every request body and every 2xx JSON answer of the combined OpenAPI document carries an example,
and every example declared on a model is a valid instance of it."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import Any

import pytest
from pydantic import BaseModel

from local.openapi import combined_openapi
from stacks.manifest import MANIFEST

HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}
REF_PREFIX = "#/components/schemas/"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return combined_openapi(MANIFEST)


def _models_modules() -> list[Any]:
    packages = sorted({fn.package for fn in MANIFEST.functions})
    return [
        importlib.import_module(f"{package}.models")
        for package in packages
        if importlib.util.find_spec(f"{package}.models") is not None
    ]


def _model_classes() -> dict[str, type[BaseModel]]:
    classes: dict[str, type[BaseModel]] = {}
    for module in _models_modules():
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
            ):
                classes[f"{module.__name__}.{value.__qualname__}"] = value
    return classes


def _without_none(value: Any) -> Any:
    """What FastAPI publishes of an example: it encodes the document with `exclude_none`, which
    drops null members at every depth (a model's example may still spell them)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _examples(model: type[BaseModel]) -> list[Any]:
    extra = model.model_config.get("json_schema_extra")
    if not isinstance(extra, dict):
        return []
    examples = extra.get("examples")
    return list(examples) if isinstance(examples, list) else []


ANNOTATED = {name: model for name, model in _model_classes().items() if _examples(model)}


def _schema_has_example(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """True when the schema, the schema it references, or a referenced branch of a nullable `anyOf`
    (an optional body) has examples."""
    if schema.get("examples") or "example" in schema:
        return True
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        return _schema_has_example(components[ref.removeprefix(REF_PREFIX)], components)
    branches = [b for b in schema.get("anyOf", []) + schema.get("oneOf", []) if b.get("type") != "null"]
    return bool(branches) and all(_schema_has_example(b, components) for b in branches)


def _media_has_example(media: dict[str, Any], components: dict[str, Any]) -> bool:
    if media.get("examples") or "example" in media:
        return True
    return _schema_has_example(media.get("schema", {}), components)


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in HTTP_METHODS
    ]


def test_models_with_examples_were_found() -> None:
    assert len(ANNOTATED) >= 20, sorted(ANNOTATED)


def test_every_json_request_body_and_2xx_answer_has_an_example(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    missing: list[str] = []
    checked = 0
    for method, path, operation in _operations(document):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            checked += 1
            if not _media_has_example(body, components):
                missing.append(f"{method} {path} request body")
        for code, response in operation.get("responses", {}).items():
            if not code.startswith("2") or code == "204":
                continue
            media = response.get("content", {}).get("application/json")
            if media is None:  # no JSON body (204, or an extra status described without content)
                continue
            checked += 1
            if not _media_has_example(media, components):
                missing.append(f"{method} {path} {code} answer")
    assert checked > 0
    assert not missing, "no example for:\n" + "\n".join(missing)


def test_examples_in_the_document_belong_to_a_model(document: dict[str, Any]) -> None:
    """Each component schema with examples is the schema of exactly one annotated model, whose examples
    it carries (so the validation below covers every example the document shows)."""
    by_name: dict[str, list[type[BaseModel]]] = {}
    for model in ANNOTATED.values():
        by_name.setdefault(model.__name__, []).append(model)
    for name, schema in document["components"]["schemas"].items():
        if not schema.get("examples"):
            continue
        models = by_name.get(name, [])
        assert len(models) == 1, f"schema {name} has examples but no single annotated model: {models}"
        assert schema["examples"] == _without_none(_examples(models[0])), name


@pytest.mark.parametrize(
    ("name", "example"),
    [
        pytest.param(name, example, id=f"{name.rsplit('.', 1)[-1]}-{index}")
        for name, model in ANNOTATED.items()
        for index, example in enumerate(_examples(model))
    ],
)
def test_example_is_a_valid_instance_of_its_model(name: str, example: Any) -> None:
    model = ANNOTATED[name]
    instance = model.model_validate(example)
    # Nothing dropped or coerced: extra="ignore" models would silently drop a misspelt field.
    dumped = instance.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert dumped == example
