"""OpenTelemetry traces, one per run: the API request that creates the run is the root, the
Step Functions execution its child, each node execution a child of the execution, each model
call a child of its node.

The trace travels between processes as a W3C `traceparent` string (ids only) in the Step
Functions input. Where spans go is a setting (`FLIGHTDECK_TELEMETRY_EXPORTER`):

- `postgres` (the local default): ended spans wait in memory per trace until the code that
  made them writes them to the span store (`flightdeck.store.telemetry`) in its own transaction,
  beside the run events they describe;
- `otlp`: batched to an OTLP/HTTP endpoint (the ADOT collector layer, X-Ray's OTLP endpoint, or
  any collector), flushed before each handler returns;
- `none`: nothing is made at all.

The OpenTelemetry SDK is imported on the first span, never at import time: a handler's cold
start does not pay for it until it traces something.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from flightdeck.privacy import mask_attributes

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

Exporter = Literal["postgres", "otlp", "none"]
SpanKindName = Literal["api", "execution", "node", "model", "other"]
AttributeValue = str | bool | int | float

SERVICE_NAME = "flightdeck"
# Attribute names: OpenTelemetry's semantic conventions where one exists, ours otherwise.
TENANT = "flightdeck.tenant_id"
RUN = "flightdeck.run_id"
KIND = "flightdeck.span_kind"
WORKFLOW = "flightdeck.workflow"
VERSION = "flightdeck.workflow_version"
NODE = "flightdeck.node"
ATTEMPT = "flightdeck.attempt"
BUSINESS_EVENT = "flightdeck.business_event"
COST = "flightdeck.cost_usd"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
ERROR_TYPE = "error.type"

# Values the platform itself makes (ids, names declared in code, numbers): masking them would
# find nothing, so only the other attributes go through `mask_attributes`.
_OWN = frozenset(
    {
        TENANT,
        RUN,
        KIND,
        WORKFLOW,
        VERSION,
        NODE,
        ATTEMPT,
        BUSINESS_EVENT,
        # The node that runs next, the node execution's invocation (execution name = run id,
        # node, Step Functions' entry time), and a model call's provider, operation, task and
        # model: made by the platform or declared in code or configuration.
        "flightdeck.next",
        "faas.invocation_id",
        "gen_ai.system",
        "gen_ai.operation.name",
        "gen_ai.response.model",
        "task",
    }
)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# Traces whose spans nobody collected (a caller that never writes them): the oldest are
# dropped past this many, so the process cannot grow without bound.
MAX_PENDING_TRACES = 1000


def _masked(attributes: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
    """Attributes with personal data masked (`flightdeck.privacy`); our own ids, names and all
    numbers pass as they are."""
    other = {
        k: v
        for k, v in attributes.items()
        if k not in _OWN and not isinstance(v, bool | int | float)
    }
    if not other:
        return attributes
    return {**attributes, **mask_attributes(other)}


@functools.cache
def _otel_kind(kind: str) -> Any:
    from opentelemetry.trace import SpanKind

    return {"api": SpanKind.SERVER, "node": SpanKind.SERVER, "model": SpanKind.CLIENT}.get(
        kind, SpanKind.INTERNAL
    )


def parse_traceparent(value: str | None) -> tuple[int, int] | None:
    """(trace id, parent span id) of a W3C traceparent; None for anything else."""
    match = _TRACEPARENT.match(value or "")
    if match is None:
        return None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    return (trace_id, span_id) if trace_id and span_id else None


def format_traceparent(trace_id: int, span_id: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-01"


@dataclass(frozen=True)
class SpanRecord:
    """An ended span as the span store keeps it."""

    tenant_id: str
    run_id: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    started_at: datetime
    ended_at: datetime | None
    status: Literal["unset", "ok", "error"]
    attributes: dict[str, Any]


class Span:
    """What the code making a span may do with it. Inert when tracing is off."""

    def __init__(self, span: Any = None) -> None:
        self._span = span
        self._ended = False

    @property
    def traceparent(self) -> str | None:
        """This span as the parent of spans in another process; None when tracing is off."""
        if self._span is None:
            return None
        context = self._span.get_span_context()
        return format_traceparent(context.trace_id, context.span_id)

    @property
    def trace_id(self) -> str | None:
        return None if self._span is None else f"{self._span.get_span_context().trace_id:032x}"

    def set(self, attributes: Mapping[str, AttributeValue | None]) -> None:
        """Add attributes; personal data in them is masked first (`flightdeck.privacy`)."""
        if self._span is not None:
            self._span.set_attributes(
                _masked({k: v for k, v in attributes.items() if v is not None})
            )

    def current(self) -> _Current:
        """Make this span the parent of spans opened inside the block (it stays open)."""
        return _Current(self)

    def end(self) -> None:
        """End the span (once; later calls do nothing)."""
        if self._span is not None and not self._ended:
            self._ended = True
            self._span.end()

    def fail(self, error_type: str) -> None:
        """Mark the span failed with the error's type only: messages may carry personal data."""
        if self._span is not None:
            from opentelemetry.trace import Status, StatusCode

            self._span.set_attribute(ERROR_TYPE, error_type)
            self._span.set_status(Status(StatusCode.ERROR))


