"""The masking key: one generated secret per stage, named in the settings of every function
the project writes, readable by each of them and by nothing wider."""

from __future__ import annotations

import json
from typing import Any

from flightdeck.settings import EnvVar
from tests.infra.conftest import Synthesized
from tests.infra.test_templates import resources, role_statements

PARTS = ("data", "workflow", "api", "ingest", "observability")


def project_functions(template: Any) -> list[tuple[str, dict[str, Any]]]:
    """The functions running the project's handlers (not the helpers CDK adds)."""
    return [
        (logical_id, fn["Properties"])
        for logical_id, fn in resources(template, "AWS::Lambda::Function").items()
        if str(fn["Properties"].get("Handler", "")).startswith("functions.")
    ]


def test_the_masking_key_is_a_generated_secret_of_the_stage(dev: Synthesized) -> None:
    secrets = resources(dev.template("data"), "AWS::SecretsManager::Secret")
    (key,) = [s["Properties"] for s in secrets.values() if "masking-key" in str(s["Properties"])]

    assert key["Name"] == f"{dev.config.name}/masking-key"
    assert key["GenerateSecretString"]["PasswordLength"] == 64


def test_every_function_reads_the_masking_key_and_only_it(dev: Synthesized) -> None:
    seen = 0
    for part in PARTS:
        template = dev.template(part)
        for logical_id, props in project_functions(template):
            seen += 1
            variables = props["Environment"]["Variables"]
            assert variables[EnvVar.MASKING_KEY_SECRET] == f"{dev.config.name}/masking-key", (
                logical_id
            )
            grants = [
                s
                for s in role_statements(template, {"Role": props["Role"]})
                if "masking-key" in json.dumps(s["Resource"])
            ]
            assert [g["Action"] for g in grants] == ["secretsmanager:GetSecretValue"], logical_id
            assert f"{dev.config.name}/masking-key-??????" in json.dumps(grants[0]["Resource"])
    assert seen >= 8
