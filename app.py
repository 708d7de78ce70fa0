#!/usr/bin/env python3
"""The CDK app: `cdk synth|deploy -c stage=dev -c prefix=alice` (see docs/deploy.md).

Needs no AWS credentials, git or Docker to synthesize: the layers are built by pip for the
Lambda platform (scripts/build_layers.py) and the stacks are environment-agnostic unless
`-c account=... -c region=...` pin them.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk

from flightdeck.engine.registry import discover
from scripts import build_layers
from stacks.config import CONTEXT_KEYS, cdk_json_context, stage_config
from stacks.runtime import AssetPaths
from stacks.stage import build_stage

ROOT = Path(__file__).resolve().parent


def main() -> None:
    # The CLI's context (cdk.json, -c) overrides these defaults when run through `cdk`.
    app = cdk.App(context=cdk_json_context(ROOT))
    context = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    config = stage_config(context)
    built = build_layers.build_all()
    env = (
        cdk.Environment(account=context["account"], region=context["region"])
        if context["account"] or context["region"]
        else None
    )
    build_stage(
        app,
        config,
        assets=AssetPaths(deps=built.deps, core=built.core, code=built.code),
        workflows=discover(tuple(config.workflow_packages.split(","))),
        site_dir=ROOT / "frontend" / "out",
        env=env,
    )
    app.synth()


if __name__ == "__main__":
    main()
