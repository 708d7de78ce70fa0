"""Postgres connections terminated under the platform (`pg_terminate_backend`, as a failover,
a restart or an operator does it) while webhooks are taken in and runs step: every request is
answered 202 or with a retryable 503 problem, every run completes through Step Functions'
retries, and nothing is half-written."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from flightdeck.engine.runs import run_id_for
from tests.conftest import Platform, lambda_context, load_event, signed_webhook_event, wait_for

NODES = ["plan", "retrieve", "decide", "act", "reflect"]
# Support triage with more retries per node than the load test has rounds of terminations.
PATIENT = "triage_patient"
# What the application's pool names its connections (`flightdeck.store.db.make_pool`).
APP = "flightdeck"


def terminate_app_backends(conn: Any, *, waiting_on_a_lock: bool = False) -> int:
    """Terminate the application's connections to this test's database; returns how many."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = %s"
        " AND (NOT %s OR wait_event_type = 'Lock')",
        (APP, waiting_on_a_lock),
    ).fetchone()
    return int(row["n"])


def waiting_on_a_lock(conn: Any) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = %s AND wait_event_type = 'Lock'",
        (APP,),
    ).fetchone()
    return int(row["n"])


@contextmanager
def table_locked(database_url: str, table: str) -> Iterator[Any]:
    """Writes to `table` wait until the block ends (reads do not)."""
    from flightdeck.store.db import connect

    with connect(database_url) as owner, owner.transaction():
        owner.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        yield owner


def deliver(
    platform: Platform, body: dict[str, Any], msg_id: str, workflow: str = "support_triage"
) -> tuple[int, Any, Any]:
    """One delivery through the API's Lambda handler: (status, body, headers)."""
    from functions.api import handler as api_handler

    event = signed_webhook_event(platform.webhook_secret, body, msg_id)
    event["path"] = f"/v1/webhooks/{workflow}"
    event["pathParameters"]["proxy"] = f"v1/webhooks/{workflow}"
    event["requestContext"]["path"] = f"/v1/v1/webhooks/{workflow}"
    answer = api_handler.handler(event, lambda_context())
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    raw = answer["body"]
    if answer.get("isBase64Encoded"):
        raw = base64.b64decode(raw)
    return answer["statusCode"], json.loads(raw), headers


def assert_retryable(status: int, body: Any, headers: dict[str, str]) -> None:
    """The only failure a fault may cause: a 503 problem the sender is told to retry."""
    assert status == 503, (status, body)
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == 503
    assert body["title"] == "Service unavailable"
    assert int(headers["retry-after"]) >= 1


