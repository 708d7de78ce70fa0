"""The OTLP exporter as deployed: a run's spans, with the FastAPI request, the psycopg
statements and the botocore calls underneath them, reach an OTLP/HTTP collector (a local one
that decodes what it receives), masked."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import Platform, free_port, load_event, wait_for
from tests.integration.api_client import api_for


class Collector:
    """An OTLP/HTTP traces endpoint keeping every span it is sent, as plain dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                collector.receive(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()
                self.wfile.write(b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        {
                            "name": span.name,
                            "scope": scope_spans.scope.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex() or None,
                            "attributes": {
                                a.key: getattr(a.value, a.value.WhichOneof("value"))
                                for a in span.attributes
                                if a.value.WhichOneof("value")
                            },
                        }
                    )
        with self._lock:
            self.bodies.append(body)
            self.spans.extend(found)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    yield found
    found.close()


@pytest.fixture
def otlp_platform(
    platform: Platform, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    """The platform as deployed with the OTLP exporter: every handler in this process (the
    API here, the node runner the emulator invokes) builds its services with it."""
    from flightdeck.services import reset_services, services
    from flightdeck.settings import EnvVar

    monkeypatch.setenv(EnvVar.TELEMETRY_EXPORTER, "otlp")
    monkeypatch.setenv(EnvVar.OTLP_ENDPOINT, collector.endpoint)
    reset_services()
    try:
        yield dataclasses.replace(platform, services=services())
    finally:
        # Closing the services shuts their tracer down, its library instrumentation with it.
        reset_services()


def test_a_runs_spans_and_the_libraries_spans_under_them_reach_the_collector_masked(
    otlp_platform: Platform, collector: Collector
) -> None:
    ticket = load_event("password_ticket")
    planted = "reach.me.at.jordan@example.org"
    ticket["body"] += f" Write to {planted} or call +1 415 555 0134."

    # Given a webhook delivered to the API as deployed (OTLP exporter), run to the end
    with api_for(otlp_platform) as api:
        accepted = api.webhook(ticket)
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        otlp_platform.wait_status(run_id, "succeeded")
        # A read whose query string carries an address: the request span records the URL
        assert api.get("/v1/runs", params={"q": planted}).status_code == 200
    otlp_platform.services.tracing.flush()

    def spans_of_run() -> list[dict[str, Any]] | None:
        roots = [
            s
            for s in collector.spans
            if s["attributes"].get("flightdeck.run_id") == run_id
            and s["attributes"].get("flightdeck.span_kind") == "api"
        ]
        return (
            [s for s in collector.spans if s["trace_id"] == roots[0]["trace_id"]] if roots else None
        )

    spans = wait_for(spans_of_run, timeout=30)
    by_id = {s["span_id"]: s for s in spans}

    # Then the trace holds the request, the run's own spans, the statements and the AWS calls
    (request,) = [s for s in spans if s["name"] == "POST /v1/webhooks/{workflow}"]
    assert "opentelemetry.instrumentation.fastapi" in request["scope"]
    (root,) = [s for s in spans if s["attributes"].get("flightdeck.span_kind") == "api"]
    assert root["parent_span_id"] == request["span_id"]
    statements = [s for s in spans if s["attributes"].get("db.system") == "postgresql"]
    assert statements
    assert all("psycopg" in s["scope"] for s in statements)
    start_calls = [s for s in spans if s["attributes"].get("rpc.method") == "StartExecution"]
    assert start_calls
    assert "botocore" in start_calls[0]["scope"]
    nodes = [s for s in spans if s["attributes"].get("flightdeck.span_kind") == "node"]
    assert sorted(n["attributes"]["flightdeck.node"] for n in nodes) == sorted(
        ["plan", "retrieve", "decide", "act", "reflect"]
    )
    # and the node runner's statements hang under the node spans (one trace across processes)
    node_ids = {n["span_id"] for n in nodes}
    assert any(
        by_id.get(s["parent_span_id"] or "", {}).get("span_id") in node_ids for s in statements
    )

    # And nothing that left the process carries the address or the phone number in clear
    (search,) = [s for s in collector.spans if s["name"] == "GET /v1/runs"]
    assert "q=<email:" in search["attributes"]["http.url"]
    assert not [s for s in collector.spans if s["name"].endswith((" http send", " http receive"))]
    raw = b"".join(collector.bodies)
    assert planted.encode() not in raw
    assert b"415 555 0134" not in raw
    assert b"jordan@example" not in raw
