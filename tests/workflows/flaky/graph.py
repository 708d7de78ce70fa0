from __future__ import annotations

from collections import Counter
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from flightdeck.engine.context import NodeContext
from flightdeck.errors import TransientError

ATTEMPTS: Counter[str] = Counter()


class State(TypedDict, total=False):
    value: dict[str, Any]
    doubled: int
    done: bool


def double(state: State) -> dict[str, Any]:
    return {"doubled": state["value"]["value"] * 2}


def wobble(state: State, runtime: Runtime[NodeContext]) -> dict[str, Any]:
    key = str(runtime.context.run_id)
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] <= 2:
        raise TransientError(f"dependency unavailable (attempt {ATTEMPTS[key]})")
    return {"doubled": state["doubled"] + 1}


def finish(state: State) -> dict[str, Any]:
    return {"done": True}


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    graph = StateGraph(State, context_schema=NodeContext)
    graph.add_node("double", double)
    graph.add_node("wobble", wobble)
    graph.add_node("finish", finish)
    graph.add_edge(START, "double")
    graph.add_edge("double", "wobble")
    graph.add_edge("wobble", "finish")
    graph.add_edge("finish", END)
    return graph
