"""`GET /metrics` on the local API (`make dev`): the catalogue of `flightdeck.metrics` in
Prometheus' text format, for `make observe` and the Grafana dashboard in `docs/observability/`.

The figures are read from Postgres when Prometheus scrapes, not counted in memory: the node
runner, the approval handlers and the API run in different processes (different Lambdas on AWS),
and the database has every run they recorded, across restarts. Webhook verification failures
are the exception: only the API process that refused a delivery knows of it.

Mounted by `flightdeck.local.dev` only: the Lambda API has no `/metrics` (it writes EMF), and
the route is not part of the API contract (`docs/openapi.json`). It sums over every tenant and
carries no tenant label; the dev server listens on loopback unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from flightdeck import metrics
from flightdeck.services import Services, services
from flightdeck.store import metrics as store

PATH = "/metrics"


def _family(metric: metrics.Metric) -> Any:
    factory = {
        "counter": CounterMetricFamily,
        "gauge": GaugeMetricFamily,
        "histogram": HistogramMetricFamily,
    }[metric.kind]
    return factory(metric.prometheus, metric.documentation, labels=list(metric.labels))


def _le(bound: float) -> str:
    return repr(float(bound))


class FlightdeckCollector(Collector):
    """Every metric of the catalogue, read from the database at each scrape."""

    def __init__(self, get: Callable[[], Services] = services) -> None:
        self._get = get

    def describe(self) -> list[Metric]:
        # Registering must not query the database; `collect` runs on scrapes only.
        return [_family(m) for m in metrics.CATALOGUE]

    def collect(self) -> Iterator[Metric]:
        svc = self._get()
        with svc.connection() as conn:
            figures = store.scrape(conn)
        workflows = sorted(
            set(svc.registry.names())
            | set(figures.runs_started)
            | {a.workflow for a in figures.approvals}
        )

        started = _family(metrics.RUNS_STARTED)
        for workflow in workflows:
            started.add_metric([workflow], figures.runs_started.get(workflow, 0))
        yield started

        finished = _family(metrics.RUNS_FINISHED)
        for (workflow, status), n in sorted(figures.runs_finished.items()):
            finished.add_metric([workflow, status], n)
        yield finished

        durations = _family(metrics.NODE_DURATION)
        for d in figures.node_durations:
            buckets = [
                (_le(le), n) for le, n in zip(store.NODE_DURATION_BUCKETS, d.buckets, strict=True)
            ]
            durations.add_metric([d.workflow, d.node], [*buckets, ("+Inf", d.count)], d.sum_seconds)
        yield durations

        retries = _family(metrics.NODE_RETRIES)
        for (workflow, node), n in sorted(figures.node_retries.items()):
            retries.add_metric([workflow, node], n)
        yield retries

        # Every known workflow gets a value, zero included, so "nothing waiting" is a 0 on a
        # graph rather than a gap.
        pending = _family(metrics.APPROVALS_PENDING)
        oldest = _family(metrics.OLDEST_PENDING_APPROVAL_AGE)
        waiting = {a.workflow: a for a in figures.approvals}
        for workflow in workflows:
            found = waiting.get(workflow)
            pending.add_metric([workflow], found.count if found else 0)
            oldest.add_metric([workflow], found.oldest_age_seconds if found else 0.0)
        yield pending
        yield oldest

        failures = _family(metrics.WEBHOOK_VERIFICATION_FAILURES)
        for labels, n in sorted(metrics.webhook_verification_failures.snapshot().items()):
            failures.add_metric(list(labels), n)
        yield failures

        tokens = _family(metrics.MODEL_TOKENS)
        for t in figures.tokens:
            tokens.add_metric([t.workflow, t.kind, t.model, "input"], t.input_tokens)
            tokens.add_metric([t.workflow, t.kind, t.model, "output"], t.output_tokens)
        yield tokens

        cost = _family(metrics.COST)
        for c in figures.costs:
            for component, usd in zip(
                metrics.COST_COMPONENTS, (c.model, c.lambda_, c.stepfunctions, c.api), strict=True
            ):
                cost.add_metric([c.workflow, component], usd)
        yield cost


def registry(get: Callable[[], Services] = services) -> CollectorRegistry:
    found = CollectorRegistry(auto_describe=True)
    found.register(FlightdeckCollector(get))
    return found


def mount(app: FastAPI) -> None:
    """Add `GET /metrics` to the local app (before the dashboard's catch-all mount)."""
    exposed = registry(app.state.services)

    @app.get(PATH, include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(exposed), media_type=CONTENT_TYPE_LATEST)
