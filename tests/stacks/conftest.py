"""One synthesis of the whole app per test session, shared by every stacks test.

Synthesis takes seconds, so it runs once, with the cdk-nag checks on as `cdk synth` runs them: the
findings that stopped it, if any, are kept for `test_nag` (and the app is then synthesized again
without the checks, so the other tests still see templates). The regions and their settings come
from cdk.json, as `cdk synth` uses.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk.assertions import Template

from stacks.app_builder import build_app
from stacks.config import DeploymentConfig, cdk_json_context
from stacks.manifest import MANIFEST, Manifest
from stacks.naming import stack_name


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    config: DeploymentConfig
    templates: dict[str, dict[str, Any]]  # region -> template
    app: Any = None  # the synthesized cdk.App (its construct tree: acknowledgements, metadata)
    findings: tuple[str, ...] = ()  # cdk-nag findings no acknowledgement covers
    # region -> the template of its nested stack of the network and file systems (stacks.constructs.
    # network), the one nested stack of a region
    nested: dict[str, dict[str, Any]] = field(default_factory=dict)

    def template_path(self, region: str) -> Path:
        return self.outdir / f"{stack_name(region)}.template.json"


def nag_findings(report_path: Path) -> list[str]:
    """The violations of a CDK validation report (`validation-report.json`), one line each."""
    if not report_path.exists():
        return []
    report = json.loads(report_path.read_text())
    return [
        f"{violation['severity'].upper()} {violation['ruleName']} at {construct['constructPath']}: "
        f"{violation['description']}"
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]


def synth_with_checks(app: Any, outdir: Path) -> list[str]:
    """Synthesize an app built with `validate=True` as `cdk synth` does; the findings that stopped
    it, if any."""
    try:
        app.synth()
    except RuntimeError:
        findings = nag_findings(outdir / "validation-report.json")
        if not findings:
            raise  # failed for another reason than a finding
        return findings
    return nag_findings(outdir / "validation-report.json")


@pytest.fixture(scope="package")
def manifest() -> Manifest:
    return MANIFEST


@pytest.fixture(scope="package")
def deployment() -> DeploymentConfig:
    return DeploymentConfig.from_context(cdk_json_context())


@pytest.fixture(scope="package")
def synthesized(tmp_path_factory: pytest.TempPathFactory, deployment: DeploymentConfig) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(validate=True, outdir=str(outdir))
    findings = synth_with_checks(app, outdir)
    if findings:
        outdir = tmp_path_factory.mktemp("cdk.out-unchecked")
        app = build_app(validate=False, outdir=str(outdir))
        app.synth()
    templates = {
        region.region: json.loads((outdir / f"{stack_name(region.region)}.template.json").read_text())
        for region in deployment.regions
    }
    nested = {region.region: nested_template(outdir, region.region) for region in deployment.regions}
    return Synthesized(
        outdir=outdir,
        config=deployment,
        templates=templates,
        app=app,
        findings=tuple(findings),
        nested=nested,
    )


def nested_template(outdir: Path, region: str) -> dict[str, Any]:
    """The region's one nested stack's template (the CDK writes it beside the parent's, named after
    the parent stack and the nested stack's id)."""
    (path,) = outdir.glob(f"{stack_name(region).replace('-', '')}*.nested.template.json")
    found: dict[str, Any] = json.loads(path.read_text())
    return found


@pytest.fixture(
    scope="package", params=[r.region for r in DeploymentConfig.from_context(cdk_json_context()).regions]
)
def region(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def template(synthesized: Synthesized, region: str) -> dict[str, Any]:
    return synthesized.templates[region]


@pytest.fixture(scope="package")
def assertion_templates(synthesized: Synthesized) -> dict[str, Template]:
    return {region: Template.from_json(body) for region, body in synthesized.templates.items()}


@pytest.fixture
def nested(synthesized: Synthesized, region: str) -> dict[str, Any]:
    """The region's nested stack of the network and file systems."""
    return synthesized.nested[region]


@pytest.fixture
def cdk_template(assertion_templates: dict[str, Template], region: str) -> Template:
    """The region's template for `aws_cdk.assertions` (has_resource_properties, Match, ...)."""
    return assertion_templates[region]
