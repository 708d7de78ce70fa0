"""The metric catalogue shared by Prometheus and CloudWatch, and what it costs the API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flightdeck import metrics

ROOT = Path(__file__).resolve().parents[2]


def test_names_are_unique_on_both_sides() -> None:
    assert len({m.prometheus for m in metrics.CATALOGUE}) == len(metrics.CATALOGUE)
    assert len({m.cloudwatch for m in metrics.CATALOGUE}) == len(metrics.CATALOGUE)
    assert metrics.NODE_DURATION.prometheus == "flightdeck_node_duration_seconds"
    assert metrics.NODE_DURATION.cloudwatch == "NodeDurationSeconds"
    assert metrics.RUNS_STARTED.samples == ("flightdeck_runs_started_total",)


def test_the_api_handler_does_not_import_prometheus_client() -> None:
    # The Lambda API's cold start pays for nothing /metrics needs; the local exporter does.
    probe = (
        "import sys, functions.api.handler;"
        "from flightdeck.api.app import create_app; create_app();"
        "print(sorted(m for m in sys.modules if m.startswith('prometheus_client')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.strip().replace("'", '"')) == []


def test_emf_records_carry_the_cloudwatch_name_and_the_labels(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.record_run_finished("support_triage", "failed")
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Flightdeck"
    assert directive["Metrics"] == [{"Name": "RunsFinished", "Unit": "Count"}]
    assert set(directive["Dimensions"][0]) == {"service", "workflow", "status"}
    assert (record["workflow"], record["status"]) == ("support_triage", "failed")


def test_emf_is_silent_when_metrics_are_disabled(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics.record_model_usage(
        "support_triage", [{"kind": "chat", "model": "m", "input_tokens": 3}]
    )
    assert capsys.readouterr().out == ""


def test_a_metric_without_an_emf_twin_or_with_wrong_labels_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    with pytest.raises(ValueError, match="not written as EMF"):
        metrics.emit(metrics.COST, 1.0, workflow="w", component="model")
    with pytest.raises(ValueError, match="takes"):
        metrics.emit(metrics.RUNS_FINISHED, 1.0, workflow="w")
