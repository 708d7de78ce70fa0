"""One trace per run across the API, the state machine and the node runner (emulated Step
Functions, the real handlers), and the cost ledger priced against a hand computation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from flightdeck.store import telemetry as telemetry_store
from flightdeck.store import tenants
from flightdeck.telemetry import costs
from tests.conftest import Platform, load_event
from tests.integration.api_client import api_for

NODES = ["plan", "retrieve", "decide", "act", "reflect"]
EVENTS = {
    "plan": "ticket triaged",
    "retrieve": "answer researched",
    "decide": "reply drafted",
    "act": "reply sent",
    "reflect": "outcome scored",
}


def flatten(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for span in spans:
        found.append(span)
        found.extend(flatten(span["children"]))
    return found


def test_a_run_is_one_trace_from_the_api_through_the_state_machine_to_each_node(
    platform: Platform,
) -> None:
    with api_for(platform) as api:
        # Given a ticket delivered by webhook, decided by an operator
        accepted = api.webhook(load_event("refund_ticket")).json()
        run_id = accepted["run_id"]
        approval = api.pending(run_id)
        api.post(f"/v1/approvals/{approval['id']}/decision", json={"decision": "approve"})
        api.wait_run(run_id, "succeeded", "failed")

        # When its trace is read
        trace = api.get(f"/v1/runs/{run_id}/trace").json()

    # Then one root, the API request; under it the execution; under that every node execution
    (root,) = trace["spans"]
    assert root["kind"] == "api"
    assert root["parent_span_id"] is None
    (execution,) = root["children"]
    assert execution["kind"] == "execution"
    nodes = execution["children"]
    assert [n["kind"] for n in nodes] == ["node"] * len(nodes)
    # decide ran twice: once to ask for approval, once resumed with the decision
    assert [n["attributes"]["flightdeck.node"] for n in nodes] == [
        "plan",
        "retrieve",
        "decide",
        "decide",
        "act",
        "reflect",
    ]
    everything = flatten(trace["spans"])
    assert {s["attributes"]["flightdeck.run_id"] for s in everything} == {run_id}
    assert len({s["span_id"] for s in everything}) == len(everything)
    for node in nodes:
        attributes = node["attributes"]
        name = attributes["flightdeck.node"]
        assert attributes["flightdeck.business_event"] == EVENTS[name]
        assert attributes["flightdeck.tenant_id"] == str(platform.tenant_id)
        assert attributes["flightdeck.workflow"] == "support_triage"
        assert attributes["flightdeck.workflow_version"] == "1.0.0"
        assert attributes["flightdeck.attempt"] == 0
        assert attributes["flightdeck.cost_usd"] > 0  # Lambda time and transitions
        assert "gen_ai.usage.input_tokens" in attributes
        assert node["ended_at"] is not None
    # the model calls sit inside their node, with tokens and (offline model) zero cost
    plan = nodes[0]
    (call,) = [c for c in plan["children"] if c["kind"] == "model"]
    assert call["attributes"]["gen_ai.usage.input_tokens"] > 0
    assert call["attributes"]["flightdeck.cost_usd"] == 0
    assert plan["attributes"]["gen_ai.usage.input_tokens"] == sum(
        c["attributes"]["gen_ai.usage.input_tokens"] for c in plan["children"]
    )
    retrieve = nodes[1]
    assert [c["name"] for c in retrieve["children"]] == ["embeddings knowledge.search"]
    # the execution lasts until its last node ended
    assert execution["ended_at"] == max(n["ended_at"] for n in nodes)


def test_each_node_execution_writes_one_ledger_row(platform: Platform) -> None:
    run_id = platform.start("support_triage", load_event("password_ticket"))
    platform.wait_status(run_id, "succeeded")

    with platform.services.tenant(platform.tenant_id) as c:
        rows = c.execute(
            "SELECT node, state_transitions, lambda_requests, api_requests, input_tokens,"
            " lambda_gb_seconds FROM cost_entries WHERE run_id = %s ORDER BY id",
            (run_id,),
        ).fetchall()
        used = c.execute(
            "SELECT sum((data->>'input_tokens')::int) AS tokens FROM run_events"
            " WHERE run_id = %s AND type = 'model.used'",
            (run_id,),
        ).fetchone()
    # the request that started the run (no API Gateway: started by the test, source "api"),
    # then the five nodes; plan pays the Start choice, reflect the Succeed state
    assert [r["node"] for r in rows] == [None, *NODES]
    assert [r["state_transitions"] for r in rows] == [0, 3, 2, 2, 2, 3]
    assert all(r["lambda_requests"] == 1 for r in rows)
    assert sum(r["input_tokens"] for r in rows) == used["tokens"]
    assert all(r["lambda_gb_seconds"] > 0 for r in rows)


# A month of a client on Bedrock, worked out by hand from prices.json (us-east-1):
#   Claude 3.5 Haiku: $0.80 per million input tokens, $4.00 per million output tokens
#   Titan embeddings v2: $0.02 per million tokens
#   Lambda (Arm): $0.0000133334 per GB-second, $0.20 per million requests
#   Step Functions: $0.025 per thousand state transitions; API Gateway: $3.50 per million
HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
TITAN = "amazon.titan-embed-text-v2:0"


def seed_month(platform: Platform, runs: int) -> uuid.UUID:
    """`runs` runs of three nodes each, with these token counts and durations."""
    prices = costs.load_prices()
    run_ids = []
    with platform.services.tenant(platform.tenant_id) as c:
        for _ in range(runs):
            run_id = platform.park("support_triage", load_event("password_ticket"))
            run_ids.append(run_id)
            executions = [
                # plan: 3,000 in / 500 out tokens, 850 ms, the entry node (3 transitions)
                ("plan", [costs.Usage(HAIKU, 3_000, 500)], 850.0, 3),
                # decide: 6,000 in / 1,500 out + a 400-token embedding, 1,499.2 ms (billed
                # 1,500), stops for approval (3 transitions)
                (
                    "decide",
                    [costs.Usage(HAIKU, 6_000, 1_500), costs.Usage(TITAN, 400, 0)],
                    1_499.2,
                    3,
                ),
                # act: no model, 120 ms, the last node (3 transitions)
                ("act", [], 120.0, 3),
            ]
            for node, usage, ms, transitions in executions:
                entry = costs.price_node(
                    prices, usage=usage, duration_ms=ms, memory_mb=1024, transitions=transitions
                )
                telemetry_store.insert_cost(
                    c,
                    tenant_id=platform.tenant_id,
                    run_id=run_id,
                    workflow="support_triage",
                    node=node,
                    attempt=0,
                    entry=entry,
                    prices_as_of=prices.as_of,
                )
            # the webhook request: 45 ms of the API function at 1,024 MB
            telemetry_store.insert_cost(
                c,
                tenant_id=platform.tenant_id,
                run_id=run_id,
                workflow="support_triage",
                node=None,
                attempt=None,
                entry=costs.price_api_request(prices, duration_ms=45.0, memory_mb=1024),
                prices_as_of=prices.as_of,
            )
    return run_ids[0]


def test_a_seeded_month_is_priced_to_the_cent_as_by_hand(platform: Platform) -> None:
    seed_month(platform, runs=200)
    month = datetime.now(UTC).strftime("%Y-%m")

    with api_for(platform) as api:
        one = api.get("/v1/costs", params={"by": "run", "month": month, "limit": 1}).json()
        workflows = api.get("/v1/costs", params={"by": "workflow", "month": month}).json()

    # By hand, one run:
    #   model:  Haiku input 9,000 x 0.80/1e6 = 0.0072; output 2,000 x 4.00/1e6 = 0.008;
    #           Titan 400 x 0.02/1e6 = 0.000008                           -> 0.015208
    #   Lambda: (850 + 1,500 + 120 + 45) ms x 1 GB = 2.515 GB-s x 0.0000133334
    #           = 0.000033533501; 4 requests x 0.20/1e6 = 0.0000008        -> 0.000034333501
    #   Step Functions: 9 transitions x 0.025/1e3                          -> 0.000225
    #   API Gateway: 1 request x 3.50/1e6                                  -> 0.0000035
    #   total                                                              -> 0.015470833501
    per_run = Decimal("0.015470833501")
    (row,) = one["rows"]
    assert Decimal(str(row["model_usd"])) == Decimal("0.015208")
    assert Decimal(str(row["stepfunctions_usd"])) == Decimal("0.000225")
    assert Decimal(str(row["api_usd"])) == Decimal("0.0000035")
    assert Decimal(str(row["lambda_usd"])) == Decimal("0.0000343335")  # to 10 places
    assert row["input_tokens"] == 9_400
    assert row["output_tokens"] == 2_000
    assert row["lambda_gb_seconds"] == 2.515
    assert row["state_transitions"] == 9
    # 200 runs: $3.0941667002, i.e. $3.09
    (support,) = workflows["rows"]
    assert support["runs"] == 200
    assert Decimal(str(support["total_usd"])).quantize(Decimal("0.01")) == Decimal("3.09")
    # The ledger keeps each row to 1e-10 dollars: 800 rows drift by at most 800 x 0.5e-10.
    assert abs(Decimal(str(support["total_usd"])) - per_run * 200) <= Decimal("0.00000004")


def test_costs_per_tenant_cover_the_admins_granted_tenants_only(platform: Platform) -> None:
    seed_month(platform, runs=2)
    with platform.services.connection() as c, c.transaction():
        client = tenants.create_tenant(c, f"client-{uuid.uuid4().hex[:6]}", "Client Ltd")
        stranger = tenants.create_tenant(c, f"stranger-{uuid.uuid4().hex[:6]}", "Stranger Ltd")
        client_viewer = tenants.issue_token(c, client.id, "viewer").token

    with api_for(platform) as api:
        with platform.services.connection() as c, c.transaction():
            admin_home = tenants.authenticate(c, api.admin)
            assert admin_home is not None
            tenants.grant(c, admin_home.home_tenant_id, client.id)

        as_admin = api.get("/v1/costs", api.admin).json()
        as_viewer = api.get("/v1/costs").json()
        as_client = api.get("/v1/costs", client_viewer).json()

    admin_ids = {r["tenant_id"] for r in as_admin["rows"]}
    assert str(platform.tenant_id) in admin_ids
    assert str(stranger.id) not in admin_ids
    demo = next(r for r in as_admin["rows"] if r["tenant_id"] == str(platform.tenant_id))
    assert demo["label"] == "Demo Bakery"
    # the demo tenant keeps documents: a month of storage is part of its bill
    assert demo["s3_bytes"] > 0
    assert demo["storage_usd"] > 0
    assert [r["tenant_id"] for r in as_viewer["rows"]] == [str(platform.tenant_id)]
    assert as_viewer["total"]["runs"] == 2
    assert all(r["tenant_id"] == str(client.id) for r in as_client["rows"])
    assert as_client["total"]["runs"] == 0
    assert as_admin["prices"]["region"] == "us-east-1"


def test_another_tenants_run_has_no_trace_for_you(platform: Platform) -> None:
    run_id = platform.start("support_triage", load_event("password_ticket"))
    platform.wait_status(run_id, "succeeded")
    with platform.services.connection() as c, c.transaction():
        other = tenants.create_tenant(c, f"other-{uuid.uuid4().hex[:6]}", "Other Ltd")
        other_token = tenants.issue_token(c, other.id, "admin").token

    with api_for(platform) as api:
        mine = api.get(f"/v1/runs/{run_id}/trace")
        theirs = api.get(f"/v1/runs/{run_id}/trace", other_token)
        unknown = api.get(f"/v1/runs/{uuid.uuid4()}/trace")
        malformed = api.get("/v1/runs/not-a-uuid/trace")

    assert mine.status_code == 200
    assert len(flatten(mine.json()["spans"])) >= 7
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"
    assert unknown.status_code == 404
    assert malformed.status_code == 422
    assert malformed.headers["content-type"] == "application/problem+json"


def test_bad_cost_queries_get_problem_details(platform: Platform) -> None:
    with api_for(platform) as api:
        answers = {
            "month 13": api.get("/v1/costs", params={"month": "2026-13"}),
            "not a month": api.get("/v1/costs", params={"month": "last"}),
            "grouping": api.get("/v1/costs", params={"by": "node"}),
            "limit": api.get("/v1/costs", params={"limit": 0}),
            "workflow name": api.get("/v1/costs", params={"workflow": "Bad Name"}),
        }
        unknown = api.get("/v1/costs", params={"workflow": "no_such_flow"})
        anonymous = api.client.get("/v1/costs")

    for case, answer in answers.items():
        assert answer.status_code == 422, case
        assert answer.headers["content-type"] == "application/problem+json", case
        assert answer.json()["errors"], case
    assert unknown.status_code == 404
    assert anonymous.status_code == 401


def test_no_spans_are_stored_when_the_exporter_is_none(platform: Platform) -> None:
    from flightdeck.telemetry.tracing import Tracing

    svc = platform.services
    svc.runner._tracing = Tracing("none")
    svc.runs._tracing = Tracing("none")
    run_id = platform.start("support_triage", load_event("password_ticket"))
    platform.wait_status(run_id, "succeeded")

    with svc.tenant(platform.tenant_id) as c:
        assert telemetry_store.spans_for_run(c, run_id) == []
        # the ledger does not depend on tracing
        assert telemetry_store.run_cost(c, run_id) is not None


def node_spans(platform: Platform, run_id: Any) -> list[Any]:
    with platform.services.tenant(platform.tenant_id) as c:
        return [s for s in telemetry_store.spans_for_run(c, run_id) if s.kind == "node"]


def test_retried_attempts_are_spans_of_their_own_and_priced_each(platform: Platform) -> None:
    run_id = platform.start("flaky", {"value": 20})
    platform.wait_status(run_id, "succeeded", "failed", timeout=90)

    wobble = [
        s for s in node_spans(platform, run_id) if s.attributes["flightdeck.node"] == "wobble"
    ]
    assert [(s.attributes["flightdeck.attempt"], s.status) for s in wobble] == [
        (0, "error"),
        (1, "error"),
        (2, "unset"),
    ]
    assert {s.attributes.get("error.type") for s in wobble[:2]} == {"TransientError"}
    with platform.services.tenant(platform.tenant_id) as c:
        rows = c.execute(
            "SELECT attempt, state_transitions FROM cost_entries"
            " WHERE run_id = %s AND node = 'wobble' ORDER BY id",
            (run_id,),
        ).fetchall()
    # a failed attempt is its Task state only; the last one also its Choice
    assert [(r["attempt"], r["state_transitions"]) for r in rows] == [(0, 1), (1, 1), (2, 2)]


def test_a_resumed_run_adds_an_execution_to_the_same_trace(
    platform: Platform, monkeypatch: Any
) -> None:
    from flightdeck.workflows.support_triage import offline

    # Given reflect crashes once, so the run fails there
    calls: list[int] = []
    real_score = offline.score

    def crash_once(variables: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("worker lost")
        return real_score(variables)

    monkeypatch.setitem(platform.services.model._rules, "support_triage.score", crash_once)
    run_id = platform.start("support_triage", load_event("password_ticket"))
    assert platform.wait_status(run_id, "failed", "succeeded").status == "failed"

    # When it is resumed on a new execution
    platform.services.runs.resume(platform.tenant_id, run_id, suffix="redrive1")
    platform.wait_status(run_id, "succeeded")

    # Then one trace, one root, two executions under it; reflect failed in the first, ran in
    # the second
    with api_for(platform) as api:
        trace = api.get(f"/v1/runs/{run_id}/trace").json()
    (root,) = trace["spans"]
    first, second = root["children"]
    assert [first["kind"], second["kind"]] == ["execution", "execution"]
    assert second["attributes"]["aws.step_functions.execution_name"].endswith("-redrive1")
    assert [n["attributes"]["flightdeck.node"] for n in first["children"]] == NODES
    failed = first["children"][-1]
    assert failed["status"] == "error"
    assert failed["attributes"]["error.type"] == "RuntimeError"
    assert "worker lost" not in str(failed)
    (reflect,) = second["children"]
    assert reflect["attributes"]["flightdeck.node"] == "reflect"
    assert reflect["status"] == "unset"
    assert {s["attributes"]["flightdeck.run_id"] for s in flatten(trace["spans"])} == {str(run_id)}


@contextmanager
def otlp_collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A stand-in OTLP/HTTP collector (as the ADOT layer runs beside a function): its traces
    endpoint, and the (path, content type, body) of every request it received."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((self.path, self.headers["content-type"], body))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/traces", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_otlp_exporter_sends_the_spans_to_the_collector() -> None:
    """The collector receives the spans, flushed before the handler would return."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from flightdeck.telemetry.tracing import Tracing

    with otlp_collector() as (endpoint, received):
        tracer = Tracing("otlp", otlp_endpoint=endpoint, service_version="test")
        try:
            run_id = uuid.uuid4()
            with (
                tracer.span("start support_triage", "api", tenant_id="t", run_id=run_id) as root,
                tracer.span("node plan", "node", tenant_id="t", run_id=run_id) as node,
            ):
                node.set({"flightdeck.business_event": "ticket triaged"})
            tracer.flush()
            # spans go to the collector, not to the span store
            assert tracer.take(root.trace_id) == []
        finally:
            # Its instrumentation of psycopg and botocore goes with it: later tests'
            # statements must not be sent to this collector once it is closed.
            tracer.shutdown()

    (path, content_type, body) = received[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    (resource,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert service["service.name"] == "flightdeck"
    spans = [s for scope in resource.scope_spans for s in scope.spans]
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {"start support_triage", "node plan"}
    assert by_name["node plan"].parent_span_id == by_name["start support_triage"].span_id
    assert by_name["node plan"].trace_id.hex() == root.trace_id
    attributes = {a.key: a.value.string_value for a in by_name["node plan"].attributes}
    assert attributes["flightdeck.business_event"] == "ticket triaged"
    assert attributes["flightdeck.run_id"] == str(run_id)


def test_a_tracer_built_after_one_was_shut_down_traces_the_libraries_itself() -> None:
    """As after a SnapStart restore: the process's services, their tracer with them, are
    closed and built again, and AWS calls (and statements) are traced for the new tracer's
    exporter, not left with the one that was shut down."""
    import boto3
    from botocore.stub import Stubber
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from flightdeck.telemetry.tracing import Tracing

    seen = InMemorySpanExporter()
    with otlp_collector() as (endpoint, _):
        first = Tracing("otlp", otlp_endpoint=endpoint)
        first.instrument_libraries()
        first.shutdown()
        second = Tracing("otlp", otlp_endpoint=endpoint)
        second.instrument_libraries()
        second.provider.add_span_processor(SimpleSpanProcessor(seen))
        try:
            client = boto3.client(
                "sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
            )
            with Stubber(client) as stub:
                stub.add_response(
                    "get_caller_identity",
                    {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/x"},
                )
                client.get_caller_identity()
        finally:
            second.shutdown()
    calls = [s.attributes.get("rpc.method") for s in seen.get_finished_spans() if s.attributes]
    assert calls == ["GetCallerIdentity"]


def test_the_span_store_takes_lowercase_hex_ids_of_their_length_only(platform: Platform) -> None:
    import psycopg

    run_id = platform.park("support_triage", load_event("password_ticket"))
    trace, span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    good = {"trace_id": trace, "span_id": span, "parent_span_id": None}
    bad = [
        {"trace_id": trace.upper()},
        {"trace_id": trace[:-1]},
        {"trace_id": trace + "0"},
        {"trace_id": trace[:-1] + "g"},
        {"span_id": span[:-1]},
        {"span_id": span[:-1] + " "},
        {"parent_span_id": ""},
        {"parent_span_id": span.upper()},
        {"parent_span_id": span + "0"},
    ]

    def insert(ids: dict[str, Any]) -> None:
        with platform.services.tenant(platform.tenant_id) as c:
            c.execute(
                "INSERT INTO run_spans (tenant_id, run_id, trace_id, span_id, parent_span_id,"
                " name, kind, started_at) VALUES (%s, %s, %s, %s, %s, 'n', 'other', now())",
                (
                    platform.tenant_id,
                    run_id,
                    ids["trace_id"],
                    ids["span_id"],
                    ids["parent_span_id"],
                ),
            )

    for change in bad:
        with pytest.raises(psycopg.errors.CheckViolation):
            insert({**good, **change})
    insert(good)
    insert({**good, "span_id": "0123456789abcdef", "parent_span_id": span})
