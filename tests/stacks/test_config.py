"""Deployment settings from context: regions, stage and each region's auth."""

from __future__ import annotations

import pytest

from stacks.config import DeploymentConfig, cdk_json_context, parse_cors_origins, parse_regions
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


def test_region_urls_cover_every_configured_region_even_when_one_is_synthesized() -> None:
    config = DeploymentConfig.from_context({**cdk_json_context(), "regions": "eu-west-1"})
    assert [r.region for r in config.regions] == ["eu-west-1"]
    assert set(config.region_urls) == set(cdk_json_context()["region_config"])


def test_a_base_url_must_be_https() -> None:
    context = cdk_json_context()
    broken = {**context["region_config"], "us-east-1": {**context["region_config"]["us-east-1"]}}
    broken["us-east-1"]["base_url"] = "http://us-east-1.gui.example.com"
    with pytest.raises(ValueError, match="https"):
        DeploymentConfig.from_context({**context, "region_config": broken})


def test_cors_origins_are_per_stage_or_global() -> None:
    per_stage = {"prod": ["https://gui.example.com"], "dev": ["http://localhost:5173"]}
    assert parse_cors_origins(per_stage, "prod") == ("https://gui.example.com",)
    assert parse_cors_origins(per_stage, "dev") == ("http://localhost:5173",)
    assert parse_cors_origins(per_stage, "test") == ()
    assert parse_cors_origins(["https://a.example.com", "https://a.example.com"], "x") == (
        "https://a.example.com",
    )
    assert parse_cors_origins("https://a.example.com,https://b.example.com", "x") == (
        "https://a.example.com",
        "https://b.example.com",
    )
    assert parse_cors_origins('{"x": ["https://c.example.com:8443"]}', "x") == ("https://c.example.com:8443",)
    assert parse_cors_origins(None, "x") == ()


@pytest.mark.parametrize(
    "bad",
    [
        "*",
        "null",
        "https://gui.example.com/",
        "https://gui.example.com/app",
        "http://gui.example.com",
        "HTTPS://GUI.EXAMPLE.COM",
        "gui.example.com",
        'https://a.com" || true',
    ],
)
def test_cors_origins_refuse_wildcards_paths_and_plain_http(bad: str) -> None:
    with pytest.raises(ValueError, match="CORS origin"):
        parse_cors_origins([bad], "prod")


def test_cdk_json_allows_the_prod_gui_origin() -> None:
    assert DeploymentConfig.from_context(cdk_json_context()).cors_origins == ("https://gui.example.com",)
