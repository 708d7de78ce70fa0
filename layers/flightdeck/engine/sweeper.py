"""The periodic sweep: starts the executions of runs left queued without one, and rolls up
the outcome figures that writes marked and no read has taken yet.

A run is committed before its execution is started (the node runner needs the row), so when
Step Functions is unreachable or throttling at that moment the run is stored, queued, with no
execution, and the delivery is answered 503 (`flightdeck.engine.runs.ExecutionStartError`).
The sender's retry of the same delivery starts it; when no retry comes (the sender gave up, or
the run came from a schedule), the sweeper does: every minute (an EventBridge rule on AWS,
a background thread in `make dev`) it takes the runs still queued `SWEEP_AFTER_SECONDS` after
they were created or resumed and starts their executions.

Starting is idempotent: the execution is named after the run, and Step Functions refuses a
second execution of the same name (`ExecutionAlreadyExists`), so a run whose execution did
start, and is merely slow to reach its first node, is left as it is.

Outcome rollups (`flightdeck.store.insights`) are recomputed by the first read after a write
marked them. A tenant nobody looks at would gather marks without end, and the first look after
a busy hour would pay for all of them; so each sweep also refreshes the tenants whose marked
hours (or pending days and weeks) have ended, longest waiting first, `ROLLUP_TENANTS_PER_SWEEP`
at a time, each in its own transaction. A refresh a read makes meanwhile waits for it (or it
for the read): the rollups come out the same either way.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flightdeck.engine.runs import ExecutionStartError
from flightdeck.store import insights
from flightdeck.store import runs as run_store
from flightdeck.store import tenants as tenant_store
from flightdeck.store.db import scoped

if TYPE_CHECKING:
    from flightdeck.engine.runner import ConnectionFactory
    from flightdeck.engine.runs import RunService

logger = logging.getLogger(__name__)

# A run still queued this long after it was pointed at an execution may have none: the API
# starts the execution right after the commit, and the first node marks the run running.
SWEEP_AFTER_SECONDS = 60.0
# Runs examined per sweep (the oldest first); the next sweep takes the rest.
SWEEP_LIMIT = 500
# How often `make dev` sweeps (on AWS: the EventBridge rule's rate, `stacks.workflow`).
SWEEP_INTERVAL_SECONDS = 60.0
# Tenants whose outcome rollups a sweep refreshes (a large tenant's busy hour takes tens of
# milliseconds); the next sweep takes the rest.
ROLLUP_TENANTS_PER_SWEEP = 20


@dataclass
class SweepReport:
    """What one sweep found: the queued runs it examined, those whose execution it started
    (they had none), those that had one, and those Step Functions could not start yet."""

    examined: int = 0
    started: list[uuid.UUID] = field(default_factory=list)
    existing: int = 0
    unavailable: int = 0
    # Tenants whose outcome rollups were refreshed, and the hours recomputed for them.
    rolled_up: int = 0
    hours: int = 0


class RunSweeper:
    def __init__(self, *, connection: ConnectionFactory, runs: RunService) -> None:
        self._connection = connection
        self._runs = runs

    def sweep(
        self,
        *,
        after_seconds: float = SWEEP_AFTER_SECONDS,
        limit: int = SWEEP_LIMIT,
        rollup_tenants: int = ROLLUP_TENANTS_PER_SWEEP,
    ) -> SweepReport:
        """Start the execution of every run of every tenant still queued `after_seconds`
        after it was created or resumed (at most `limit`, oldest first), then refresh the
        outcome rollups of up to `rollup_tenants` tenants. Starting stops early while Step
        Functions is unavailable: the next sweep tries again."""
        report = SweepReport()
        with self._connection() as conn, conn.transaction():
            tenant_ids = tenant_store.all_ids(conn)
        if not tenant_ids:
            return report
        self._start_queued(report, tenant_ids, after_seconds, limit)
        self._roll_up(report, tenant_ids, rollup_tenants)
        return report

    def _start_queued(
        self, report: SweepReport, tenant_ids: list[uuid.UUID], after_seconds: float, limit: int
    ) -> None:
        with self._connection() as conn, scoped(conn, *tenant_ids):
            queued = run_store.queued_since(conn, tenant_ids, seconds=after_seconds, limit=limit)
        for run in queued:
            report.examined += 1
            try:
                started = self._runs.start_queued(run)
            except ExecutionStartError as exc:
                report.unavailable = len(queued) - report.examined + 1
                logger.warning("sweep stopped: Step Functions is unavailable (%s)", exc)
                break
            if started:
                report.started.append(run.id)
                logger.warning("started the execution of run %s, queued without one", run.id)
            else:
                report.existing += 1

    def _roll_up(self, report: SweepReport, tenant_ids: list[uuid.UUID], limit: int) -> None:
        if limit <= 0:
            return
        with self._connection() as conn, scoped(conn, *tenant_ids):
            waiting = insights.waiting_for_refresh(conn, limit=limit)
        for tenant_id in waiting:
            with self._connection() as conn, scoped(conn, tenant_id):
                report.hours += insights.refresh(conn, tenant_id)
            report.rolled_up += 1

    def run_until(self, stop: threading.Event, *, interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        """Sweep every `interval` seconds until `stop` is set (the local runner's background
        thread). A failing sweep is logged and the next one tries again."""
        while not stop.wait(interval):
            try:
                self.sweep()
            except Exception:
                logger.exception("run sweep failed")
