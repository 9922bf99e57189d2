"""Deployment settings from context: regions, stage and each region's auth."""

from __future__ import annotations

import json

import pytest

from stacks.app_builder import build_app
from stacks.config import (
    PLACEHOLDER_STAGES,
    DeploymentConfig,
    ReservedConcurrency,
    StreamCapacity,
    cdk_json_context,
    parse_cors_origins,
    parse_regions,
    parse_reserved_concurrency,
    parse_snap_start,
    parse_stream_capacity,
)
from stacks.manifest import DEFAULT_REGIONS, Manifest


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


def test_cdk_json_synthesizes_as_is_for_its_test_stage() -> None:
    """`make synth` (CI) runs `cdk synth` with cdk.json unchanged: its stage is one that accepts the
    placeholder settings, with more than one origin so the echoed-origin CORS headers are rendered."""
    config = DeploymentConfig.from_context(cdk_json_context())
    assert config.stage == "test"
    assert config.stage in PLACEHOLDER_STAGES
    assert len(config.cors_origins) > 1


REAL = {
    "regions": "eu-west-1,us-east-1",
    "stage": "prod",
    "cors_origins": {"prod": ["https://gui.domaindetermine.io"]},
    "region_config": {
        region: {
            "base_url": f"https://{region}.api.domaindetermine.io",
            "auth": {
                "issuer": "https://login.domaindetermine.io/",
                "audience": "ddgui-api",
                "jwks_url": "https://login.domaindetermine.io/.well-known/jwks.json",
            },
        }
        for region in ("eu-west-1", "us-east-1")
    },
}


def test_real_looking_settings_are_accepted_for_prod() -> None:
    config = DeploymentConfig.from_context(REAL)
    assert config.stage == "prod"
    assert config.cors_origins == ("https://gui.domaindetermine.io",)


@pytest.mark.parametrize(
    ("key", "placeholder"),
    [
        ("auth.issuer", "https://auth.example.com/"),
        ("auth.jwks_url", "https://auth.example.com/.well-known/jwks.json"),
        ("auth.jwks_url", "https://idp.example.org/keys"),
        ("auth.jwks_url", "https://localhost:8443/jwks.json"),
        ("auth.issuer", "https://idp.corp.invalid/"),
        ("base_url", "https://eu-west-1.gui.example.net"),
        ("base_url", "https://gui.test"),
        ("base_url", "https://127.0.0.1:8000"),
    ],
)
def test_prod_refuses_each_placeholder_setting_and_names_its_key(key: str, placeholder: str) -> None:
    context = json.loads(json.dumps(REAL))
    entry = context["region_config"]["us-east-1"]
    if key.startswith("auth."):
        entry["auth"][key.removeprefix("auth.")] = placeholder
    else:
        entry[key] = placeholder
    with pytest.raises(ValueError, match="placeholder") as refused:
        DeploymentConfig.from_context(context)
    message = str(refused.value)
    assert f"region_config.us-east-1.{key}" in message
    assert "-c region_config=" in message
    assert "cdk.json" in message


def test_prod_refuses_a_placeholder_cors_origin_and_the_cdk_json_defaults() -> None:
    context = {**REAL, "cors_origins": {"prod": ["https://gui.example.com"]}}
    with pytest.raises(ValueError, match="placeholder") as refused:
        DeploymentConfig.from_context(context)
    assert "cors_origins" in str(refused.value)
    assert "-c cors_origins=" in str(refused.value)
    # cdk.json's settings under any stage but a local or test one: every placeholder named at once.
    with pytest.raises(ValueError, match="placeholder") as refused:
        DeploymentConfig.from_context(
            {**cdk_json_context(), "stage": "prod", "cors_origins": ["https://gui.example.com"]}
        )
    message = str(refused.value)
    for region in ("eu-west-1", "us-east-1"):
        for key in ("base_url", "auth.issuer", "auth.jwks_url"):
            assert f"region_config.{region}.{key}" in message
    assert "cors_origins" in message


@pytest.mark.parametrize("stage", ["local", "test"])
def test_local_and_test_stages_accept_placeholders(stage: str) -> None:
    config = DeploymentConfig.from_context(
        {**cdk_json_context(), "stage": stage, "cors_origins": ["https://gui.example.com"]}
    )
    assert config.stage == stage


def test_the_app_refuses_to_build_prod_with_cdk_json_placeholders() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        build_app(validate=False, regions=["eu-west-1"], context={"stage": "prod"})


def test_reserved_concurrency_is_the_manifest_s_unless_the_stage_changes_it(manifest: Manifest) -> None:
    stream, authorizer = manifest.function("gui_stream"), manifest.function("gui_authorizer")
    assert stream.reserved_concurrency is not None
    default = parse_reserved_concurrency(None, "prod")
    assert default.of(stream) == stream.reserved_concurrency
    assert default.of(authorizer) == authorizer.reserved_concurrency

    per_stage = parse_reserved_concurrency(
        '{"prod": {"gui_stream": 200, "gui_authorizer": 50}, "dev": {"gui_stream": null}}', "prod"
    )
    assert (per_stage.of(stream), per_stage.of(authorizer)) == (200, 50)
    dev = parse_reserved_concurrency({"prod": {"gui_stream": 200}, "dev": {"gui_stream": None}}, "dev")
    assert dev.of(stream) is None, "null drops the manifest's reservation"
    assert parse_reserved_concurrency({"prod": {"gui_stream": 200}}, "test").of(stream) == (
        stream.reserved_concurrency
    ), "a stage without an entry keeps the manifest's"
    assert parse_reserved_concurrency({"prod": {"gui_stream": "off"}}, "prod").of(stream) is None


