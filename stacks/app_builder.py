"""Build the CDK app: one regional stack per region, with the cdk-nag checks when validating."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import DeploymentConfig, cdk_json_context, parse_regions
from stacks.manifest import MANIFEST
from stacks.manifest_model import Manifest
from stacks.naming import stack_name
from stacks.regional_stack import RegionalStack

CONTEXT_KEYS = (
    "regions",
    "stage",
    "region_config",
    "cors_origins",
    "reserved_concurrency",
    "stream_capacity",
    "snap_start",
)


def build_app(
    *,
    regions: Sequence[str] | None = None,
    validate: bool = True,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    manifest: Manifest = MANIFEST,
) -> cdk.App:
    """The app with one `RegionalStack` per region (`DdGui-<region>`, region set, account not).

    `context` overrides cdk.json's context, which is read here because a plain `cdk.App()` (pytest)
    does not read it; under the CLI, `-c key=value` still wins over both. `regions` defaults to the
    context's `regions`.
    """
    app = cdk.App(
        context={**cdk_json_context(), **(context or {})},
        outdir=outdir,
        analytics_reporting=False,
    )
    settings = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    config = DeploymentConfig.from_context(settings, parse_regions(regions) if regions else None)
    for region_config in config.regions:
        RegionalStack(
            app,
            stack_name(region_config.region),
            manifest=manifest,
            region_config=region_config,
            stage=config.stage,
            region_urls=config.region_urls,
            cors_origins=config.cors_origins,
            reserved_concurrency=config.reserved_concurrency,
            stream_capacity=config.stream_capacity,
            snap_start=config.snap_start,
        )
    if validate:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
