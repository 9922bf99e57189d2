"""Deployment settings read from CDK context: regions, stage, each region's auth and URL, CORS origins,
reserved concurrency, the events stream's capacity, SnapStart.

A plain `cdk.App()` (as in pytest) does not read cdk.json, so `cdk_json_context` reads its context
for callers that build the app themselves; the CLI's own context (`-c`) still wins over it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stacks.manifest_model import Function, Manifest

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


def base_url(value: Any, *, where: str) -> str:
    """A region's public URL: https, no trailing slash (the functions append paths to it)."""
    url = str(value).rstrip("/")
    if not url.startswith("https://") or len(url) <= len("https://"):
        raise ValueError(f"context '{where}' must be an https:// URL, not {value!r}")
    return url


def region_urls(region_config: Mapping[str, Any]) -> dict[str, str]:
    """{region: base_url} of every region in `region_config`, deployed in this run or not."""
    urls: dict[str, str] = {}
    for region, entry in region_config.items():
        if not isinstance(entry, Mapping) or "base_url" not in entry:
            raise ValueError(f"context 'region_config.{region}' lacks 'base_url'")
        urls[region] = base_url(entry["base_url"], where=f"region_config.{region}.base_url")
    return urls


def parse_cors_origins(value: Any, stage: str) -> tuple[str, ...]:
    """The browser origins allowed for `stage`.

    `cors_origins` is either one list for every stage or {stage: list}; on the command line
    (`-c cors_origins=...`) it is a JSON string or a comma-separated list. A stage without an entry
    allows no cross-origin caller.
    """
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text[:1] in "[{" else [item for item in text.split(",") if item.strip()]
    if isinstance(value, Mapping):
        value = value.get(stage) or []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError("context 'cors_origins' must be a list of origins, or {stage: list}")
    return tuple(dict.fromkeys(origin(str(item)) for item in value))


def origin(value: str) -> str:
    """A serialized origin, exactly as a browser sends it: https://host[:port], or http for loopback.

    No wildcard (the allowlist is the point) and no path: `Origin` never has one, so such an entry
    would never match.
    """
    found = _ORIGIN.fullmatch(value.strip())
    if found is None or (found["scheme"] == "http" and found["host"] not in _LOOPBACK_HOSTS):
        raise ValueError(
            f"CORS origin {value!r} must be https://host[:port] (http only for localhost), "
            "lower-case, without a path or wildcard"
        )
    return found.group(0)


_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<host>[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:[0-9]{1,5})?")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1")

# Stages that may run on placeholder settings (cdk.json's example hosts): nothing real trusts them.
# Any other stage refuses them, so a deployment cannot go out with an issuer nobody runs.
PLACEHOLDER_STAGES = ("local", "test")
# Hosts that can never be a deployment's: the names reserved for documentation and testing (RFC 2606,
# RFC 6761) and the loopback.
PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")
PLACEHOLDER_SUFFIXES = (".test", ".example", ".invalid", ".localhost", ".local")
PLACEHOLDER_HOSTS = ("localhost", "0.0.0.0", "::1")  # noqa: S104 - names refused, not bound
AUTH_URLS = ("issuer", "jwks_url")  # the identity provider's settings that are URLs


def placeholder_host(url: str) -> str | None:
    """The host of `url` when it is a placeholder (reserved for examples, or the loopback), else None."""
    host = (urlsplit(url.strip()).hostname or "").rstrip(".").lower()
    reserved = (
        host in PLACEHOLDER_HOSTS
        or host.startswith("127.")
        or any(host == d or host.endswith(f".{d}") for d in PLACEHOLDER_DOMAINS)
        or any(host == s[1:] or host.endswith(s) for s in PLACEHOLDER_SUFFIXES)
    )
    return host if reserved else None


def placeholder_settings(
    stage: str, region_config: Mapping[str, Any], regions: Sequence[str], cors_origins: Sequence[str]
) -> list[str]:
    """`key: value` of every placeholder among the settings a deployment of `stage` trusts: every
    region's base URL (each stack holds them all), the synthesized regions' issuer and JWKS URL, and
    the stage's CORS origins. None for a local or test stage."""
    if stage in PLACEHOLDER_STAGES:
        return []
    found: list[tuple[str, str]] = []
    for region, entry in region_config.items():
        found.append((f"region_config.{region}.base_url", str(entry.get("base_url", ""))))
        if region in regions:
            auth = entry.get("auth") or {}
            found += [(f"region_config.{region}.auth.{key}", str(auth.get(key, ""))) for key in AUTH_URLS]
    found += [(f"cors_origins ({stage})", origin) for origin in cors_origins]
    return [f"{key} = {value!r}: {host}" for key, value in found if (host := placeholder_host(value))]