_OFF = Span()


class _Current:
    """`Span.current`'s block: the span is the context's current span inside it. An escaping
    exception is left to the span's maker (`Span.fail` keeps its type, never its message)."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._token: object = None

    def __enter__(self) -> Span:
        if self._span._span is not None:
            from opentelemetry import context, trace

            self._token = context.attach(trace.set_span_in_context(self._span._span))
        return self._span

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            from opentelemetry import context

            context.detach(self._token)  # type: ignore[arg-type]
            self._token = None


class _Collector:
    """Ended spans kept per trace until `take` hands them over (fed by a span processor)."""

    def __init__(self) -> None:
        self._pending: dict[int, list[ReadableSpan]] = {}
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        trace_id = span.context.trace_id if span.context else 0
        with self._lock:
            self._pending.setdefault(trace_id, []).append(span)
            while len(self._pending) > MAX_PENDING_TRACES:
                self._pending.pop(next(iter(self._pending)))

    def take(self, trace_id: int) -> list[ReadableSpan]:
        with self._lock:
            return self._pending.pop(trace_id, [])


def _timestamp(nanoseconds: int | None) -> datetime | None:
    if nanoseconds is None:
        return None
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC)


def _record(span: ReadableSpan) -> SpanRecord | None:
    attributes = dict(span.attributes or {})
    tenant, run = attributes.get(TENANT), attributes.get(RUN)
    if not tenant or not run or span.context is None or span.start_time is None:
        return None
    status = span.status.status_code.name.lower()
    started = _timestamp(span.start_time)
    assert started is not None
    return SpanRecord(
        tenant_id=str(tenant),
        run_id=str(run),
        trace_id=f"{span.context.trace_id:032x}",
        span_id=f"{span.context.span_id:016x}",
        parent_span_id=f"{span.parent.span_id:016x}" if span.parent else None,
        name=span.name,
        kind=str(attributes.pop(KIND, "other")),
        started_at=started,
        ended_at=_timestamp(span.end_time),
        status=status if status in ("ok", "error") else "unset",  # type: ignore[arg-type]
        attributes=attributes,
    )


class Tracing:
    """The process's tracer. Build one per process (`flightdeck.services`)."""

    def __init__(
        self,
        exporter: Exporter,
        *,
        otlp_endpoint: str | None = None,
        service_version: str = "",
    ) -> None:
        self.exporter = exporter
        self._otlp_endpoint = otlp_endpoint
        self._service_version = service_version
        self._collector = _Collector()
        self._build_lock = threading.Lock()
        self._built: tuple[TracerProvider, Any] | None = None

    @property
    def enabled(self) -> bool:
        return self.exporter != "none"

    def _tracer(self) -> Any:
        """Built on the first span (the SDK import is paid then), once per process."""
        if self._built is None:
            with self._build_lock:
                if self._built is None:
                    self._built = self._build()
        return self._built[1]

    def _build(self) -> tuple[TracerProvider, Any]:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider(
            resource=Resource(
                {"service.name": SERVICE_NAME, "service.version": self._service_version}
            )
        )
        if self.exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            from flightdeck.telemetry import instrumentation

            exporter = OTLPSpanExporter(endpoint=self._otlp_endpoint)
            provider.add_span_processor(
                BatchSpanProcessor(instrumentation.masking_exporter(exporter, _OWN))
            )
            instrumentation.instrument_libraries(provider)
        else:
            from opentelemetry.sdk.trace import SpanProcessor

            collector = self._collector

            class Collect(SpanProcessor):
                def on_end(self, span: ReadableSpan) -> None:
                    collector.on_end(span)

            provider.add_span_processor(Collect())
        return provider, provider.get_tracer("flightdeck")

    def open(
        self,
        name: str,
        kind: SpanKindName,
        *,
        tenant_id: Any,
        run_id: Any,
        parent: str | None = None,
        attributes: Mapping[str, AttributeValue | None] | None = None,
    ) -> Span:
        """A started span the caller ends (`Span.end`). `parent` is a traceparent from another
        process; without one the span is a child of the current span, or a new trace's root."""
        if not self.enabled:
            return _OFF
        tracer = self._tracer()
        from opentelemetry import trace

        context = None
        remote = parse_traceparent(parent) if parent else None
        if remote is not None:
            context = trace.set_span_in_context(
                trace.NonRecordingSpan(
                    trace.SpanContext(
                        remote[0], remote[1], is_remote=True, trace_flags=trace.TraceFlags(1)
                    )
                )
            )
        values: dict[str, AttributeValue] = {TENANT: str(tenant_id), RUN: str(run_id), KIND: kind}
        if attributes:
            values.update({k: v for k, v in attributes.items() if v is not None})
        return Span(
            tracer.start_span(
                name, context=context, kind=_otel_kind(kind), attributes=_masked(values)
            )
        )

    @contextmanager
    def span(
        self,
        name: str,
        kind: SpanKindName,
        *,
        tenant_id: Any,
        run_id: Any,
        parent: str | None = None,
        attributes: Mapping[str, AttributeValue | None] | None = None,
    ) -> Iterator[Span]:
        """`open` for the length of the block, current inside it (spans opened there are its
        children). An exception leaving the block marks the span failed with its type."""
        handle = self.open(
            name, kind, tenant_id=tenant_id, run_id=run_id, parent=parent, attributes=attributes
        )
        try:
            with handle.current():
                yield handle
        except BaseException as exc:
            handle.fail(type(exc).__name__)
            raise
        finally:
            handle.end()

    @property
    def provider(self) -> TracerProvider:
        """The process's tracer provider (built on first use)."""
        self._tracer()
        assert self._built is not None
        return self._built[0]

    def instrument_libraries(self) -> None:
        """With the OTLP exporter, trace psycopg statements and botocore calls from now on
        (`flightdeck.telemetry.instrumentation`; building the tracer installs them)."""
        if self.exporter == "otlp":
            self._tracer()

    def instrument_app(self, app: Any) -> None:
        """With the OTLP exporter, a span per request of this FastAPI app."""
        if self.exporter == "otlp":
            from flightdeck.telemetry import instrumentation

            instrumentation.instrument_app(app, self.provider)

    def inside_span(self) -> bool:
        """Whether a span of ours is current (its maker will collect its children)."""
        if not self.enabled or self._built is None:
            return False
        from opentelemetry import trace

        return trace.get_current_span().get_span_context().is_valid

    def take(self, trace_id: str | None) -> list[SpanRecord]:
        """The ended spans of one trace, for the span store; each is handed out once."""
        if trace_id is None or self.exporter != "postgres" or self._built is None:
            return []
        found = (_record(s) for s in self._collector.take(int(trace_id, 16)))
        return sorted((r for r in found if r is not None), key=lambda r: r.started_at)

    def shutdown(self) -> None:
        """Send what is batched and stop the exporter (the process's services are closed). The
        library instrumentation this tracer installed goes with it, so that the next tracer
        (after a SnapStart restore, say) installs it again for its own exporter."""
        built, self._built = self._built, None
        if built is not None:
            if self.exporter == "otlp":
                from flightdeck.telemetry import instrumentation

                instrumentation.uninstrument_libraries()
            built[0].shutdown()

    def flush(self) -> None:
        """Send what is batched (OTLP) before a Lambda handler returns and the sandbox may
        freeze."""
        if self.exporter == "otlp" and self._built is not None:
            self._built[0].force_flush(timeout_millis=3000)
