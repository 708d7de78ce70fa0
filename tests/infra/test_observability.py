"""The observability stack: the CloudWatch dashboard draws the catalogue's metrics under the
names the Lambdas write, every alarm the issue lists exists and notifies the encrypted topic,
and cdk-nag has nothing to say about it."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from flightdeck import metrics
from flightdeck.engine.compiler import analyse
from stacks import observability
from tests.infra.conftest import Synthesized
from tests.infra.test_nag import nag_errors


def resources(template: Any, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def dashboard_body(synthesized: Synthesized) -> str:
    """The dashboard's JSON body as synthesized (CloudFormation joins it from parts)."""
    (dashboard,) = resources(
        synthesized.template("observability"), "AWS::CloudWatch::Dashboard"
    ).values()
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, str):
        return body
    parts = body["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else json.dumps(p) for p in parts)


def alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    found = resources(synthesized.template("observability"), "AWS::CloudWatch::Alarm")
    return {k: v["Properties"] for k, v in found.items()}


def watched_metrics(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, name) of the metrics an alarm reads, directly or in its math."""
    if "MetricName" in alarm:
        return {(alarm["Namespace"], alarm["MetricName"])}
    return {
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
        for m in alarm["Metrics"]
        if "MetricStat" in m
    }


def test_the_dashboard_draws_every_catalogue_metric_under_its_cloudwatch_name(
    dev: Synthesized,
) -> None:
    body = dashboard_body(dev)
    for metric in [m for m in metrics.CATALOGUE if m.emf]:
        assert f'"{metric.cloudwatch}"' in body or f'\\"{metric.cloudwatch}\\"' in body, (
            metric.cloudwatch
        )
    # Node latency p50 and p95 for every node of every workflow.
    for workflow in dev.workflows:
        for node in analyse(workflow)[1]:
            assert f'"node","{node}"' in body, (workflow.name, node)
    assert '"stat":"p50"' in body
    assert '"stat":"p95"' in body


def test_a_failed_run_rate_alarm_per_workflow(dev: Synthesized) -> None:
    rate_alarms = [
        a
        for a in alarms(dev).values()
        if ("AWS/States", "ExecutionsFailed") in watched_metrics(a) and "Metrics" in a
    ]
    assert len(rate_alarms) == len(dev.workflows)
    for alarm in rate_alarms:
        assert alarm["Threshold"] == observability.FAILED_RUN_RATE_PERCENT
        (expression,) = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
        assert "100 * failed /" in expression["Expression"]
        assert watched_metrics(alarm) == {
            ("AWS/States", name)
            for name in (
                "ExecutionsSucceeded",
                "ExecutionsFailed",
                "ExecutionsTimedOut",
                "ExecutionsAborted",
            )
        }


def test_alarms_for_approval_age_lambda_errors_throttles_api_5xx_and_dead_letters(
    dev: Synthesized,
) -> None:
    found = alarms(dev)
    watched = [watched_metrics(a) for a in found.values()]
    assert sum(("Flightdeck", "OldestPendingApprovalAgeSeconds") in w for w in watched) == 1
    assert sum(("AWS/ApiGateway", "5XXError") in w for w in watched) == 1
    assert sum(("AWS/SQS", "ApproximateNumberOfMessagesVisible") in w for w in watched) >= 1
    functions = resources(dev.template("workflow"), "AWS::Lambda::Function")
    functions_watched = sum(("AWS/Lambda", "Errors") in w for w in watched)
    assert functions_watched == sum(("AWS/Lambda", "Throttles") in w for w in watched)
    # Every workflow function (node runner, approvals, failure, callbacks, metrics) at least.
    assert functions_watched >= len(functions)


def test_every_alarm_notifies_the_encrypted_topic(dev: Synthesized) -> None:
    template = dev.template("observability")
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    for name, alarm in alarms(dev).items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["OKActions"] == [{"Ref": topic_id}], name


def test_the_observability_stack_is_nag_clean(dev: Synthesized, prod: Synthesized) -> None:
    assert nag_errors(dev.stacks.observability) == []
    assert nag_errors(prod.stacks.observability) == []
