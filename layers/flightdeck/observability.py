"""Logger, Metrics and Tracer (AWS Lambda Powertools), created once for the whole process,
and the one decorator order every Lambda handler uses.

The correlation id is the run id wherever the event carries one, so a run's log lines from
the API, the node runner and the approval handlers can be found together. Outside Lambda the
tracer is inert and metrics can be switched off (`POWERTOOLS_METRICS_DISABLED=true`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "flightdeck"
NAMESPACE = "Flightdeck"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def lambda_handler(*, correlation_id_path: str | None = "run_id") -> Callable[[Handler], Handler]:
    """Logger context (with the correlation id) outermost, then the tracer's segment, then the
    metrics flush: the same order on every handler."""

    def wrap(handler: Handler) -> Handler:
        wrapped = metrics.log_metrics(handler)
        wrapped = tracer.capture_lambda_handler(wrapped)
        wrapped = logger.inject_lambda_context(
            correlation_id_path=correlation_id_path, clear_state=True
        )(wrapped)
        return wrapped  # type: ignore[return-value]

    return wrap


def count(name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def milliseconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
