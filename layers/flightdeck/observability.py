"""Logger, Metrics and Tracer (AWS Lambda Powertools), created once for the whole process,
and the one decorator order every Lambda handler uses.

The correlation id is the run id wherever the event carries one, so a run's log lines from
the API, the node runner and the approval handlers can be found together. The invocation's
keys (its Lambda context and correlation id) are kept per thread: `make dev` runs many
invocations at once in one process, and each log line names its own. Outside Lambda the
tracer is inert and metrics can be switched off (`POWERTOOLS_METRICS_DISABLED=true`).

Every record is masked (`flightdeck.privacy`) as it is formatted: message, extra keys and
exception text alike, for the project's loggers (children of `flightdeck` included) and for
records that reach the root logger's handlers (Lambda's own), so no log line carries an
e-mail address, phone number, card number, IBAN or a workflow's personal field.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

SERVICE = "flightdeck"
NAMESPACE = "Flightdeck"

# Handlers that record no metric are normal here (the approval handlers, for instance).
warnings.filterwarnings("ignore", message="No application metrics to publish")


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log line, with personal data masked in every value."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        from flightdeck import privacy  # (and pydantic) on the first record, not at import

        return super().serialize(privacy.mask_value(log))


class MaskingFilter(logging.Filter):
    """For handlers that are not ours (the Lambda runtime's, on the root logger): the record's
    message is rendered and masked before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        from flightdeck import privacy

        message = record.getMessage()
        masked = privacy.mask_text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = privacy.mask_text(record.exc_text)
        return True


logger = Logger(service=SERVICE, logger_formatter=MaskingFormatter())
for _handler in logging.getLogger().handlers:
    if not any(isinstance(f, MaskingFilter) for f in _handler.filters):
        _handler.addFilter(MaskingFilter())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


@lru_cache(maxsize=1)
def tracer() -> Tracer:
    """Built on first use: creating it loads the X-Ray SDK (about 160 ms here), which a cold
    start then pays in the first invocation that is traced rather than in every import."""
    return Tracer(service=SERVICE)


def tracing_disabled() -> bool:
    """Whether Powertools' tracer would be inert: outside Lambda, or switched off with
    `POWERTOOLS_TRACE_DISABLED`. Its segment is then left out rather than built, so a local
    process never loads the X-Ray SDK for a tracer that records nothing."""
    return bool(Tracer._is_tracer_disabled())


_cold = [True]  # the process's first invocation is its cold start


def _invocation_keys(event: Any, context: Any, correlation_id_path: str | None) -> dict[str, Any]:
    """What each log line of one invocation carries: the keys Powertools' `inject_lambda_context`
    adds (the Lambda context, cold start, correlation id)."""
    from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
    from aws_lambda_powertools.utilities import jmespath_utils

    cold, _cold[0] = _cold[0], False
    keys: dict[str, Any] = {"cold_start": cold, **vars(build_lambda_context_model(context))}
    if correlation_id_path:
        keys["correlation_id"] = jmespath_utils.query(envelope=correlation_id_path, data=event)
    return keys


def lambda_handler(*, correlation_id_path: str | None = "run_id") -> Callable[[Handler], Handler]:
    """Logger keys (with the correlation id) outermost, then the tracer's segment, then the
    metrics flush: the same order on every handler. The keys are the invocation's thread's
    alone, and go when it returns."""

    def wrap(handler: Handler) -> Handler:
        built: list[Callable[..., Any]] = []

        @functools.wraps(handler)
        def call(event: Any, context: Any) -> Any:
            if not built:
                wrapped = metrics.log_metrics(handler)
                if not tracing_disabled():
                    wrapped = tracer().capture_lambda_handler(wrapped)
                built.append(wrapped)
            # An invocation made inside another on the same thread (the emulator's synchronous
            # Lambda calls) gives the outer one its keys back when it returns.
            outer = dict(logger.thread_safe_get_current_keys())
            logger.thread_safe_clear_keys()
            logger.thread_safe_append_keys(**_invocation_keys(event, context, correlation_id_path))
            try:
                return built[0](event, context)
            finally:
                logger.thread_safe_clear_keys()
                if outer:
                    logger.thread_safe_append_keys(**outer)
                if is_metrics_disabled():
                    # Powertools keeps disabled metrics and prints them once a hundred pile
                    # up; with metrics off, nothing may be printed.
                    metrics.clear_metrics()

        return call  # type: ignore[return-value]

    return wrap


def count(name: str, value: float = 1) -> None:
    if not is_metrics_disabled():  # kept, Powertools would print them once a hundred pile up
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def milliseconds(name: str, value: float) -> None:
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
