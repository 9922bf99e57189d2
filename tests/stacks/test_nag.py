"""cdk-nag AwsSolutions: no finding left unacknowledged, and every acknowledgement is reasoned."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks

from stacks.app_builder import build_app
from stacks.manifest import BUCKET_ACTIONS, Access, Manifest
from stacks.naming import stack_name
from tests.stacks import cfn
from tests.stacks.conftest import Synthesized, synth_with_checks


def _synth_with_checks(outdir: Path, **kwargs: Any) -> list[str]:
    return synth_with_checks(build_app(validate=True, outdir=str(outdir), **kwargs), outdir)


def test_aws_solutions_checks_leave_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    """The session's synthesis of every region ran the checks, as `cdk synth` does."""
    assert synthesized.findings == (), "unacknowledged cdk-nag findings:\n" + "\n".join(synthesized.findings)


@pytest.mark.slow
def test_bucket_and_bus_grants_are_explicit_and_pass_the_checks(tmp_path: Path, manifest: Manifest) -> None:
    """The factory's bucket and bus grants, which no function of the manifest uses yet."""
    fn = dataclasses.replace(
        manifest.functions[0],
        bucket_access=Access.READ_WRITE,
        bucket_prefixes=("test/",),
        publishes_to_bus=True,
    )
    variant = dataclasses.replace(manifest, functions=(fn, *manifest.functions[1:]))
    region = "eu-west-1"
    findings = _synth_with_checks(tmp_path, regions=[region], manifest=variant)
    assert findings == [], "\n".join(findings)

    template = json.loads((tmp_path / f"{stack_name(region)}.template.json").read_text())
    function = cfn.props(template["Resources"][cfn.functions_by_name(template)[fn.name]])
    (role_id,) = cfn.references(function["Role"])
    actions = {a for s in cfn.role_statements(template, role_id) for a in cfn.as_list(s["Action"])}
    assert {a for a in actions if a.startswith("s3:")} == set(BUCKET_ACTIONS[Access.READ_WRITE])
    assert {a for a in actions if a.startswith("events:")} == {"events:PutEvents"}
    assert not [a for a in actions if "*" in a]


def test_acknowledgements_carry_a_reason(synthesized: Synthesized) -> None:
    """Every acknowledgement in the tree names one rule and says why, in a sentence or more (the
    session's app: the same tree, without a synthesis of its own)."""
    app = synthesized.app
    acknowledged: list[tuple[str, str, str]] = []
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                # {"<source>::<rule id>": reason}; cdk-nag rules are recorded as annotations.
                for key, reason in entry.data.items():
                    if key.startswith("CloudFormation-Validate::"):
                        continue  # the CDK's own, of cfn-lint rules (a nested stack's AZs, a flow log's)
                    acknowledged.append((construct.node.path, key.split("::", 1)[-1], reason))
    assert acknowledged, "expected the known acknowledgements (L1, IAM5 for X-Ray, COG4, ...)"
    for path, rule_id, reason in acknowledged:
        assert rule_id.startswith("AwsSolutions-"), (path, rule_id)
        assert "/" in path, f"{rule_id} acknowledged for a whole stack or app, not a construct"
        assert len(reason) >= 60, f"{path} {rule_id}: reason too short: {reason!r}"


def test_the_pack_itself_honours_the_acknowledgements(synthesized: Synthesized) -> None:
    """`validate_scope` (the pack without the CDK report) sees the same acknowledgements."""
    region = synthesized.config.regions[0].region
    report = AwsSolutionsChecks().validate_scope(synthesized.app.node.find_child(stack_name(region)))
    violations = [f"{v.rule_name}: {v.description}" for v in report.violations]
    assert report.success, "\n".join(violations)
