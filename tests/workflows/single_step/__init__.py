"""One node that does nothing but finish: runs whose executions cost as little as a run can,
for tests that start hundreds of them."""

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from flightdeck.engine.workflow import Manifest, Workflow


class SingleInput(BaseModel):
    ticket_id: str


class State(TypedDict, total=False):
    ticket: dict[str, Any]
    done: bool


def finish(state: State) -> dict[str, Any]:
    return {"done": True}


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    graph = StateGraph(State)
    graph.add_node("finish", finish)
    graph.add_edge(START, "finish")
    graph.add_edge("finish", END)
    return graph


WORKFLOW = Workflow(
    manifest=Manifest(
        name="single_step",
        version="1.0.0",
        description="one node that finishes at once",
        input_model=SingleInput,
        kpi_baseline_minutes=1.0,
    ),
    graph_factory="tests.workflows.single_step:build_graph",
    input_key="ticket",
)
