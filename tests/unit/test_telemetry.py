"""Pricing and trace context, without I/O: the price table's arithmetic, the transitions a node
execution causes, and W3C traceparent handling."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flightdeck.engine import compiler
from flightdeck.telemetry import costs, tracing
from flightdeck.workflows.support_triage import WORKFLOW as TRIAGE

PRICES = costs.load_prices()


def test_the_price_table_says_where_and_when_its_prices_hold() -> None:
    assert PRICES.region == "us-east-1"
    assert PRICES.as_of.isoformat() == "2024-12-01"
    assert set(PRICES.sources) >= {"lambda", "stepfunctions", "apigateway", "s3", "rds", "bedrock"}


def test_the_offline_models_cost_nothing() -> None:
    assert PRICES.tokens("offline-deterministic", 10_000, 10_000) == 0
    assert PRICES.tokens("offline-hashing-v1", 10_000, 0) == 0


def test_a_cross_region_inference_profile_is_priced_as_its_model() -> None:
    direct = PRICES.tokens("anthropic.claude-3-5-haiku-20241022-v1:0", 1_000_000, 1_000_000)
    profile = PRICES.tokens("us.anthropic.claude-3-5-haiku-20241022-v1:0", 1_000_000, 1_000_000)
    assert direct == profile == Decimal("4.80")


def test_a_model_missing_from_the_table_is_counted_not_priced() -> None:
    entry = costs.price_node(
        PRICES,
        usage=[costs.Usage("someone-elses-model", 700, 300), costs.Usage("gpt-4o-mini", 1000, 0)],
        duration_ms=10,
        memory_mb=1024,
        transitions=2,
    )
    assert entry.unpriced_tokens == 1_000
    assert entry.input_tokens == 1_700
    assert entry.model_usd == Decimal("0.00015")


def test_lambda_bills_whole_milliseconds_of_the_configured_memory() -> None:
    # 1.2 ms at 512 MB: billed 2 ms = 0.001 GB-s, plus one request
    gb_seconds, usd = PRICES.lambda_invocation(1.2, 512)
    assert gb_seconds == Decimal("0.001")
    assert usd == Decimal("0.001") * Decimal("0.0000133334") + Decimal("0.0000002")


def test_storage_is_priced_per_gb_month() -> None:
    s3, rds = PRICES.storage_month(2 * 1024**3, 1024**3)
    assert (s3, rds) == (Decimal("0.046"), Decimal("0.115"))


@pytest.mark.parametrize(
    ("entry", "attempt", "outcome", "expected"),
    [
        (True, 0, "next", 3),  # Start choice, Task, Choice
        (False, 0, "next", 2),  # Task, Choice
        (False, 0, "end", 3),  # Task, Choice, Succeed
        (False, 0, "interrupt", 3),  # Task, Choice, the approval wait
        (False, 1, "failed", 1),  # a retried Task
        (True, 1, "next", 2),  # a retry of the first node does not pass Start again
    ],
)
def test_transitions_per_node_execution(
    entry: bool, attempt: int, outcome: str, expected: int
) -> None:
    assert costs.node_transitions(entry=entry, attempt=attempt, outcome=outcome) == expected


def test_the_transitions_counted_match_the_compiled_states() -> None:
    # A node's Task is followed by exactly one Choice, which enters a node, Succeed or a wait:
    # the states node_transitions counts.
    definition = compiler.compile_workflow(TRIAGE)
    states = definition["States"]
    for name, state in states.items():
        if name.startswith("Run "):
            assert states[state["Next"]]["Type"] == "Choice"
    assert states[compiler.START_STATE]["Type"] == "Choice"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "00-0af7651916cd43dd8448eb211c80319c",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
        "garbage",
    ],
)
def test_a_malformed_traceparent_is_ignored(value: str | None) -> None:
    assert tracing.parse_traceparent(value) is None


def test_a_traceparent_round_trips() -> None:
    value = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    parsed = tracing.parse_traceparent(value)
    assert parsed is not None
    assert tracing.format_traceparent(*parsed) == value


def test_spans_of_a_trace_are_handed_out_once_with_their_parents() -> None:
    tracer = tracing.Tracing("postgres")
    with tracer.span("start", "api", tenant_id="t", run_id="r") as root:
        pass
    node = tracer.open("node plan", "node", tenant_id="t", run_id="r", parent=root.traceparent)
    with node.current(), tracer.span("chat classify", "model", tenant_id="t", run_id="r"):
        pass
    node.set({tracing.COST: 0.5, "customer": "kim@example.com"})
    node.end()
    node.end()  # a second end does nothing

    spans = tracer.take(root.trace_id)
    assert tracer.take(root.trace_id) == []
    by_name = {s.name: s for s in spans}
    assert by_name["start"].parent_span_id is None
    assert by_name["node plan"].parent_span_id == by_name["start"].span_id
    assert by_name["chat classify"].parent_span_id == by_name["node plan"].span_id
    assert {s.trace_id for s in spans} == {root.trace_id}
    assert by_name["node plan"].kind == "node"
    assert by_name["node plan"].attributes[tracing.COST] == 0.5
    # personal data never reaches a span attribute
    assert "kim@example.com" not in str(by_name["node plan"].attributes)


def test_a_failure_marks_the_span_with_its_type_only() -> None:
    tracer = tracing.Tracing("postgres")
    with (
        pytest.raises(ValueError, match="declined"),
        tracer.span("node act", "node", tenant_id="t", run_id="r") as span,
    ):
        raise ValueError("card 4111 1111 1111 1111 declined")
    (record,) = tracer.take(span.trace_id)
    assert record.status == "error"
    assert record.attributes["error.type"] == "ValueError"
    assert "4111" not in str(record.attributes)


def test_with_tracing_off_nothing_is_made() -> None:
    tracer = tracing.Tracing("none")
    with tracer.span("start", "api", tenant_id="t", run_id="r") as span:
        assert span.traceparent is None
    assert tracer.take(span.trace_id) == []