@pytest.mark.parametrize(
    "off", ["off", False, "false", "none", {"prod": "off"}, {"prod": False}, '{"prod": false}']
)
def test_reservations_can_be_turned_off_for_an_account_with_a_low_concurrency_quota(
    off: object, manifest: Manifest
) -> None:
    settings = parse_reserved_concurrency(off, "prod")
    assert all(settings.of(fn) is None for fn in manifest.all_functions())
    assert parse_reserved_concurrency({"prod": "off"}, "test").of(manifest.function("gui_stream")) is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"prod": {"gui_stream": 0}}, "at least 1"),
        ({"prod": {"gui_stream": "many"}}, "a whole number"),
        ({"prod": {"gui_stream": True}}, "a whole number"),
        ({"prod": ["gui_stream"]}, "reserved_concurrency.prod"),
        ({"prod": 5}, "reserved_concurrency.prod"),
        (42, "reserved_concurrency"),
        ("lots", "reserved_concurrency"),
    ],
)
def test_bad_reserved_concurrency_settings_are_refused(value: object, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        parse_reserved_concurrency(value, "prod")


def test_a_reservation_for_a_function_the_app_lacks_is_refused(manifest: Manifest) -> None:
    context = {**cdk_json_context(), "reserved_concurrency": {"test": {"gui_strem": 5}}}
    with pytest.raises(ValueError, match="gui_strem"):
        DeploymentConfig.from_context(context).reserved_concurrency.check(manifest)
    assert DeploymentConfig.from_context(cdk_json_context()).reserved_concurrency == ReservedConcurrency()


def test_the_stream_s_capacity_is_the_stage_s_or_the_manifest_s(manifest: Manifest) -> None:
    assert parse_stream_capacity(None, "prod") == StreamCapacity("provisioned", 1)
    assert parse_stream_capacity(None, "prod", default_shards=manifest.stream.shards).shards == (
        manifest.stream.shards
    )
    per_stage = {"prod": {"shards": 4}, "dev": "on_demand", "test": 2}
    assert parse_stream_capacity(per_stage, "prod") == StreamCapacity("provisioned", 4)
    assert parse_stream_capacity(per_stage, "dev").on_demand
    assert parse_stream_capacity(per_stage, "test") == StreamCapacity("provisioned", 2)
    assert parse_stream_capacity(per_stage, "staging") == StreamCapacity("provisioned", 1)
    # On the command line: a JSON string, a bare number or a mode for every stage.
    assert parse_stream_capacity('{"prod": {"mode": "on_demand"}}', "prod").on_demand
    assert parse_stream_capacity("3", "prod") == StreamCapacity("provisioned", 3)
    assert parse_stream_capacity("on-demand", "prod").on_demand
    assert parse_stream_capacity({"shards": 6}, "prod") == StreamCapacity("provisioned", 6)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"prod": 0}, ValueError),
        ({"prod": 201}, ValueError),
        ({"prod": "sharded"}, ValueError),
        ({"prod": True}, TypeError),
        ({"prod": {"shards": "four"}}, TypeError),
        ({"prod": [2]}, TypeError),
    ],
)
def test_a_bad_stream_capacity_is_refused(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_stream_capacity(value, "prod")


def test_the_deployment_reads_the_stream_capacity_from_context() -> None:
    config = DeploymentConfig.from_context({**cdk_json_context(), "stream_capacity": {"test": 3}})
    assert config.stream_capacity == StreamCapacity("provisioned", 3)


def test_snap_start_is_on_for_production_stages_and_off_for_the_others_unless_set() -> None:
    assert parse_snap_start(None, "prod") is True
    assert parse_snap_start(None, "production") is True
    for stage in ("dev", "local", "test", "staging"):
        assert parse_snap_start(None, stage) is False, stage
        assert parse_snap_start({"prod": False}, stage) is False, stage
    assert parse_snap_start({"prod": False}, "prod") is False
    assert parse_snap_start({"dev": True}, "dev") is True
    assert parse_snap_start({"dev": True}, "prod") is True  # prod has no entry: its default
    # The command line's forms: -c snap_start=off, -c snap_start='{"prod": "off"}'.
    assert parse_snap_start("off", "prod") is False
    assert parse_snap_start("on", "dev") is True
    assert parse_snap_start('{"prod": "off"}', "prod") is False
    assert parse_snap_start(False, "prod") is False


@pytest.mark.parametrize("value", ["sometimes", 2, ["prod"], {"prod": "maybe"}])
def test_bad_snap_start_settings_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="snap_start"):
        parse_snap_start(value, "prod")


def test_the_context_s_snap_start_reaches_the_deployment_config() -> None:
    context = cdk_json_context()
    assert DeploymentConfig.from_context({**context, "stage": "test"}).snap_start is True  # cdk.json
    assert DeploymentConfig.from_context({**context, "snap_start": None, "stage": "test"}).snap_start is False
    assert DeploymentConfig.from_context({**context, "snap_start": "off"}).snap_start is False
