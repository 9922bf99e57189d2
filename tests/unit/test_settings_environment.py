"""gui_core.settings reads the environment as pydantic-settings' BaseSettings did (issue 17 dropped
it from the cold start): every settings class of every function, against pydantic-settings' own
environment source where it is installed, and the rules one by one."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from gui_core.quarantine import QuarantineSettings
from gui_core.settings import ApiSettings, EnvironmentSettings, NoDecode, environment_values

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def settings_classes() -> list[type[EnvironmentSettings]]:
    for info in pkgutil.iter_modules([str(FUNCTIONS)]):
        if (FUNCTIONS / info.name / "settings.py").exists():
            importlib.import_module(f"{info.name}.settings")
    found: list[type[EnvironmentSettings]] = []
    pending: list[type[EnvironmentSettings]] = [EnvironmentSettings]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                pending.append(sub)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def sample_environment(cls: type[BaseModel]) -> dict[str, str]:
    """A value for every field, its variable's name in mixed case, JSON where the type is complex."""
    env: dict[str, str] = {}
    for index, (name, field) in enumerate(cls.model_fields.items()):
        variable = (field.alias or name).swapcase() if index % 2 else (field.alias or name)
        text = str(field.annotation)
        if "dict" in text:
            env[variable] = json.dumps({"eu-west-1": "https://eu.example", "n": str(index)})
        elif "tuple" in text:
            env[variable] = '["https://a.example", "https://b.example"]'
        elif "bool" in text:
            env[variable] = "true"
        elif "int" in text or "float" in text:
            env[variable] = str(index + 1)
        elif "Literal" in text:
            env[variable] = "allowlist"
        else:
            env[variable] = f"value-{index}"
    return env


CLASSES = settings_classes()


def test_every_function_settings_class_is_found() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {"FunctionSettings", "ApiSettings", "LiveSettings", "QuarantineSettings", "JobsSettings"} <= names
    assert len(CLASSES) > 15


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_the_values_read_are_pydantic_settings_own(
    cls: type[EnvironmentSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = pytest.importorskip("pydantic_settings.sources")
    for name, value in sample_environment(cls).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GUI_NOT_A_FIELD", "{}")
    theirs = sources.EnvSettingsSource(cls, case_sensitive=False)()
    # A field annotated with gui_core.settings.NoDecode (pydantic-settings knows its own marker only)
    # is compared by test_json_is_decoded_for_complex_fields_and_not_for_no_decode_ones.
    raw = {field.alias for field in cls.model_fields.values() if NoDecode in field.metadata}
    ours = environment_values(cls)
    assert {key: value for key, value in ours.items() if key not in raw} == {
        key: value for key, value in theirs.items() if key not in raw
    }
    assert ours.keys() == theirs.keys()
    assert theirs  # every class has fields read from the environment


def test_a_missing_variable_stops_the_build_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUARANTINE_QUEUE_URL", raising=False)
    with pytest.raises(ValidationError, match="QUARANTINE_QUEUE_URL"):
        QuarantineSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("quarantine_queue_url", "https://sqs.example/q")
    settings = QuarantineSettings()  # type: ignore[call-arg]
    assert settings.queue_url == "https://sqs.example/q"
    with pytest.raises(ValidationError):
        settings.queue_url = "other"  # frozen


def api_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "POWERTOOLS_SERVICE_NAME": "gui_jobs",
        "GUI_REGION": "eu-west-1",
        "AUDIT_TABLE": "audit",
        "TENANTS_TABLE": "tenants",
        "LIMITS_TABLE": "limits",
    }.items():
        monkeypatch.setenv(name, value)


def test_json_is_decoded_for_complex_fields_and_not_for_no_decode_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_environment(monkeypatch)
    monkeypatch.setenv("GUI_REGION_URLS", '{"us-east-1": "https://us.example"}')
    monkeypatch.setenv("GUI_CORS_ORIGINS", "https://a.example, ,https://b.example")
    monkeypatch.setenv("GUI_MAX_BODY_BYTES", "1024")
    settings = ApiSettings()  # type: ignore[call-arg]
    assert settings.region_urls == {"us-east-1": "https://us.example"}
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.max_body_bytes == 1024
    assert settings.stage == "prod"  # a default
    monkeypatch.setenv("GUI_REGION_URLS", "not json")
    with pytest.raises(ValueError, match="region_urls"):
        ApiSettings()  # type: ignore[call-arg]


def test_arguments_win_over_the_environment_and_mappings_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    api_environment(monkeypatch)
    monkeypatch.setenv("GUI_REGION_URLS", '{"us-east-1": "https://us.example"}')
    settings = ApiSettings(GUI_REGION="us-east-1", GUI_REGION_URLS={"eu-west-1": "https://eu.example"})  # type: ignore[call-arg]
    assert settings.region == "us-east-1"
    assert settings.region_urls == {"us-east-1": "https://us.example", "eu-west-1": "https://eu.example"}


def test_defaults_are_validated() -> None:
    class Limited(EnvironmentSettings):
        size: int = Field(default=0, alias="GUI_TEST_SIZE", gt=0)

    with pytest.raises(ValidationError, match="greater than 0"):
        Limited()


def test_a_union_with_a_complex_member_keeps_text_that_is_not_json(monkeypatch: pytest.MonkeyPatch) -> None:
    class Either(EnvironmentSettings):
        value: dict[str, Any] | str = Field(alias="GUI_TEST_EITHER")
        raw: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="GUI_TEST_RAW")

    monkeypatch.setenv("GUI_TEST_EITHER", "plain")
    assert Either().value == "plain"  # type: ignore[call-arg]
    monkeypatch.setenv("GUI_TEST_EITHER", '{"a": 1}')
    assert Either().value == {"a": 1}  # type: ignore[call-arg]
    monkeypatch.setenv("GUI_TEST_RAW", '["x"]')
    with pytest.raises(ValidationError):  # taken as text, which is not a list
        Either()  # type: ignore[call-arg]