def in_background(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []

    def target() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        result.append(fn())

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


@pytest.fixture
def api_handler(platform: Platform) -> Iterator[None]:
    from functions.api import handler as api_handler

    api_handler._adapter = None  # built on first call against this test's platform
    yield
    api_handler._adapter = None


def assert_whole(platform: Platform, conn: Any, run_id: uuid.UUID) -> None:
    """A finished run with everything it should have, once: its queued event, each node's
    success, its one reply, and an execution that succeeded. Read through the test's own
    connection: the application's pool may be saturated on purpose."""
    run = conn.execute("SELECT status FROM runs WHERE id = %s", (run_id,)).fetchone()
    assert run == {"status": "succeeded"}, run_id
    events = conn.execute("SELECT type, node FROM run_events WHERE run_id = %s", (run_id,))
    events = events.fetchall()
    types = Counter(e["type"] for e in events)
    assert types["run.queued"] == 1
    assert types["run.succeeded"] == 1
    assert Counter(e["node"] for e in events if e["type"] == "node.succeeded") == Counter(NODES)
    effects = conn.execute("SELECT kind FROM outbox WHERE run_id = %s", (run_id,)).fetchall()
    assert [e["kind"] for e in effects] == ["email.reply"]
    # The execution ends once Step Functions has the last Task's answer, a moment after the run
    # row says so (a retried Task later still, under the terminations).
    row = conn.execute(
        "SELECT workflow, execution_name FROM runs WHERE id = %s", (run_id,)
    ).fetchone()
    arn = platform.machines[row["workflow"]].replace(":stateMachine:", ":execution:")

    def ended() -> str | None:
        described = platform.services.sfn.describe_execution(
            executionArn=f"{arn}:{row['execution_name']}"
        )
        return None if described["status"] == "RUNNING" else str(described["status"])

    assert wait_for(ended, timeout=60) == "SUCCEEDED"


def wait_finished(conn: Any, run_ids: list[uuid.UUID], timeout: float = 120) -> None:
    """Until none of `run_ids` is still under way (read through the test's own connection)."""
    wait_for(
        lambda: (
            conn.execute(
                "SELECT count(*) AS n FROM runs WHERE id = ANY(%s)"
                " AND status IN ('queued', 'running', 'waiting_for_approval')",
                (run_ids,),
            ).fetchone()["n"]
            == 0
        ),
        timeout=timeout,
        every=0.5,
    )


def test_webhook_insert_cut_off_is_a_retryable_503_and_stores_nothing(
    platform: Platform, conn: Any, database_url: str, api_handler: None
) -> None:
    body = {**load_event("password_ticket"), "ticket_id": "T-cut"}
    msg_id = f"msg_{uuid.uuid4().hex}"

    # Given a delivery whose insert is under way (held by a lock) when its connection is
    # terminated
    with table_locked(database_url, "runs"):
        thread, answers = in_background(lambda: deliver(platform, body, msg_id))
        wait_for(lambda: waiting_on_a_lock(conn), timeout=30)
        assert terminate_app_backends(conn, waiting_on_a_lock=True) == 1
        thread.join(timeout=30)

    # Then the sender is told to retry, and nothing of the run was kept
    ((status, problem, headers),) = answers
    assert_retryable(status, problem, headers)
    run_id = run_id_for(platform.tenant_id, msg_id)
    assert conn.execute("SELECT count(*) AS n FROM runs WHERE id = %s", (run_id,)).fetchone() == {
        "n": 0
    }
    assert conn.execute(
        "SELECT count(*) AS n FROM run_events WHERE run_id = %s", (run_id,)
    ).fetchone() == {"n": 0}

    # When the sender retries, the next request gets a working connection and the run starts
    status, accepted, _ = deliver(platform, body, msg_id)
    assert status == 202, accepted
    assert accepted["run_id"] == str(run_id)
    wait_finished(conn, [run_id])
    assert_whole(platform, conn, run_id)


def test_node_cut_off_mid_step_is_retried_by_step_functions(
    platform: Platform, conn: Any, database_url: str
) -> None:
    # Given a run whose first step is writing its checkpoint when its connection is terminated
    with table_locked(database_url, "checkpoints"):
        run_id = platform.start("support_triage", load_event("password_ticket"))
        wait_for(lambda: waiting_on_a_lock(conn), timeout=30)
        assert terminate_app_backends(conn, waiting_on_a_lock=True) == 1

    # Then Step Functions retries the node, and the run completes as if nothing happened
    wait_finished(conn, [run_id])
    assert_whole(platform, conn, run_id)
    plan = [(e.type, e.attempt) for e in platform.events(run_id) if e.node == "plan"]
    assert plan[0] == ("node.entered", 0)
    assert ("node.retried", 1) in plan
    assert plan[-1] == ("node.succeeded", 1)
    # The lost attempt left no checkpoint behind: the thread holds as many checkpoints as a
    # run that was never interrupted.
    clean = platform.start("support_triage", {**load_event("password_ticket"), "ticket_id": "c"})
    platform.wait_status(clean, "succeeded", "failed", timeout=90)
    assert checkpoints(conn, run_id) == checkpoints(conn, clean) > 0


def checkpoints(conn: Any, run_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", (str(run_id),)
    ).fetchone()
    return int(row["n"])


def test_connections_terminated_again_and_again_under_load(
    platform: Platform, conn: Any, api_handler: None
) -> None:
    # Given a thread that terminates every connection of the application, eight times 1.5 s
    # apart, starting as the deliveries do (each round cuts off whatever nodes are running; the
    # workflow retries a node more often than that, so no run can run out of retries)
    stop = threading.Event()
    terminated: list[int] = []

    def terminator() -> None:
        while len(terminated) < 8 and not stop.wait(1.5):
            terminated.append(terminate_app_backends(conn))

    killer = threading.Thread(target=terminator, daemon=True)

    # When 30 webhooks are delivered meanwhile (by a sender that retries a 503 after its
    # Retry-After, as n8n does) and their runs step through five nodes each
    base = load_event("password_ticket")
    deliveries = {f"msg_{uuid.uuid4().hex}": {**base, "ticket_id": f"T-{i}"} for i in range(30)}
    refused: list[tuple[int, Any, dict[str, str]]] = []

    def until_accepted(msg_id: str) -> str:
        for _ in range(60):
            status, body, headers = deliver(platform, deliveries[msg_id], msg_id, PATIENT)
            if status == 202:
                time.sleep(1.0)  # spread over the terminations
                return str(body["run_id"])
            refused.append((status, body, headers))
            time.sleep(float(headers.get("retry-after", 1)))
        last = Counter((s, b.get("detail")) for s, b, _ in refused[-60:])
        raise AssertionError(f"{msg_id} never accepted: {last}")

    killer.start()
    try:
        with ThreadPoolExecutor(
            max_workers=4, initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop())
        ) as pool:
            accepted = dict(zip(deliveries, pool.map(until_accepted, deliveries), strict=True))
        # The runs keep stepping under the terminations until the last.
        killer.join(timeout=60)
    finally:
        stop.set()
        killer.join(timeout=10)

    # Then every refusal was a retryable 503, every run completed, whole and once
    assert sum(terminated) > 0
    for status, body, headers in refused:
        assert_retryable(status, body, headers)
    run_ids = [uuid.UUID(r) for r in accepted.values()]
    assert len(set(run_ids)) == 30
    assert run_ids == [run_id_for(platform.tenant_id, m) for m in accepted]
    wait_finished(conn, run_ids)
    for run_id in run_ids:
        assert_whole(platform, conn, run_id)
    # Every thread holds the checkpoints of one pass through the nodes, whatever was cut off.
    assert len({checkpoints(conn, run_id) for run_id in run_ids}) == 1
    # No run row was written for anything but the accepted deliveries.
    stored = conn.execute(
        "SELECT id FROM runs WHERE tenant_id = %s AND trigger_source = 'webhook'",
        (platform.tenant_id,),
    ).fetchall()
    assert sorted(r["id"] for r in stored) == sorted(run_ids)
    retried = conn.execute(
        "SELECT count(*) AS n, max(attempt) AS most FROM run_events"
        " WHERE type = 'node.retried' AND run_id = ANY(%s)",
        (run_ids,),
    ).fetchone()
    print(
        f"\n{sum(terminated)} connections terminated; {len(refused)} deliveries answered 503"
        f" and retried; {retried['n']} node attempts retried by Step Functions (at most"
        f" {retried['most']} times for one node)"
    )
