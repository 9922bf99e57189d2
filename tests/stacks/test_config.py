"""Deployment settings from context: regions, stage and each region's auth."""

from __future__ import annotations

import pytest

from stacks.config import DeploymentConfig, cdk_json_context, parse_regions
from stacks.manifest import DEFAULT_REGIONS


def test_regions_parse_from_the_command_line_form() -> None:
    assert parse_regions(" eu-west-1, us-east-1,,eu-west-1") == ("eu-west-1", "us-east-1")
    with pytest.raises(ValueError, match="no region"):
        parse_regions(" , ")


def test_cdk_json_configures_every_default_region() -> None:
    config = DeploymentConfig.from_context(cdk_json_context())
    assert tuple(r.region for r in config.regions) == DEFAULT_REGIONS
    for region in config.regions:
        assert region.base_url.startswith("https://")
        assert region.auth.jwks_url.startswith("https://")


def test_a_region_without_settings_is_refused() -> None:
    context = {**cdk_json_context(), "regions": "ap-southeast-2"}
    with pytest.raises(ValueError, match="ap-southeast-2"):
        DeploymentConfig.from_context(context)