def refuse_placeholders(
    stage: str, region_config: Mapping[str, Any], regions: Sequence[str], cors_origins: Sequence[str]
) -> None:
    """Refuse, naming each key and how to set it, a stage other than a local or test one whose
    settings still hold placeholders."""
    found = placeholder_settings(stage, region_config, regions, cors_origins)
    if found:
        listed = "\n  ".join(found)
        raise ValueError(
            f"stage {stage!r} would deploy placeholder settings (hosts reserved for examples, or the "
            f"loopback):\n  {listed}\nSet the real values in the context of cdk.json, or on the command "
            'line: -c region_config=\'{"<region>": {"base_url": "https://...", "auth": '
            '{"issuer": "...", "audience": "...", "jwks_url": "..."}}, ...}\' (every '
            f'region) and -c cors_origins=\'{{"{stage}": ["https://<your GUI\'s host>"]}}\'. Placeholders '
            f"are accepted only for the stages {', '.join(PLACEHOLDER_STAGES)} (-c stage=test)."
        )


RESERVATIONS_OFF = ("off", "false", "none")


@dataclass(frozen=True)
class ReservedConcurrency:
    """A stage's changes to the functions' reserved concurrency (`Function.reserved_concurrency`):
    a number per function, None to drop the manifest's, or every reservation off (`off`: Lambda
    refuses a reservation that leaves the account under 100 unreserved executions, and a new
    account's quota may be 10)."""

    off: bool = False
    overrides: Mapping[str, int | None] = field(default_factory=dict)

    def of(self, fn: Function) -> int | None:
        """The reserved concurrency `fn` gets in this stage."""
        if self.off:
            return None
        return self.overrides.get(fn.name, fn.reserved_concurrency)  # a None kept: dropped

    def check(self, manifest: Manifest) -> None:
        known = {fn.name for fn in manifest.all_functions()}
        unknown = sorted(set(self.overrides) - known)
        if unknown:
            raise ValueError(f"context 'reserved_concurrency' names functions the app lacks: {unknown}")


def _off(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() in RESERVATIONS_OFF)


def parse_reserved_concurrency(value: Any, stage: str) -> ReservedConcurrency:
    """`reserved_concurrency` from context: `{stage: {function: n or "off"}}`, `{stage: "off"}`, or
    `off` for every stage; on the command line a JSON string, where `null` also drops a function's
    reservation (the CDK's context loses a JSON null inside cdk.json, hence "off"). A stage without an
    entry keeps the manifest's reservations."""
    if isinstance(value, str) and value.strip()[:1] in "[{":
        value = json.loads(value)
    if isinstance(value, Mapping):
        value = value.get(stage)
    elif value is not None and not _off(value):
        raise TypeError(f"context 'reserved_concurrency' must be {{stage: ...}} or 'off', not {value!r}")
    if value is None:
        return ReservedConcurrency()
    if _off(value):
        return ReservedConcurrency(off=True)
    if not isinstance(value, Mapping):
        raise TypeError(
            f"context 'reserved_concurrency.{stage}' must be {{function: n or 'off'}} or 'off', not {value!r}"
        )
    overrides: dict[str, int | None] = {}
    for name, number in value.items():
        if number is None or _off(number):
            overrides[str(name)] = None
            continue
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"context 'reserved_concurrency.{stage}.{name}' must be a whole number or 'off'")
        if number < 1:
            raise ValueError(
                f"context 'reserved_concurrency.{stage}.{name}' must be at least 1 (0 stops the function)"
            )
        overrides[str(name)] = number
    return ReservedConcurrency(overrides=overrides)


STREAM_MODES = ("provisioned", "on_demand")
# Kinesis' own bounds: a provisioned stream's shards per UpdateShardCount-able stream (the account's
# default shard quota is 200 in the large regions, 50 elsewhere: a figure above it fails the deploy).
MAX_SHARDS = 200


@dataclass(frozen=True)
class StreamCapacity:
    """How a stage sizes the GUI events stream: provisioned with `shards` shards (1,000 records or
    1 MB written per second each, 2 MB read per second shared by the consumers), or on demand
    (Kinesis scales it, billed per stream hour and per GB). docs/decision_log.md says which and why."""

    mode: str = "provisioned"
    shards: int = 1

    def __post_init__(self) -> None:
        if self.mode not in STREAM_MODES:
            raise ValueError(f"a stream's mode is one of {STREAM_MODES}, not {self.mode!r}")
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ValueError(f"a provisioned stream has 1 to {MAX_SHARDS} shards, not {self.shards}")

    @property
    def on_demand(self) -> bool:
        return self.mode == "on_demand"


