"""cfn-lint finds nothing in the synthesized template (settings in .cfnlintrc.yaml).

One region here: the regions' templates are the same app with another region, and a cfn-lint run
costs about 40 s. `make test` then lints both regions' templates of the CLI's own synthesis
(`make synth`: `cfn-lint cdk.out/*.template.json`)."""

from __future__ import annotations

from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from tests.stacks.conftest import Synthesized

CONFIG = Path(__file__).resolve().parents[2] / ".cfnlintrc.yaml"


def test_template_passes_cfn_lint(synthesized: Synthesized) -> None:
    region = synthesized.config.regions[0].region
    matches = lint_file(
        synthesized.template_path(region), config=ManualArgs(regions=[region], config_file=CONFIG)
    )
    assert [str(match) for match in matches] == []
