from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from flightdeck.engine.context import NodeContext
from flightdeck.workflows.support_triage import nodes
from flightdeck.workflows.support_triage.state import TriageState


def build_graph() -> StateGraph[TriageState, NodeContext, TriageState, TriageState]:
    graph = StateGraph(TriageState, context_schema=NodeContext)
    graph.add_node("plan", nodes.plan)
    graph.add_node("retrieve", nodes.retrieve)
    graph.add_node("decide", nodes.decide)
    graph.add_node("act", nodes.act)
    graph.add_node("reflect", nodes.reflect)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "retrieve")
    graph.add_edge("retrieve", "decide")
    graph.add_conditional_edges("decide", nodes.route_after_decide)
    graph.add_edge("act", "reflect")
    graph.add_edge("reflect", END)
    return graph
