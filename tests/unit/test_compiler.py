"""The compiler's output for linear, branching and interrupting graphs."""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from flightdeck.engine import compiler
from flightdeck.engine.registry import Registry
from flightdeck.engine.workflow import ApprovalPolicy, Manifest, RetryPolicy, Workflow
from flightdeck.errors import WorkflowDefinitionError


class State(TypedDict, total=False):
    x: int


class Input(BaseModel):
    x: int


def _node(state: State) -> dict[str, Any]:
    return {}


def linear() -> StateGraph[Any, Any, Any, Any]:
    g = StateGraph(State)
    for n in ("a", "b", "c"):
        g.add_node(n, _node)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", END)
    return g


def _route(state: State) -> Literal["b", "c", "__end__"]:
    return "b"


def branching() -> StateGraph[Any, Any, Any, Any]:
    g = StateGraph(State)
    for n in ("a", "b", "c"):
        g.add_node(n, _node)
    g.add_edge(START, "a")
    g.add_conditional_edges("a", _route)
    g.add_edge("b", "c")
    g.add_edge("c", END)
    return g


def fan_out() -> StateGraph[Any, Any, Any, Any]:
    g = StateGraph(State)
    for n in ("a", "b", "c"):
        g.add_node(n, _node)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("a", "c")
    g.add_edge("b", END)
    g.add_edge("c", END)
    return g


def untyped_branch() -> StateGraph[Any, Any, Any, Any]:
    g = StateGraph(State)
    g.add_node("a", _node)
    g.add_node("b", _node)
    g.add_edge(START, "a")
    g.add_conditional_edges("a", lambda s: "b")
    g.add_edge("b", END)
    return g


FACTORIES = {
    "linear": linear,
    "branching": branching,
    "fan_out": fan_out,
    "untyped": untyped_branch,
}


def workflow(
    shape: str, *, approval: ApprovalPolicy | None = None, retry: RetryPolicy | None = None
) -> Workflow:
    return Workflow(
        manifest=Manifest(
            name=f"test_{shape}",
            version="1.0.0",
            description="",
            input_model=Input,
            kpi_baseline_minutes=1.0,
            approval=approval,
            retry=retry or RetryPolicy(),
        ),
        graph_factory=f"{__name__}:{FACTORIES[shape].__name__}",
    )


def tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in definition["States"].items() if v["Type"] == "Task"}


