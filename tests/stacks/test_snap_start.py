"""SnapStart per stage: the manifest's `snap_start` functions get a published version and the `live`
alias, and everything that invokes them names the alias; a stage without it deploys none of that.

The session's synthesis is cdk.json's `test` stage, which turns SnapStart on (the production shape,
so cdk-nag and cfn-lint see it); one more synthesis here turns it off.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gui_core.snapstart import WARMUP_ENV, warmup_event
from stacks.app_builder import build_app
from stacks.constructs.functions import LIVE_ALIAS, warmup_request
from stacks.manifest import Manifest
from stacks.manifest_model import Function
from stacks.naming import stack_name
from tests.stacks import cfn
from tests.stacks.conftest import Synthesized, synth_with_checks

CLOUDFORMATION_RESOURCE_LIMIT = 500


def test_a_snap_start_function_keeps_lambda_s_limits_and_is_on_a_latency_path(manifest: Manifest) -> None:
    with pytest.raises(ValueError, match="SnapStart"):
        Function(
            name="f", handler="f.handler.handler", purpose="-", ephemeral_storage_mb=1024, snap_start=True
        )
    for fn in _snap_started(manifest):
        # A route, the authorizer, the WebSocket routes or the events stream: a request warms it.
        assert warmup_request(manifest, fn) != "none", fn.name


def _snap_started(manifest: Manifest) -> list[Function]:
    return [fn for fn in manifest.all_functions() if fn.snap_start]


def _aliases(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Function logical id -> (alias logical id, alias properties)."""
    found = {}
    for alias_id, alias in cfn.resources(template, "AWS::Lambda::Alias").items():
        (function_id,) = cfn.references(cfn.props(alias)["FunctionName"])
        found[function_id] = (alias_id, cfn.props(alias))
    return found


def test_the_test_stage_deploys_the_production_shape(synthesized: Synthesized) -> None:
    assert synthesized.config.snap_start, "cdk.json turns SnapStart on for the test stage"


def test_the_latency_path_functions_get_a_version_and_the_live_alias(
    template: dict[str, Any], manifest: Manifest
) -> None:
    functions = cfn.functions_by_name(template)
    aliases = _aliases(template)
    versions = cfn.resources(template, "AWS::Lambda::Version")
    snap_started = {fn.name for fn in _snap_started(manifest)}
    assert snap_started
    for name, function_id in functions.items():
        props = cfn.props(template["Resources"][function_id])
        if name not in snap_started:
            assert "SnapStart" not in props, name
            assert function_id not in aliases, name
            continue
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}, name
        assert props["EphemeralStorage"]["Size"] <= 512, name  # Lambda refuses SnapStart above
        (version_id,) = [
            k for k, v in versions.items() if cfn.references(cfn.props(v)["FunctionName"]) == {function_id}
        ]
        # A replaced version goes: each one kept would keep its snapshot cached, and billed.
        assert versions[version_id]["DeletionPolicy"] == "Delete", name
        _, alias = aliases[function_id]
        assert alias["Name"] == LIVE_ALIAS
        assert alias["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}, name
        # The before-snapshot hook's request: a kind the function answers without I/O.
        request = props["Environment"]["Variables"][WARMUP_ENV]
        assert request == warmup_request(manifest, manifest.function(name))
        assert warmup_event(request, "eu-west-1") is not None, name


def test_nothing_invokes_a_snap_started_function_but_through_its_alias(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """Invoke permissions (API Gateway's routes and authorizers, the WebSocket routes), the event
    source mappings, rules and schedules: an unqualified invocation would run $LATEST, which is
    never snapshotted, and pay the whole cold start."""
    functions = cfn.functions_by_name(template)
    aliases = _aliases(template)
    snap_started = {functions[fn.name] for fn in _snap_started(manifest)}
    invoked: dict[str, int] = {}
    for resource_type, key in (
        ("AWS::Lambda::Permission", "FunctionName"),
        ("AWS::Lambda::EventSourceMapping", "FunctionName"),
    ):
        for logical_id, resource in cfn.resources(template, resource_type).items():
            names = cfn.props(resource)[key]
            function_id = cfn.invoked_function(template, names)
            if function_id in snap_started:
                assert cfn.references(names) == {aliases[function_id][0]}, logical_id
                invoked[function_id] = invoked.get(function_id, 0) + 1
    for rule in cfn.resources(template, "AWS::Events::Rule").values():
        for target in cfn.props(rule).get("Targets", []):
            assert not cfn.references(target["Arn"]) & snap_started, target
    assert set(invoked) == snap_started, "each SnapStart function has an invoker, through its alias"
    fanout = next(fn for fn in _snap_started(manifest) if fn.kinesis_sources)
    assert invoked[functions[fanout.name]] >= 1


def test_the_stack_stays_under_cloudformation_s_resource_limit(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """Two resources a SnapStart function (its version and alias); permissions move to the alias."""
    count = len(template["Resources"])
    assert count < CLOUDFORMATION_RESOURCE_LIMIT, count
    assert len(cfn.resources(template, "AWS::Lambda::Alias")) == len(_snap_started(manifest))


@pytest.mark.slow
def test_a_stage_without_snap_start_deploys_no_version_or_alias_and_passes_the_checks(
    tmp_path: Path, manifest: Manifest, synthesized: Synthesized
) -> None:
    region = "eu-west-1"
    findings = synth_with_checks(
        build_app(
            validate=True, outdir=str(tmp_path), regions=[region], context={"snap_start": {"test": False}}
        ),
        tmp_path,
    )
    assert findings == [], "\n".join(findings)
    off = json.loads((tmp_path / f"{stack_name(region)}.template.json").read_text())
    functions = cfn.functions_by_name(off)
    assert not cfn.resources(off, "AWS::Lambda::Alias")
    assert not any("SnapStart" in cfn.props(f) for f in cfn.resources(off, "AWS::Lambda::Function").values())
    assert not any(WARMUP_ENV in cfn.props(f).get("Environment", {}).get("Variables", {})
                   for f in cfn.resources(off, "AWS::Lambda::Function").values())  # fmt: skip
    for permission in cfn.resources(off, "AWS::Lambda::Permission").values():
        assert cfn.references(cfn.props(permission)["FunctionName"]) <= set(functions.values())
    # What SnapStart costs in resources: a version and an alias per function, nothing else.
    on = synthesized.templates[region]
    assert len(on["Resources"]) - len(off["Resources"]) == 2 * len(_snap_started(manifest))
