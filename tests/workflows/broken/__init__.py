"""Two nodes; the second always fails with a permanent error."""

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from flightdeck.engine.workflow import Manifest, Workflow


class BrokenInput(BaseModel):
    order: str


class State(TypedDict, total=False):
    order: dict[str, Any]
    checked: bool


def check(state: State) -> dict[str, Any]:
    return {"checked": True}


def charge(state: State) -> dict[str, Any]:
    raise ValueError(f"card declined for order {state['order']['order']}")


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    graph = StateGraph(State)
    graph.add_node("check", check)
    graph.add_node("charge", charge)
    graph.add_edge(START, "check")
    graph.add_edge("check", "charge")
    graph.add_edge("charge", END)
    return graph


WORKFLOW = Workflow(
    manifest=Manifest(
        name="broken",
        version="1.0.0",
        description="fails permanently in its second node",
        input_model=BrokenInput,
        kpi_baseline_minutes=1.0,
    ),
    graph_factory="tests.workflows.broken:build_graph",
    input_key="order",
)
