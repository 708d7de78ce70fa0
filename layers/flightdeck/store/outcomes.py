"""Before/after snapshots of runs: the data behind the business-outcome view."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from flightdeck.store.db import Connection


@dataclass(frozen=True)
class Outcome:
    baseline_minutes: float
    staff_minutes: float
    turnaround_seconds: float
    quality_score: float
    data: dict[str, Any]

    @property
    def minutes_saved(self) -> float:
        return max(self.baseline_minutes - self.staff_minutes, 0.0)


def record(
    conn: Connection, *, tenant_id: uuid.UUID, run_id: uuid.UUID, workflow: str, outcome: Outcome
) -> None:
    """One snapshot per run; recording again (a retried node) replaces it."""
    conn.execute(
        "INSERT INTO run_outcomes (run_id, tenant_id, workflow, baseline_minutes, staff_minutes,"
        " turnaround_seconds, quality_score, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (run_id) DO UPDATE SET baseline_minutes = EXCLUDED.baseline_minutes,"
        " staff_minutes = EXCLUDED.staff_minutes,"
        " turnaround_seconds = EXCLUDED.turnaround_seconds,"
        " quality_score = EXCLUDED.quality_score, data = EXCLUDED.data",
        (
            run_id,
            tenant_id,
            workflow,
            outcome.baseline_minutes,
            outcome.staff_minutes,
            outcome.turnaround_seconds,
            outcome.quality_score,
            Jsonb(outcome.data),
        ),
    )


def get(conn: Connection, run_id: uuid.UUID) -> Outcome | None:
    row = conn.execute(
        "SELECT baseline_minutes, staff_minutes, turnaround_seconds, quality_score, data"
        " FROM run_outcomes WHERE run_id = %s",
        (run_id,),
    ).fetchone()
    return Outcome(**row) if row else None
