"""Settings: one pydantic model per function, read from the environment at cold start.

Logic never reads `os.environ`; a handler builds its settings once, and a missing or malformed
variable stops the cold start with a message naming it.

`EnvironmentSettings` reads the environment as pydantic-settings' `BaseSettings` did with the
configuration every settings class here had (`case_sensitive=False`, no prefix, no dotenv file, no
secrets directory, no nested delimiter): a field's variable is its alias, whatever its case; a
field of a complex type (a mapping, a sequence but text, a set, a model or dataclass) is decoded
from JSON unless annotated `NoDecode`, a union holding one is decoded when its value is JSON and
taken as text otherwise; the arguments given win over the environment (a mapping merged key by
key); defaults are validated. Importing pydantic-settings (its sources: dotenv, the command line,
the cloud providers' secret stores) cost every cold start about 25 ms of CPU beyond pydantic's own
import, a sixth of a bare boto3 handler's whole cold start (issue 17).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class NoDecode:
    """A field annotated with it takes its variable's text as it is (it parses it itself)."""


class EnvironmentSettings(BaseModel):
    """Settings read from the environment when they are built (see the module doc)."""

    model_config = ConfigDict(frozen=True, extra="ignore", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return _merged(environment_values(cls), data)


def environment_values(settings: type[BaseModel]) -> dict[str, Any]:
    """The values the environment gives `settings`' fields, by alias (JSON decoded where it is due)."""
    variables = {name.lower(): value for name, value in os.environ.items()}
    values: dict[str, Any] = {}
    for name, field in settings.model_fields.items():
        key = field.alias or name
        value = variables.get(key.lower())
        if value is None:
            continue
        complex_type, text_allowed = _complex(field.annotation, field.metadata)
        if complex_type:
            try:
                values[key] = json.loads(value)
            except ValueError as exc:
                if not text_allowed:
                    raise ValueError(
                        f'error parsing value for field "{name}" from the environment ({key})'
                    ) from exc
                values[key] = value
        else:
            values[key] = value
    return values


def _complex(annotation: Any, metadata: Sequence[Any]) -> tuple[bool, bool]:
    """(decoded from JSON, its text kept when it is not JSON): pydantic-settings' rule."""
    if any(isinstance(item, NoDecode) or item is NoDecode for item in metadata):
        return False, False
    if get_origin(annotation) is Annotated:
        inner, *more = get_args(annotation)
        return _complex(inner, [*metadata, *more])
    if get_origin(annotation) in (Union, UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        return any(_complex(arg, metadata)[0] for arg in members), True
    return _is_complex(annotation) or _is_complex(get_origin(annotation)), False


def _is_complex(kind: Any) -> bool:
    if kind in (str, bytes) or not isinstance(kind, type):
        return False
    return issubclass(kind, (BaseModel, Mapping, Sequence, tuple, set, frozenset, deque)) or (
        dataclasses.is_dataclass(kind)
    )


def _merged(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` over `base`, mappings merged key by key (pydantic-settings' deep update)."""
    merged = dict(base)
    for key, value in given.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def lambda_tmp(*parts: str) -> Path:
    """A folder under the function's /tmp (Lambda's ephemeral storage): `TMPDIR` when set, as the
    local runtime sets it to each container's own folder of the configured size, else /tmp."""
    return Path(os.environ.get("TMPDIR") or "/tmp", *parts)  # noqa: S108 - Lambda's /tmp


class FunctionSettings(EnvironmentSettings):
    """Fields every function has."""

    service_name: str = Field(alias="POWERTOOLS_SERVICE_NAME")
    region: str = Field(alias="GUI_REGION")
    stage: str = Field(default="prod", alias="GUI_STAGE")


class ApiSettings(FunctionSettings):
    """Fields of every REST function: the platform stores, the regions, the limits of a request."""

    audit_table: str = Field(alias="AUDIT_TABLE")
    tenants_table: str = Field(alias="TENANTS_TABLE")
    limits_table: str = Field(alias="LIMITS_TABLE")
    region_urls: dict[str, str] = Field(default_factory=dict, alias="GUI_REGION_URLS")
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(default=(), alias="GUI_CORS_ORIGINS")
    max_body_bytes: int = Field(default=256 * 1024, alias="GUI_MAX_BODY_BYTES", gt=0)
    rate_limiting: bool = Field(default=True, alias="GUI_RATE_LIMITING")
    replay_window_s: int = Field(default=600, alias="GUI_REPLAY_WINDOW_S", ge=0)
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
    # The region's cursor key (gui_core.cursors), given to the functions with paged routes only.
    cursor_key_secret_arn: str | None = Field(default=None, alias="CURSOR_KEY_SECRET_ARN", min_length=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value


class LiveSettings(FunctionSettings):
    """Fields of the functions that post to WebSocket connections (the fan-out and the WebSocket
    function): the live stores, the replay window, the connections' lifetime, the management URL."""

    tenants_table: str = Field(alias="TENANTS_TABLE")
    connections_table: str = Field(alias="CONNECTIONS_TABLE")
    events_table: str = Field(alias="EVENTS_TABLE")
    inbox_table: str = Field(alias="INBOX_TABLE")
    replay_window_s: int = Field(alias="REPLAY_WINDOW_S", gt=0)
    connection_ttl_s: int = Field(alias="CONNECTION_TTL_S", gt=0)
    retention_days: int = Field(default=90, alias="NOTIFICATION_RETENTION_DAYS", gt=0, le=3650)
    connections_url: str = Field(alias="GUI_CONNECTIONS_URL", min_length=1)
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
