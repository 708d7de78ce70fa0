"""What one node step costs in waits on the database (round trips, counted on the wire by a
proxy; never a time), and that the threads it writes are LangGraph's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from flightdeck.engine.runner import NodeRunner, StepRequest, thread_config
from flightdeck.store import runs
from tests.conftest import Platform, load_event
from tests.roundtrips import RoundTripProxy

# One round trip records the node's entry and reads the run, its earlier answer and its
# checkpoint; one more writes the checkpoint, events, span, cost and status and commits.
STEP_ROUND_TRIPS = 2


@pytest.fixture
def proxy(database_url: str) -> Iterator[RoundTripProxy]:
    counting = RoundTripProxy(database_url)
    yield counting
    counting.close()


@pytest.fixture
def counted_runner(platform: Platform, proxy: RoundTripProxy) -> Iterator[NodeRunner]:
    """The platform's runner, its one connection passing through the proxy."""
    from flightdeck.store.db import connect

    svc = platform.services
    conn = connect(proxy.url, role=svc.settings.database_role)

    @contextmanager
    def connection() -> Iterator[Any]:
        yield conn

    yield NodeRunner(
        registry=svc.registry,
        connection=connection,
        model=svc.model,
        blobs=svc.blobs,
        embeddings=lambda: svc.embeddings,
        sealer=lambda: svc.sealer,
        checkpoint_cipher=lambda: svc.checkpoint_cipher,
        tracer=svc.tracing,
        prices=svc.prices,
    )
    conn.close()