def parse_stream_capacity(value: Any, stage: str, *, default_shards: int = 1) -> StreamCapacity:
    """`stream_capacity` from context: `{stage: shards}`, `{stage: "on_demand"}` or
    `{stage: {"mode": ..., "shards": n}}`, or one of those for every stage; on the command line a
    JSON string or a bare number. A stage without an entry gets the manifest's shards, provisioned."""
    if isinstance(value, str) and value.strip()[:1] in "[{":
        value = json.loads(value)
    if isinstance(value, Mapping) and not ({"mode", "shards"} & set(value)):
        value = value.get(stage)
    if value is None or value == "":
        return StreamCapacity(shards=default_shards)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, str):
        return StreamCapacity(mode=value.strip().lower().replace("-", "_"), shards=default_shards)
    if isinstance(value, bool) or not isinstance(value, int | Mapping):
        raise TypeError(
            f"context 'stream_capacity' for {stage!r} must be a number of shards, 'on_demand' or "
            f"{{'mode': ..., 'shards': n}}, not {value!r}"
        )
    if isinstance(value, int):
        return StreamCapacity(shards=value)
    shards = value.get("shards", default_shards)
    if isinstance(shards, bool) or not isinstance(shards, int):
        raise TypeError(f"context 'stream_capacity.{stage}.shards' must be a whole number")
    return StreamCapacity(mode=str(value.get("mode", "provisioned")), shards=shards)


# Stages that are production: SnapStart is on there unless the context turns it off.
PRODUCTION_STAGES = ("prod", "production")
_ON = ("on", "true", "yes", "1")
_OFF = ("off", "false", "no", "0")


def _switch(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _ON + _OFF:
        return value.strip().lower() in _ON
    raise TypeError(f"context '{where}' must be true/false (or on/off), not {value!r}")


def parse_snap_start(value: Any, stage: str) -> bool:
    """Whether `stage` deploys the manifest's SnapStart functions with SnapStart (a published
    version per deployment, the `live` alias that API Gateway and the mappings invoke, runtime hooks):
    `snap_start` from context is `{stage: true/false}` or one value for every stage; on the command
    line `-c snap_start=off` or a JSON string. A stage without an entry: on for the production stages
    (PRODUCTION_STAGES), off for the others (dev, test, local). docs/gui/backend_support_runbook.md
    says what it costs and how to turn it off."""
    if isinstance(value, str) and value.strip()[:1] == "{":
        value = json.loads(value)
    if isinstance(value, Mapping):
        value = value.get(stage)
        where = f"snap_start.{stage}"
    else:
        where = "snap_start"
    if value is None or value == "":
        return stage in PRODUCTION_STAGES
    return _switch(value, where)


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
                base_url=base_url(entry["base_url"], where=f"region_config.{region}.base_url"),
                auth=AuthConfig(
                    issuer=str(auth["issuer"]), audience=str(auth["audience"]), jwks_url=str(auth["jwks_url"])
                ),
            )
        except KeyError as exc:
            raise ValueError(f"context 'region_config.{region}' lacks {exc.args[0]!r}") from None


@dataclass(frozen=True)
class DeploymentConfig:
    stage: str
    regions: tuple[RegionConfig, ...]  # the regions synthesized in this run
    # Every region of `region_config`, synthesized in this run or not: a stack deployed alone
    # (`-c regions=eu-west-1`) must still send a tenant homed in us-east-1 to its URL.
    region_urls: dict[str, str] = field(default_factory=dict)
    cors_origins: tuple[str, ...] = ()
    reserved_concurrency: ReservedConcurrency = field(default_factory=ReservedConcurrency)
    stream_capacity: StreamCapacity = field(default_factory=StreamCapacity)
    snap_start: bool = False  # the manifest's SnapStart functions get it (`parse_snap_start`)

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
        config = cls(
            stage=stage,
            regions=tuple(RegionConfig.from_context(r, region_config) for r in chosen),
            region_urls=region_urls(region_config),
            cors_origins=parse_cors_origins(context.get("cors_origins"), stage),
            reserved_concurrency=parse_reserved_concurrency(context.get("reserved_concurrency"), stage),
            stream_capacity=parse_stream_capacity(context.get("stream_capacity"), stage),
            snap_start=parse_snap_start(context.get("snap_start"), stage),
        )
        refuse_placeholders(stage, region_config, chosen, config.cors_origins)
        return config
