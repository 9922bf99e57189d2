"""cfn-lint finds nothing in either synthesized template (settings in .cfnlintrc.yaml)."""

from __future__ import annotations

from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from tests.stacks.conftest import Synthesized

CONFIG = Path(__file__).resolve().parents[2] / ".cfnlintrc.yaml"


def test_template_passes_cfn_lint(synthesized: Synthesized, region: str) -> None:
    matches = lint_file(
        synthesized.template_path(region), config=ManualArgs(regions=[region], config_file=CONFIG)
    )
    assert [str(match) for match in matches] == []
