"""Deployment settings read from CDK context: regions, stage and each region's auth and URL.

A plain `cdk.App()` (as in pytest) does not read cdk.json, so `cdk_json_context` reads its context
for callers that build the app themselves; the CLI's own context (`-c`) still wins over it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = ROOT / "cdk.json"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    context: dict[str, Any] = json.loads(path.read_text())["context"]
    return context


def parse_regions(value: str | Sequence[str]) -> tuple[str, ...]:
    """`eu-west-1,us-east-1` (as `-c regions=...` gives it) or a list, without blanks or repeats."""
    items = value.split(",") if isinstance(value, str) else list(value)
    regions = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    if not regions:
        raise ValueError("context 'regions' names no region")
    return regions


@dataclass(frozen=True)
class AuthConfig:
    """Who issues the bearer tokens a region accepts, and where their signing keys are."""

    issuer: str
    audience: str
    jwks_url: str


@dataclass(frozen=True)
class RegionConfig:
    region: str
    base_url: str  # public URL of the region's API, for residency answers (421) of other regions
    auth: AuthConfig

    @classmethod
    def from_context(cls, region: str, region_config: Mapping[str, Any]) -> RegionConfig:
        entry = region_config.get(region)
        if entry is None:
            raise ValueError(f"context 'region_config' has no entry for region {region!r}")
        if not isinstance(entry, Mapping):
            raise TypeError(f"context 'region_config.{region}' must be an object")
        try:
            auth = entry["auth"]
            return cls(
                region=region,
                base_url=str(entry["base_url"]),
                auth=AuthConfig(
                    issuer=str(auth["issuer"]), audience=str(auth["audience"]), jwks_url=str(auth["jwks_url"])
                ),
            )
        except KeyError as exc:
            raise ValueError(f"context 'region_config.{region}' lacks {exc.args[0]!r}") from None


@dataclass(frozen=True)
class DeploymentConfig:
    stage: str
    regions: tuple[RegionConfig, ...]

    @classmethod
    def from_context(
        cls, context: Mapping[str, Any], regions: tuple[str, ...] | None = None
    ) -> DeploymentConfig:
        chosen = regions or parse_regions(context.get("regions") or "")
        region_config = context.get("region_config") or {}
        if isinstance(region_config, str):  # `-c region_config=...` arrives as a JSON string
            region_config = json.loads(region_config)
        stage = str(context.get("stage") or "")
        if not stage:
            raise ValueError("context 'stage' is empty")
        return cls(stage=stage, regions=tuple(RegionConfig.from_context(r, region_config) for r in chosen))
