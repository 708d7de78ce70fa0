"""On AWS the catalogue's metrics are written as EMF by the Lambdas themselves: a run through
the real handlers prints them under the names the CloudWatch dashboard reads, and the approval
publisher sends the approval gauges."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flightdeck import metrics
from flightdeck.store import runs
from functions.approval_metrics import metric
from tests.conftest import Platform, lambda_context, load_event, open_waiting_approval


def emf_records(out: str) -> list[dict[str, Any]]:
    """The metrics of the EMF records in captured stdout, with their dimensions."""
    found = []
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for definition in directive["Metrics"]:
                name = definition["Name"]
                # EMF carries a value or a list of values (Powertools writes lists).
                values = record[name] if isinstance(record[name], list) else [record[name]]
                found.append(
                    {
                        "namespace": directive["Namespace"],
                        "name": name,
                        "unit": definition["Unit"],
                        "value": sum(values),
                        "dimensions": {d: record[d] for d in directive["Dimensions"][0]},
                    }
                )
    return found


def test_a_run_writes_the_catalogues_metrics_as_emf(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    run_id = platform.start("support_triage", load_event("password_ticket"))
    platform.wait_status(run_id, "succeeded")

    records = emf_records(capfd.readouterr().out)
    assert {r["namespace"] for r in records} == {"Flightdeck"}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_name.setdefault(r["name"], []).append(r)
    (started,) = by_name[metrics.RUNS_STARTED.cloudwatch]
    assert started["dimensions"] == {"service": "flightdeck", "workflow": "support_triage"}
    (finished,) = by_name[metrics.RUNS_FINISHED.cloudwatch]
    assert finished["dimensions"]["status"] == "succeeded"
    durations = by_name[metrics.NODE_DURATION.cloudwatch]
    assert [d["dimensions"]["node"] for d in durations] == [
        "plan",
        "retrieve",
        "decide",
        "act",
        "reflect",
    ]
    assert {d["unit"] for d in durations} == {"Seconds"}
    assert all(0 < d["value"] < 60 for d in durations)
    # The offline model's tokens, as the run's model.used events record them.
    with platform.services.tenant(platform.tenant_id) as conn:
        used = [e.data for e in runs.list_events(conn, run_id) if e.type == "model.used"]
    tokens = by_name[metrics.MODEL_TOKENS.cloudwatch]
    assert sum(t["value"] for t in tokens if t["dimensions"]["direction"] == "input") == sum(
        u["input_tokens"] for u in used
    )
    assert metrics.NODE_RETRIES.cloudwatch not in by_name


def test_nothing_is_written_when_metrics_are_disabled(
    platform: Platform, capfd: pytest.CaptureFixture[str]
) -> None:
    # The test environment (like make dev) disables metrics.
    run_id = platform.start("support_triage", load_event("password_ticket"))
    platform.wait_status(run_id, "succeeded")
    assert emf_records(capfd.readouterr().out) == []


def test_the_approval_publisher_sends_the_count_and_the_age(platform: Platform) -> None:
    from functions.approval_metrics.handler import handler

    with platform.services.tenant(platform.tenant_id) as conn:
        for minutes in (5, 20):
            open_waiting_approval(conn, platform.tenant_id, age=timedelta(minutes=minutes))
    since = datetime.now(UTC) - timedelta(minutes=1)

    answer = handler({}, lambda_context())

    assert answer["approvals_pending"] == 2
    stats = platform.emulator.client("cloudwatch").get_metric_statistics(
        Namespace=metric.NAMESPACE,
        MetricName=metric.APPROVALS_PENDING,
        Dimensions=[{"Name": metric.STAGE_DIMENSION, "Value": "test"}],
        StartTime=since,
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )
    assert [p["Maximum"] for p in stats["Datapoints"]] == [2]
    assert metric.APPROVALS_PENDING == "ApprovalsPending"
    assert metric.OLDEST_PENDING_APPROVAL == "OldestPendingApprovalAgeSeconds"
