"""Spans from the libraries underneath a run, and the masking every exported span goes through.

With the OTLP exporter (deployed), the platform's own spans (run, execution, node, model call)
are joined by OpenTelemetry's instrumentation of the libraries they call: each FastAPI request,
each psycopg statement, each botocore call (S3, Step Functions, KMS, Secrets Manager, Bedrock).
They share the process's tracer provider, so a request's statements and AWS calls hang under
its span, and a node's under the node's. The local span store (`postgres` exporter) keeps the
run's own spans only: it answers "what did this run do", not "which statements ran".

The instrumentation packages are imported when the OTLP tracer is built (the first span, or
`Services` before the first connection), never on a handler's import path; with SnapStart that
happens before the snapshot.

Every span leaves the process through `MaskingExporter`: attributes, event attributes (an
exception's message and stack trace) and the status description pass through
`flightdeck.privacy`, so a library that records a URL, a statement or an error message cannot
carry a customer's e-mail address or card number out of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flightdeck.privacy import mask_attributes, mask_text

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

# Requests that say nothing about a run (load balancer and uptime probes).
EXCLUDED_URLS = "/healthz,/metrics"

_lock = threading.Lock()
_installed: set[str] = set()


def instrument_libraries(provider: TracerProvider) -> None:
    """Trace psycopg statements and botocore calls from now on (once per process).

    psycopg's instrumentation wraps connections as they are opened, so this runs before the
    pool opens its first one; botocore's wraps every client call, made before or after."""
    with _lock:
        if "psycopg" not in _installed:
            from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

            # Statement text only (placeholders, never the bound values).
            PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
            _installed.add("psycopg")
        if "botocore" not in _installed:
            from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

            BotocoreInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
            _installed.add("botocore")


def instrument_app(app: Any, provider: TracerProvider) -> None:
    """A span per request of this FastAPI app, parent of what the request does."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=EXCLUDED_URLS,
        # ASGI's receive/send steps: two more spans per request that say nothing more.
        exclude_spans=["receive", "send"],
    )


def uninstrument_libraries() -> None:
    """Undo `instrument_libraries`: the tracer that installed it is shut down
    (`flightdeck.telemetry.tracing.Tracing.shutdown`), and the next one installs it again."""
    with _lock:
        if "psycopg" in _installed:
            from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

            PsycopgInstrumentor().uninstrument()
        if "botocore" in _installed:
            from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

            BotocoreInstrumentor().uninstrument()
        _installed.clear()


def _masked(attributes: Mapping[str, Any] | None, own: frozenset[str]) -> dict[str, Any]:
    if not attributes:
        return {}
    kept = {k: v for k, v in attributes.items() if k in own}
    return {**mask_attributes({k: v for k, v in attributes.items() if k not in own}), **kept}


def masked_copy(span: ReadableSpan, own: frozenset[str] = frozenset()) -> ReadableSpan:
    """`span` with its attributes, events and status description masked (`own`: attribute
    names whose values the platform makes itself: ids and declared names, kept as they are)."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Status

    status = span.status
    if status.description:
        status = Status(status.status_code, mask_text(status.description))
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_masked(span.attributes, own),
        events=[
            Event(event.name, _masked(event.attributes, own), event.timestamp)
            for event in span.events
        ],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def masking_exporter(inner: SpanExporter, own: frozenset[str] = frozenset()) -> SpanExporter:
    """An exporter that hands `inner` masked copies of the spans (see `masked_copy`)."""
    from opentelemetry.sdk.trace.export import SpanExporter

    class MaskingExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return inner.export([masked_copy(span, own) for span in spans])

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return inner.force_flush(timeout_millis)

    return MaskingExporter()
