"""300 webhook deliveries at once through the API's Lambda handler, in one process whose pool
holds at most 20 connections: the pool, not Postgres, is what limits them, every delivery is
accepted or told to retry, and every accepted one has its run, its event and its execution."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flightdeck.engine.runs import run_id_for
from tests.conftest import Platform, wait_for
from tests.integration.test_database_faults import APP, api_handler, assert_retryable, deliver

__all__ = ["api_handler"]  # the fixture, shared with the database fault tests

DELIVERIES = 300
POOL = 20
RETRIES = 30  # a sender's attempts at one refused delivery
WORKFLOW = "single_step"


def test_300_concurrent_deliveries_against_a_pool_of_20(
    platform: Platform, conn: Any, api_handler: None
) -> None:
    assert platform.services.pool.max_size == POOL
    # Given a platform that has served a delivery (its app, keyring and sealer are built: a
    # first request pays for those once per process, which is not what is measured here)
    warm = f"msg_{uuid.uuid4().hex}"
    assert deliver(platform, {"ticket_id": "C-warm"}, warm, WORKFLOW)[0] == 202
    bodies = {f"msg_{uuid.uuid4().hex}": {"ticket_id": f"C-{i}"} for i in range(DELIVERIES)}
    start = threading.Barrier(DELIVERIES)

    # The most connections the application held at once, sampled while the deliveries run.
    sampling = threading.Event()
    peak = [0]

    def sample() -> None:
        while not sampling.wait(0.01):
            row = conn.execute(
                "SELECT count(*) AS n FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                (APP,),
            ).fetchone()
            peak[0] = max(peak[0], int(row["n"]))

    def send(msg_id: str) -> tuple[str, int, Any, dict[str, str], float]:
        asyncio.set_event_loop(asyncio.new_event_loop())
        start.wait(timeout=120)
        began = time.perf_counter()
        status, body, headers = deliver(platform, bodies[msg_id], msg_id, WORKFLOW)
        return msg_id, status, body, headers, time.perf_counter() - began

    # When all 300 are sent at the same moment
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=DELIVERIES) as pool:
            answers = list(pool.map(send, bodies))
    finally:
        sampling.set()
        sampler.join(timeout=10)

    # Then each is accepted, or refused with a retryable 503 when no connection came free in
    # time (never a 500, never Postgres' "too many clients")
    refused = [a for a in answers if a[1] != 202]
    for _, status, body, headers, _ in refused:
        assert_retryable(status, body, headers)
        assert "too many clients" not in body["detail"]
    assert 0 < peak[0] <= POOL
    latencies = sorted(a[4] * 1000 for a in answers)
    p95 = latencies[int(0.95 * len(latencies)) - 1]
    print(
        f"\n{DELIVERIES} concurrent deliveries, pool of {POOL}: p50"
        f" {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, max {latencies[-1]:.0f} ms;"
        f" {len(refused)} answered 503; at most {peak[0]} connections held"
    )

    # And the refused ones, sent again as their sender would (after Retry-After, as n8n does),
    # are accepted too. The emulator's Step Functions may still be starting the others'
    # executions and answer a retry 503 as well: a retry is told to wait, never refused.
    accepted = {msg_id: body["run_id"] for msg_id, status, body, _, _ in answers if status == 202}
    for msg_id, *_ in refused:
        for _ in range(RETRIES):
            status, body, headers = deliver(platform, bodies[msg_id], msg_id, WORKFLOW)
            if status == 202:
                break
            assert_retryable(status, body, headers)
            time.sleep(float(headers["retry-after"]))
        assert status == 202, body
        accepted[msg_id] = body["run_id"]

    # Every accepted delivery has its run, its one queued event, and an execution that runs it
    assert {m: uuid.UUID(r) for m, r in accepted.items()} == {
        m: run_id_for(platform.tenant_id, m) for m in bodies
    }
    run_ids = [uuid.UUID(r) for r in accepted.values()]
    queued = conn.execute(
        "SELECT r.id, count(e.*) FILTER (WHERE e.type = 'run.queued') AS queued FROM runs r"
        " LEFT JOIN run_events e ON e.run_id = r.id WHERE r.id = ANY(%s) GROUP BY r.id",
        (run_ids,),
    ).fetchall()
    assert len(queued) == DELIVERIES
    assert {r["queued"] for r in queued} == {1}

    def finished() -> bool:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'succeeded') AS ok,"
            " count(*) FILTER (WHERE status IN ('failed', 'cancelled')) AS bad"
            " FROM runs WHERE id = ANY(%s)",
            (run_ids,),
        ).fetchone()
        assert row["bad"] == 0
        return bool(row["ok"] == DELIVERIES)

    wait_for(finished, timeout=300, every=1.0)
    assert {platform.execution_status(r) for r in run_ids} == {"SUCCEEDED"}