def assert_well_formed(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert definition["StartAt"] in states
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", [])]
        targets += [c["Next"] for c in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in states, f"{name} points at missing state {target}"
        if state["Type"] == "Task":
            retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
            assert set(compiler.LAMBDA_SERVICE_ERRORS) <= retried, name
            assert set(compiler.TRANSIENT_ERRORS) <= retried, name
            assert any(r.get("JitterStrategy") == "FULL" for r in state["Retry"]), name
            assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name


def test_linear_graph_has_one_task_per_node_each_with_retry_and_catch() -> None:
    definition = compiler.compile_workflow(workflow("linear"))

    assert_well_formed(definition)
    runs = [n for n in tasks(definition) if n.startswith("Run ")]
    assert runs == ["Run a", "Run b", "Run c"]
    task = definition["States"]["Run b"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke"
    assert task["Parameters"]["FunctionName"] == "${NodeRunnerFunctionArn}"
    assert task["Retry"][0]["ErrorEquals"] == ["TransientError", "DatabaseUnavailableError"]
    route = definition["States"]["After b"]
    assert route["Choices"] == [{"Variable": "$.step.next", "StringEquals": "c", "Next": "Run c"}]
    assert route["Default"] == compiler.UNEXPECTED_STATE
    assert definition["States"]["After c"]["Choices"][0]["Next"] == compiler.SUCCEEDED_STATE


def test_node_payload_carries_ids_only() -> None:
    definition = compiler.compile_workflow(workflow("linear"))

    payload = definition["States"]["Run a"]["Parameters"]["Payload"]
    assert set(payload) == {
        "run_id.$",
        "tenant_id.$",
        "workflow",
        "node",
        "attempt.$",
        "execution.$",
        "entered_at.$",
        "traceparent.$",
    }
    assert definition["States"]["Run a"]["ResultSelector"] == {
        "next.$": "$.Payload.next",
        "interrupt.$": "$.Payload.interrupt",
    }


def test_branching_graph_routes_on_the_runner_answer() -> None:
    definition = compiler.compile_workflow(workflow("branching"))

    assert_well_formed(definition)
    route = definition["States"]["After a"]["Choices"]
    assert [(c["StringEquals"], c["Next"]) for c in route] == [
        ("b", "Run b"),
        ("c", "Run c"),
        ("__end__", compiler.SUCCEEDED_STATE),
    ]


def test_interrupting_node_waits_on_a_task_token_with_the_policy_timeout() -> None:
    policy = ApprovalPolicy(nodes=("b",), timeout_seconds=900, default_action="approve")
    definition = compiler.compile_workflow(workflow("linear", approval=policy))

    assert_well_formed(definition)
    wait = definition["States"]["Await approval b"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["TimeoutSeconds"] == 900
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert wait["Next"] == "Run b"
    assert wait["Catch"][0] == {
        "ErrorEquals": ["States.Timeout"],
        "ResultPath": "$.error",
        "Next": "Approval timed out b",
    }
    assert definition["States"]["Approval timed out b"]["Next"] == "Run b"
    choices = definition["States"]["After b"]["Choices"]
    assert {
        "Variable": "$.step.next",
        "StringEquals": "__interrupt__",
        "Next": "Await approval b",
    } in choices
    # Only the nodes the policy names may wait.
    assert "Await approval a" not in definition["States"]


def test_retry_policy_comes_from_the_manifest() -> None:
    retry = RetryPolicy(max_attempts=5, interval_seconds=3, backoff_rate=1.5, max_delay_seconds=20)
    definition = compiler.compile_workflow(workflow("linear", retry=retry))

    transient = definition["States"]["Run a"]["Retry"][0]
    assert transient == {
        "ErrorEquals": ["TransientError", "DatabaseUnavailableError"],
        "IntervalSeconds": 3,
        "MaxAttempts": 5,
        "BackoffRate": 1.5,
        "MaxDelaySeconds": 20,
        "JitterStrategy": "FULL",
    }


def test_every_path_to_failure_records_the_reason() -> None:
    definition = compiler.compile_workflow(workflow("linear"))

    record = definition["States"][compiler.RECORD_FAILURE_STATE]
    assert record["Next"] == compiler.FAILED_STATE
    assert record["Catch"][-1]["Next"] == compiler.FAILED_STATE
    for name, state in tasks(definition).items():
        if name != compiler.RECORD_FAILURE_STATE:
            assert state["Catch"][-1]["Next"] == compiler.RECORD_FAILURE_STATE


@pytest.mark.parametrize(
    ("shape", "message"),
    [("fan_out", "parallel branches"), ("untyped", "must declare its targets")],
)
def test_graphs_one_task_per_node_cannot_express_are_refused(shape: str, message: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=message):
        compiler.compile_workflow(workflow(shape))


def test_approval_policy_must_name_existing_nodes() -> None:
    with pytest.raises(WorkflowDefinitionError, match="unknown nodes"):
        compiler.compile_workflow(workflow("linear", approval=ApprovalPolicy(nodes=("zzz",))))


def test_substitution_fills_every_placeholder() -> None:
    definition = compiler.compile_workflow(
        workflow("linear", approval=ApprovalPolicy(nodes=("a",)))
    )
    arns = {p: f"arn:aws:lambda:us-east-1:1:function:{p}" for p in compiler.PLACEHOLDERS}

    text = compiler.substitute(definition, arns)

    assert "${" not in text
    with pytest.raises(ValueError, match="no ARN"):
        compiler.substitute(definition, {})


def test_registered_workflows_compile_and_stay_small() -> None:
    for wf in Registry.discover():
        definition = compiler.compile_workflow(wf)
        assert_well_formed(definition)
        # The definition (and so any one state's input) stays far under the 256 KB limit.
        assert len(json.dumps(definition)) < 64 * 1024
