"""The platform's metrics: one catalogue for Prometheus (`/metrics` of `make dev`) and CloudWatch
(Powertools EMF on AWS), so a dashboard on either side queries the same names.

A metric has one snake_case name; Prometheus shows it as `flightdeck_<name>` (counters with
`_total`), CloudWatch as its CamelCase form in the `Flightdeck` namespace with the same labels
as dimensions. Locally the figures are read from Postgres at scrape time
(`flightdeck.local.prometheus`), since the runner and the API are separate processes; on AWS
each Lambda writes them as EMF when the thing happens (the `record_*` functions below).

Only webhook verification failures exist nowhere but in the API process that refused the
delivery: they are also counted in memory here, for the local exporter to read.

Importing this module costs nothing the API handler does not already import (Powertools
metrics); `prometheus_client` is imported by the local exporter only.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from flightdeck.observability import NAMESPACE as NAMESPACE
from flightdeck.observability import SERVICE as SERVICE

Kind = Literal["counter", "gauge", "histogram"]
PROMETHEUS_PREFIX = "flightdeck_"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    documentation: str
    labels: tuple[str, ...]
    unit: MetricUnit = MetricUnit.Count
    # Written as EMF on AWS too; False for what only the local exporter shows.
    emf: bool = True

    @property
    def prometheus(self) -> str:
        """The family name (a counter's samples carry `_total`, a histogram's `_bucket`,
        `_sum` and `_count`)."""
        return PROMETHEUS_PREFIX + self.name

    @property
    def samples(self) -> tuple[str, ...]:
        """The sample names Prometheus stores for this metric (what a query can name)."""
        if self.kind == "counter":
            return (f"{self.prometheus}_total",)
        if self.kind == "histogram":
            return tuple(f"{self.prometheus}_{s}" for s in ("bucket", "sum", "count"))
        return (self.prometheus,)

    @property
    def cloudwatch(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))


RUNS_STARTED = Metric(
    "runs_started", "counter", "Runs triggered (webhook, API, schedule, re-run).", ("workflow",)
)
RUNS_FINISHED = Metric(
    "runs_finished",
    "counter",
    "Runs that ended, by how they ended (succeeded, failed, cancelled); a redriven run that "
    "ends again counts again.",
    ("workflow", "status"),
)
NODE_DURATION = Metric(
    "node_duration_seconds",
    "histogram",
    "Time one execution of a node took (ran to its end, paused for approval, or failed).",
    ("workflow", "node"),
    MetricUnit.Seconds,
)
NODE_RETRIES = Metric(
    "node_retries", "counter", "Node executions retried after a failure.", ("workflow", "node")
)
APPROVALS_PENDING = Metric(
    "approvals_pending",
    "gauge",
    "Approvals waiting for a decision (pending or escalated).",
    ("workflow",),
)
OLDEST_PENDING_APPROVAL_AGE = Metric(
    "oldest_pending_approval_age_seconds",
    "gauge",
    "How long the oldest undecided approval has waited.",
    ("workflow",),
    MetricUnit.Seconds,
)
WEBHOOK_VERIFICATION_FAILURES = Metric(
    "webhook_verification_failures",
    "counter",
    "Webhook deliveries refused because their signature could not be verified.",
    ("workflow", "reason"),
)
MODEL_TOKENS = Metric(
    "model_tokens",
    "counter",
    "Tokens of model calls (chat and embedding), from the runs' model.used events.",
    ("workflow", "kind", "model", "direction"),
)

COST = Metric(
    "cost_usd",
    "counter",
    "What runs cost in US dollars, by component (model, lambda, stepfunctions, api), from the "
    "cost ledger; storage is priced per tenant-month and is not in it.",
    ("workflow", "component"),
    # On AWS the ledger is read through GET /v1/costs; it is not a CloudWatch metric.
    emf=False,
)

CATALOGUE: tuple[Metric, ...] = (
    RUNS_STARTED,
    RUNS_FINISHED,
    NODE_DURATION,
    NODE_RETRIES,
    APPROVALS_PENDING,
    OLDEST_PENDING_APPROVAL_AGE,
    WEBHOOK_VERIFICATION_FAILURES,
    MODEL_TOKENS,
    COST,
)
# The cost ledger's components, as the `component` label names them.
COST_COMPONENTS = ("model", "lambda", "stepfunctions", "api")

# Why a webhook was refused: the tenant (or a secret for the workflow) is unknown, or the
# signature, its timestamp or its headers are wrong.
UNKNOWN_TENANT = "unknown_tenant"
INVALID_SIGNATURE = "invalid_signature"


def emit(metric: Metric, value: float, **dimensions: str) -> None:
    """One EMF record (CloudWatch extracts the metric from the Lambda's log line); nothing
    when metrics are disabled (`make dev`, tests)."""
    if is_metrics_disabled():
        return
    if not metric.emf:
        raise ValueError(f"{metric.name} is not written as EMF")
    if set(dimensions) != set(metric.labels):
        raise ValueError(f"{metric.name} takes {metric.labels}, not {tuple(dimensions)}")
    with single_metric(
        name=metric.cloudwatch,
        unit=metric.unit,
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE, **dimensions},
    ):
        pass


class _InProcessCounts:
    """Counts kept by this process, keyed by label values, read at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, ...]] = Counter()

    def add(self, labels: tuple[str, ...]) -> None:
        with self._lock:
            self._counts[labels] += 1

    def snapshot(self) -> dict[tuple[str, ...], int]:
        with self._lock:
            return dict(self._counts)


webhook_verification_failures = _InProcessCounts()


def record_webhook_verification_failure(workflow: str, reason: str) -> None:
    webhook_verification_failures.add((workflow, reason))
    emit(WEBHOOK_VERIFICATION_FAILURES, 1, workflow=workflow, reason=reason)


def record_run_started(workflow: str) -> None:
    emit(RUNS_STARTED, 1, workflow=workflow)


def record_run_finished(workflow: str, status: str) -> None:
    emit(RUNS_FINISHED, 1, workflow=workflow, status=status)


def record_node(workflow: str, node: str, seconds: float, *, retry: bool) -> None:
    emit(NODE_DURATION, seconds, workflow=workflow, node=node)
    if retry:
        emit(NODE_RETRIES, 1, workflow=workflow, node=node)


def record_model_usage(workflow: str, usages: Iterable[Mapping[str, Any]]) -> None:
    """Tokens of a node's model calls (the data of its `model.used` events)."""
    for usage in usages:
        for direction in ("input", "output"):
            tokens = int(usage.get(f"{direction}_tokens") or 0)
            if tokens:
                emit(
                    MODEL_TOKENS,
                    tokens,
                    workflow=workflow,
                    kind=str(usage.get("kind", "")),
                    model=str(usage.get("model", "")),
                    direction=direction,
                )
