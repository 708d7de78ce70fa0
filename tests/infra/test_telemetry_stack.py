"""Where deployed functions send their spans: the span store by default, or the ADOT collector
layer over OTLP when the context asks for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flightdeck.settings import EnvVar
from stacks.config import ADOT_OTLP_ENDPOINT, ConfigError, stage_config
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_nag import nag_errors

ADOT_LAYER = "arn:aws:lambda:us-east-1:901920570463:layer:aws-otel-collector-arm64-ver-0-115-0:1"
PARTS = ("workflow", "api")


def functions(synthesized: Synthesized, part: str) -> dict[str, Any]:
    found = synthesized.template(part).find_resources("AWS::Lambda::Function")
    return {
        name: f["Properties"]
        for name, f in found.items()
        if str(EnvVar.DATABASE_SECRET_ARN) in f["Properties"]["Environment"]["Variables"]
    }


def test_by_default_functions_keep_spans_in_the_span_store(dev: Synthesized) -> None:
    for part in PARTS:
        found = functions(dev, part)
        assert found, part
        for name, props in found.items():
            variables = props["Environment"]["Variables"]
            assert variables[str(EnvVar.TELEMETRY_EXPORTER)] == "postgres", name
            assert str(EnvVar.OTLP_ENDPOINT) not in variables, name
            assert ADOT_LAYER not in str(props["Layers"]), name


def test_otlp_adds_the_collector_layer_and_points_every_function_at_it(tmp_path: Path) -> None:
    synthesized = synthesize(
        tmp_path,
        {
            "stage": "dev",
            "prefix": "otel",
            "telemetry_exporter": "otlp",
            "otlp_layer_arn": ADOT_LAYER,
        },
    )
    for part in PARTS:
        found = functions(synthesized, part)
        assert found, part
        for name, props in found.items():
            variables = props["Environment"]["Variables"]
            assert variables[str(EnvVar.TELEMETRY_EXPORTER)] == "otlp", name
            assert variables[str(EnvVar.OTLP_ENDPOINT)] == ADOT_OTLP_ENDPOINT, name
            assert ADOT_LAYER in props["Layers"], name
            assert len(props["Layers"]) <= 5, name  # Lambda's limit
    assert {s.stack_name: nag_errors(s) for s in synthesized.stacks.all()} == {
        s.stack_name: [] for s in synthesized.stacks.all()
    }


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"telemetry_exporter": "xray"}, "telemetry_exporter must be one of"),
        ({"telemetry_exporter": "otlp"}, "needs otlp_layer_arn"),
        (
            {"telemetry_exporter": "otlp", "otlp_layer_arn": "aws-otel-collector"},
            "must be a Lambda layer version ARN",
        ),
    ],
)
def test_a_bad_telemetry_context_is_refused(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        stage_config({"stage": "dev", "prefix": "otel", **context})
