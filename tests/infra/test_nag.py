"""cdk-nag's AWS Solutions checks: every stack of every stage passes with no unsuppressed error,
and every suppression carries a reason."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.conftest import Synthesized


def nag_errors(stack: Any) -> list[str]:
    found = Annotations.from_stack(stack).find_error(
        "*", Match.string_like_regexp(r"AwsSolutions-.*")
    )
    return [f"{e.id}: {str(e.entry.data)[:200]}" for e in found]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_no_unsuppressed_nag_errors(stage: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(stage)
    errors = {s.stack_name: nag_errors(s) for s in synthesized.stacks.all()}
    assert errors == {s.stack_name: [] for s in synthesized.stacks.all()}


def test_every_suppression_has_a_reason(dev: Synthesized) -> None:
    suppressions = 0
    for part in ("data", "workflow", "api", "frontend", "observability"):
        for logical_id, resource in dev.template(part).to_json()["Resources"].items():
            rules = resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
            for rule in rules:
                suppressions += 1
                assert len(rule.get("reason", "")) >= 20, (part, logical_id, rule)
    assert suppressions > 0


def test_the_check_fails_on_an_unsuppressed_error() -> None:
    # Given a stack with a bucket that breaks the rules, when nag runs, then it reports errors:
    # the tests above cannot pass vacuously.
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App()
    stack = cdk.Stack(app, "Careless")
    s3.Bucket(stack, "Open")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    app.synth()
    assert any("AwsSolutions-S1" in e for e in nag_errors(stack))
