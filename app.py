"""CDK entry point: `npx cdk synth -c regions=eu-west-1,us-east-1`.

CDK_VALIDATION=false skips the cdk-nag checks (unit tests, quick iterations); CI keeps them on.
"""

from __future__ import annotations

import os

from stacks.app_builder import build_app

app = build_app(validate=os.environ.get("CDK_VALIDATION") != "false")
app.synth()