def _request(
    platform: Platform, run_id: uuid.UUID, node: str, workflow: str = "support_triage"
) -> StepRequest:
    return StepRequest(
        run_id=run_id,
        tenant_id=platform.tenant_id,
        workflow=workflow,
        node=node,
        attempt=0,
        execution="manual",
        entered_at=f"{node}-0",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


def _search_round_trips(platform: Platform, proxy: RoundTripProxy, query: str) -> int:
    """What the retrieve node's own knowledge search costs, alone."""
    from flightdeck.engine.stores import NodeEvents, PostgresKnowledge
    from flightdeck.store.db import connect, scoped

    svc = platform.services
    with (
        connect(proxy.url, role=svc.settings.database_role) as conn,
        scoped(conn, platform.tenant_id),
    ):
        knowledge = PostgresKnowledge(
            conn, platform.tenant_id, lambda: svc.embeddings, NodeEvents()
        )
        with proxy.counting() as searched:
            knowledge.search(query, limit=3)
    return searched[0]


def test_a_node_step_waits_on_the_database_twice_besides_the_nodes_own_queries(
    platform: Platform, proxy: RoundTripProxy, counted_runner: NodeRunner
) -> None:
    # Given the tenant's checkpoint key already loaded by an earlier run's first step
    counted_runner.run(_request(platform, platform.park("support_triage", SHORT), "plan"))
    run_id = platform.park("support_triage", load_event("password_ticket"))

    # When a run is driven node by node
    counts: dict[str, int] = {}
    for node in ("plan", "retrieve", "decide"):
        with proxy.counting() as made:
            answer = counted_runner.run(_request(platform, run_id, node))
        counts[node] = made[0]
        assert answer.next != "__interrupt__"

    # Then a node that queries nothing costs two round trips; the retrieve node, two besides
    # its knowledge search
    assert counts["plan"] == STEP_ROUND_TRIPS
    assert counts["decide"] == STEP_ROUND_TRIPS
    with platform.services.tenant(platform.tenant_id) as c:
        plan = counted_runner.compiled(
            c, platform.services.registry.get("support_triage"), platform.tenant_id
        ).get_state(thread_config(run_id))
    query = plan.values["plan"]["search_query"]
    assert counts["retrieve"] == STEP_ROUND_TRIPS + _search_round_trips(platform, proxy, query)
    types = [e.type for e in platform.events(run_id) if e.node == "decide"]
    assert types == ["node.entered", "model.used", "node.succeeded"]


SHORT = {
    "ticket_id": "W-1",
    "customer_email": "warm@example.com",
    "subject": "Hello",
    "body": "Just saying hello.",
}


def test_a_retried_state_entry_is_answered_in_two_round_trips_without_running_again(
    platform: Platform, proxy: RoundTripProxy, counted_runner: NodeRunner
) -> None:
    run_id = platform.park("support_triage", SHORT)
    first = counted_runner.run(_request(platform, run_id, "plan"))
    events = platform.events(run_id)

    with proxy.counting() as made:
        again = counted_runner.run(_request(platform, run_id, "plan"))

    assert again == first
    assert made[0] == STEP_ROUND_TRIPS
    assert platform.events(run_id) == events


def test_an_approval_request_adds_one_round_trip(
    platform: Platform, proxy: RoundTripProxy, counted_runner: NodeRunner
) -> None:
    from flightdeck.store import approvals

    run_id = platform.park("support_triage", load_event("refund_ticket"))
    for node in ("plan", "retrieve"):
        counted_runner.run(_request(platform, run_id, node))

    with proxy.counting() as made:
        answer = counted_runner.run(_request(platform, run_id, "decide"))

    # The approval is created and read back (its id is the answer) inside the closing batch.
    assert answer.next == "__interrupt__"
    assert made[0] == STEP_ROUND_TRIPS + 1
    with platform.services.tenant(platform.tenant_id) as c:
        (approval,) = approvals.list_for_run(c, run_id)
    assert answer.interrupt == {"approval_id": str(approval.id)}
    assert approval.status == "pending"
    assert platform.run(run_id).current_node == "decide"


def test_a_failed_node_is_undone_and_recorded_in_three_round_trips(
    platform: Platform, proxy: RoundTripProxy, counted_runner: NodeRunner
) -> None:
    run_id = platform.park("broken", {"order": "R-1"})
    counted_runner.run(_request(platform, run_id, "check", "broken"))

    with proxy.counting() as made, pytest.raises(ValueError, match="card declined"):
        counted_runner.run(_request(platform, run_id, "charge", "broken"))

    # The step's first batch, its rollback, then the failure's own transaction in one batch.
    assert made[0] == 3
    charge = [(e.type, e.error_type) for e in platform.events(run_id) if e.node == "charge"]
    assert charge == [("node.entered", None), ("node.failed", "ValueError")]
    with platform.services.tenant(platform.tenant_id) as c:
        assert counted_runner.next_node(c, platform.run(run_id)) == "charge"


def test_the_runners_threads_read_the_same_under_langgraphs_own_checkpointer(
    platform: Platform,
) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    # Given a run through Step Functions, approved
    svc = platform.services
    run_id = platform.start("support_triage", load_event("refund_ticket"))
    approval = platform.pending_approval(run_id)
    svc.approvals.decide(
        tenant_id=platform.tenant_id,
        approval_id=approval.id,
        decision="approve",
        payload=None,
        decided_by="operator:test",
    )
    platform.wait_status(run_id, "succeeded")
    workflow = svc.registry.get("support_triage")

    # When its thread is read by LangGraph's stock PostgresSaver (with the tenant's cipher)
    with svc.tenant(platform.tenant_id) as c:
        cipher = svc.checkpoint_cipher
        cipher.use(c, platform.tenant_id)
        stock = workflow.graph.compile(
            checkpointer=PostgresSaver(c, serde=cipher.serializer(platform.tenant_id))
        )
        state = stock.get_state(thread_config(run_id))
        history = list(stock.get_state_history(thread_config(run_id)))
        ours = svc.runner.compiled(c, workflow, platform.tenant_id).get_state(thread_config(run_id))

    # Then it finds the finished state, and a checkpoint per step as LangGraph writes them
    assert state.values == ours.values
    assert state.next == ()
    assert set(state.values) == {
        "ticket",
        "plan",
        "context",
        "draft",
        "review",
        "action",
        "reflection",
    }
    steps = sorted(h.metadata["step"] for h in history)
    assert steps == list(range(-1, len(steps) - 1))
    assert history[-1].metadata["source"] == "input"
    assert sum(1 for e in platform.events(run_id) if e.type == runs.NODE_SUCCEEDED) == 5


def test_the_step_saver_writes_what_it_holds_before_any_other_read(conn: Any) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    from flightdeck.engine.checkpointer import StepSaver

    saver = StepSaver(conn)
    thread = {"configurable": {"thread_id": f"t-{uuid.uuid4()}", "checkpoint_ns": ""}}
    # Given the thread's latest checkpoint read at the step's start (none yet)
    saver.adopt(thread["configurable"]["thread_id"], None)
    assert saver.get_tuple(thread) is None

    # When LangGraph writes while the step holds its writes
    saver.hold()
    saved = saver.put(thread, empty_checkpoint(), {"source": "input", "step": -1}, {})
    assert conn.execute("SELECT count(*) AS n FROM checkpoints").fetchone()["n"] == 0

    # Then a read of the thread writes them first and finds them (nothing stale is answered)
    found = saver.get_tuple(thread)
    assert found is not None
    assert found.config["configurable"]["checkpoint_id"] == saved["configurable"]["checkpoint_id"]
    assert conn.execute("SELECT count(*) AS n FROM checkpoints").fetchone()["n"] == 1


def test_checkpoints_written_from_langgraphs_worker_threads_use_the_tenants_key(
    platform: Platform,
) -> None:
    import threading

    svc = platform.services
    workflow = svc.registry.get("support_triage")
    with svc.tenant(platform.tenant_id) as c:
        serde = svc.runner.compiled(c, workflow, platform.tenant_id).checkpointer.serde
        newest = c.execute(
            "SELECT id FROM tenant_data_keys WHERE tenant_id = %s AND purpose = 'checkpoints'"
            " ORDER BY generation DESC LIMIT 1",
            (platform.tenant_id,),
        ).fetchone()["id"]

    # When a blob is serialised in a thread that never named the tenant's key (LangGraph
    # saves from worker threads of its own)
    found: list[Any] = []
    worker = threading.Thread(target=lambda: found.append(serde.dumps_typed({"ticket": "T-9"})))
    worker.start()
    worker.join()

    # Then it is encrypted with that tenant's key, and opens again
    (typed,) = found
    assert typed[0].split("+", 1)[1] == f"aesgcm-{newest.hex}"
    assert serde.loads_typed(typed) == {"ticket": "T-9"}


def _words(sql: str) -> str:
    return " ".join(sql.split())


def test_the_prefetched_checkpoint_is_langgraphs_latest_by_its_own_query(
    platform: Platform, conn: Any
) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    from flightdeck.engine.checkpointer import StepSaver

    # The function the runner reads through (migration 0026) holds the installed LangGraph's
    # query word for word: an upgrade that changes it fails here, not in a run.
    source = conn.execute(
        "SELECT prosrc FROM pg_proc WHERE proname = 'flightdeck_latest_checkpoint'"
    ).fetchone()["prosrc"]
    assert _words(PostgresSaver.SELECT_SQL) + " WHERE thread_id = p_thread_id AND" in _words(source)

    # Given a run waiting for approval (its thread has pending writes and several checkpoints)
    svc = platform.services
    run_id = platform.start("support_triage", load_event("refund_ticket"))
    platform.pending_approval(run_id)
    with svc.tenant(platform.tenant_id) as c:
        cipher = svc.checkpoint_cipher
        cipher.use(c, platform.tenant_id)
        serde = cipher.serializer(platform.tenant_id)
        stock = PostgresSaver(c, serde=serde).get_tuple(thread_config(run_id))
        # When the step saver prefetches and adopts the thread's latest checkpoint
        saver = StepSaver(c, serde=serde)
        with c.pipeline():
            cur = StepSaver.prefetch(c, str(run_id))
        saver.adopt(str(run_id), cur.fetchone())
        adopted = saver.get_tuple(thread_config(run_id))

    # Then it is the tuple LangGraph's own get_tuple reads
    assert stock is not None
    assert adopted is not None
    assert adopted.config == stock.config
    assert adopted.checkpoint == stock.checkpoint
    assert adopted.metadata == stock.metadata
    assert adopted.parent_config == stock.parent_config
    assert adopted.pending_writes == stock.pending_writes
