"""Observability: one CloudWatch dashboard and the alarms an operator acts on, sent to one
encrypted SNS topic (subscribe an email with `-c alarm_email=...`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import (
    Duration,
    Stack,
)
from aws_cdk import (
    aws_apigateway as apigw,
)
from aws_cdk import (
    aws_cloudwatch as cw,
)
from aws_cdk import (
    aws_cloudwatch_actions as cw_actions,
)
from aws_cdk import (
    aws_kms as kms,
)
from aws_cdk import (
    aws_lambda as lambda_,
)
from aws_cdk import (
    aws_rds as rds,
)
from aws_cdk import (
    aws_sns as sns,
)
from aws_cdk import (
    aws_sns_subscriptions as subscriptions,
)
from aws_cdk import (
    aws_sqs as sqs,
)
from aws_cdk import (
    aws_stepfunctions as sfn,
)
from constructs import Construct

from flightdeck import metrics
from flightdeck.engine.compiler import analyse
from flightdeck.engine.workflow import Workflow
from functions.approval_metrics import metric as approval_metric
from stacks.config import StageConfig

PERIOD = Duration.minutes(5)
# Alarm when at least this share of a workflow's runs that ended in a period failed.
FAILED_RUN_RATE_PERCENT = 10
# The EMF metrics' fixed dimension (Powertools' service name).
SERVICE_DIMENSION = {"service": metrics.SERVICE}


@dataclass(frozen=True)
class Watched:
    """What the observability stack watches, from the other stacks."""

    workflows: Mapping[str, Workflow]
    state_machines: Mapping[str, sfn.StateMachine]
    functions: Mapping[str, lambda_.IFunction]
    api: apigw.RestApi
    database: rds.DatabaseInstance
    # Events a function gave up on, by the function's name: any message is an alarm.
    dead_letter_queues: Mapping[str, sqs.IQueue] = field(default_factory=dict)


class ObservabilityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        watched: Watched,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.topic = sns.Topic(
            self,
            "Alarms",
            display_name=f"{config.name} alarms",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: list[cw.Alarm] = []
        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=config.name, default_interval=Duration.hours(6)
        )

        runs: list[cw.IWidget] = []
        for name, machine in watched.state_machines.items():
            failed = machine.metric_failed(period=PERIOD, statistic="Sum")
            timed_out = machine.metric_timed_out(period=PERIOD, statistic="Sum")
            # Ended = succeeded + failed + timed out + aborted; a run waiting for a person has
            # not ended. One failure among few runs is a high rate: it alarms too.
            failed_rate = cw.MathExpression(
                expression=(
                    "IF((succeeded + failed + timedout + aborted) > 0,"
                    " 100 * failed / (succeeded + failed + timedout + aborted), 0)"
                ),
                using_metrics={
                    "succeeded": machine.metric_succeeded(period=PERIOD, statistic="Sum"),
                    "failed": failed,
                    "timedout": timed_out,
                    "aborted": machine.metric_aborted(period=PERIOD, statistic="Sum"),
                },
                label=f"{name}: failed runs (%)",
                period=PERIOD,
            )
            self._alarm(
                f"{name}FailedRunRate",
                f"{FAILED_RUN_RATE_PERCENT}% or more of the runs of {name} that ended failed",
                failed_rate,
                threshold=FAILED_RUN_RATE_PERCENT,
            )
            runs.append(
                cw.GraphWidget(
                    title=f"{name}: runs",
                    left=[
                        machine.metric_started(period=PERIOD, statistic="Sum"),
                        machine.metric_succeeded(period=PERIOD, statistic="Sum"),
                        failed,
                        timed_out,
                    ],
                    width=12,
                )
            )

        # Published every five minutes by the workflow stack's approval-metrics function.
        oldest = cw.Metric(
            namespace=approval_metric.NAMESPACE,
            metric_name=approval_metric.OLDEST_PENDING_APPROVAL,
            dimensions_map={approval_metric.STAGE_DIMENSION: config.runtime_stage},
            statistic="Maximum",
            period=PERIOD,
        )
        self._alarm(
            "OldestPendingApproval",
            "An approval has waited for more than half of its workflow's shortest timeout",
            oldest,
            threshold=_approval_alarm_seconds(watched.workflows.values()),
        )

        functions: list[cw.IWidget] = []
        for name, function in watched.functions.items():
            errors = function.metric_errors(period=PERIOD, statistic="Sum")
            throttles = function.metric_throttles(period=PERIOD, statistic="Sum")
            # Nodes raise transient errors that Step Functions retries: alarm on a burst.
            self._alarm(f"{name}Errors", f"{name} function errors", errors, threshold=5)
            self._alarm(f"{name}Throttles", f"{name} function throttled", throttles, threshold=1)
            functions.append(
                cw.GraphWidget(
                    title=f"{name}",
                    left=[errors, throttles],
                    right=[function.metric_duration(period=PERIOD, statistic="p95")],
                    width=8,
                )
            )

        for name, queue in watched.dead_letter_queues.items():
            dead = queue.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            )
            self._alarm(
                f"{name}DeadLetters",
                f"{name}: events given up on, in {name}DeadLetters",
                dead,
                threshold=1,
            )
            functions.append(cw.GraphWidget(title=f"{name}: dead letters", left=[dead], width=8))

        connections = watched.database.metric_database_connections(
            period=PERIOD, statistic="Maximum"
        )
        self._alarm(
            "DatabaseConnections",
            "The database is close to its connection limit",
            connections,
            threshold=config.db_connection_alarm,
        )
        server_errors = watched.api.metric_server_error(period=PERIOD, statistic="Sum")
        # The API answers problem+json for bad input: any 5xx is a bug or an outage.
        self._alarm("Api5xx", "The API answered 5xx", server_errors, threshold=1)

        self.dashboard.add_widgets(
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=4)
        )
        self.dashboard.add_widgets(*runs)
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Oldest pending approval (s)", left=[oldest], width=8),
            cw.GraphWidget(title="Database connections", left=[connections], width=8),
            cw.GraphWidget(
                title="API",
                left=[
                    watched.api.metric_count(period=PERIOD, statistic="Sum"),
                    watched.api.metric_client_error(period=PERIOD, statistic="Sum"),
                    server_errors,
                ],
                right=[watched.api.metric_latency(period=PERIOD, statistic="p95")],
                width=8,
            ),
        )
        self.dashboard.add_widgets(*functions)
        self.dashboard.add_widgets(
            *_catalogue_widgets(watched.workflows, stage=config.runtime_stage, oldest=oldest)
        )

    def _alarm(
        self, construct_id: str, description: str, metric: cw.IMetric, *, threshold: float
    ) -> None:
        alarm = cw.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)


def _emf(metric: metrics.Metric, statistic: str, label: str = "", **dimensions: str) -> cw.Metric:
    """A metric the Lambdas write as EMF (`flightdeck.metrics`), with its exact dimensions."""
    return cw.Metric(
        namespace=metrics.NAMESPACE,
        metric_name=metric.cloudwatch,
        dimensions_map={**SERVICE_DIMENSION, **dimensions},
        statistic=statistic,
        period=PERIOD,
        label=label or None,
    )


def _search(metric: metrics.Metric, statistic: str, label: str) -> cw.MathExpression:
    """Every series of an EMF metric whatever its label values (models, reasons)."""
    keys = ",".join(["service", *metric.labels])
    return cw.MathExpression(
        expression=(
            f"SEARCH('{{{metrics.NAMESPACE},{keys}}} MetricName=\"{metric.cloudwatch}\"', "
            f"'{statistic}', {int(PERIOD.to_seconds())})"
        ),
        using_metrics={},
        label=label,
        period=PERIOD,
    )


def _catalogue_widgets(
    workflows: Mapping[str, Workflow], *, stage: str, oldest: cw.Metric
) -> list[cw.IWidget]:
    """The metrics of `flightdeck.metrics` (the ones `/metrics` shows locally) per workflow."""
    widgets: list[cw.IWidget] = []
    for name in sorted(workflows):
        nodes = list(analyse(workflows[name])[1])
        widgets.append(
            cw.GraphWidget(
                title=f"{name}: runs started and ended",
                left=[
                    _emf(metrics.RUNS_STARTED, "Sum", "started", workflow=name),
                    *[
                        _emf(metrics.RUNS_FINISHED, "Sum", status, workflow=name, status=status)
                        for status in ("succeeded", "failed", "cancelled")
                    ],
                ],
                width=8,
            )
        )
        for quantile in ("p50", "p95"):
            widgets.append(
                cw.GraphWidget(
                    title=f"{name}: node duration {quantile} (s)",
                    left=[
                        _emf(metrics.NODE_DURATION, quantile, node, workflow=name, node=node)
                        for node in nodes
                    ],
                    width=8,
                )
            )
    pending = cw.Metric(
        namespace=metrics.NAMESPACE,
        metric_name=metrics.APPROVALS_PENDING.cloudwatch,
        dimensions_map={approval_metric.STAGE_DIMENSION: stage},
        statistic="Maximum",
        period=PERIOD,
    )
    widgets += [
        cw.GraphWidget(title="Approvals waiting", left=[pending], right=[oldest], width=6),
        cw.GraphWidget(
            title="Node retries",
            left=[_search(metrics.NODE_RETRIES, "Sum", "")],
            width=6,
        ),
        cw.GraphWidget(
            title="Webhook verification failures",
            left=[_search(metrics.WEBHOOK_VERIFICATION_FAILURES, "Sum", "")],
            width=6,
        ),
        cw.GraphWidget(
            title="Model tokens",
            left=[_search(metrics.MODEL_TOKENS, "Sum", "")],
            width=6,
        ),
    ]
    return widgets


def _approval_alarm_seconds(workflows: Any) -> float:
    timeouts = [
        w.manifest.approval.timeout_seconds for w in workflows if w.manifest.approval is not None
    ]
    return min(timeouts) / 2 if timeouts else 3600.0
