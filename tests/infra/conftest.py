"""One synthesized app per session, shared by the template tests.

Synthesis uses the real handler code and core package but a stand-in dependency layer (a
directory with one file): the templates are the same, and the tests do not pay for hashing and
staging ~90 MB of wheels. `make synth` builds and ships the real layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")


@dataclass
class Synthesized:
    app: Any
    stacks: Any
    config: Any
    workflows: list[Any]

    def template(self, part: str) -> Any:
        from aws_cdk.assertions import Template

        return Template.from_stack(getattr(self.stacks, part))


def stub_assets(base: Path) -> Any:
    from scripts import build_layers
    from stacks.runtime import AssetPaths

    deps = base / "deps"
    (deps / "python").mkdir(parents=True)
    (deps / "python" / "README.txt").write_text("stand-in for the dependency layer in tests\n")
    return AssetPaths(
        deps=deps,
        core=build_layers.build_core(base / "core"),
        code=build_layers.build_code(base / "code"),
    )


def synthesize(base: Path, context: dict[str, Any], **kwargs: Any) -> Synthesized:
    import aws_cdk as cdk

    from flightdeck.engine.registry import discover
    from stacks.config import cdk_json_context, stage_config
    from stacks.stage import build_stage

    config = stage_config(context)
    app = cdk.App(context={**cdk_json_context(ROOT), **context}, outdir=str(base / "cdk.out"))
    workflows = kwargs.pop("workflows", None) or list(discover())
    stacks = build_stage(
        app, config, assets=stub_assets(base / "assets"), workflows=workflows, **kwargs
    )
    app.synth()
    return Synthesized(app=app, stacks=stacks, config=config, workflows=workflows)


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("dev"), {"stage": "dev", "prefix": "ci"})


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("prod"), {"stage": "prod"})
