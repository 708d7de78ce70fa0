"""Business outcomes and technical health, computed in SQL from what the engine records.

Every figure comes from the rows themselves (runs, run events, approvals, annotations and the
runs' before/after snapshots in `run_outcomes`), never from a cache that could drift; time to
benefit adds up `run_outcome_days`, which a trigger keeps in step with `run_outcomes` in the
same transaction as each write (migration 0015). A window
selects runs by when they were triggered (`created_at`), `since` inclusive, `until` exclusive;
everything about a run (its approvals, annotations, node executions) follows the run into the
window it was triggered in. Time to benefit alone looks at all time.

The queries run inside a tenant-scoped transaction (row-level security); they also name the
tenant, so the planner can use the tenant indexes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from flightdeck.store.db import Connection

Bucket = Literal["day", "week"]
IN_PROGRESS = ("queued", "running", "waiting_for_approval")
# Node events that end one execution of a node: it ran to its end, paused for a person, or failed.
NODE_EXECUTED = ("node.succeeded", "node.interrupted", "node.failed")
# Score annotations with this metric, and labels with this prefix, speak of the end customer.
CX_METRIC = "cx"
CX_LABEL_PREFIX = "cx:"


@dataclass(frozen=True)
class Scope:
    tenant_id: uuid.UUID
    since: datetime
    until: datetime
    workflow: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant_id,
            "since": self.since,
            "until": self.until,
            "workflow": self.workflow,
        }


_RUNS_IN_SCOPE = """
    r.tenant_id = %(tenant)s
    AND r.created_at >= %(since)s AND r.created_at < %(until)s
    AND (%(workflow)s::text IS NULL OR r.workflow = %(workflow)s)
"""

# One row per workflow and one total row (`workflow` NULL), from runs and their snapshots.
_FIGURES = f"""
WITH scoped AS (
    SELECT r.workflow, r.status, r.created_at, r.finished_at,
           o.baseline_minutes, o.staff_minutes, o.turnaround_seconds, o.quality_score,
           EXISTS (SELECT 1 FROM approvals a
                   WHERE a.run_id = r.id AND a.status = 'edited') AS edited
    FROM runs r LEFT JOIN run_outcomes o ON o.run_id = r.id
    WHERE {_RUNS_IN_SCOPE}
)
SELECT workflow, GROUPING(workflow) = 1 AS is_total,
       count(*) AS runs,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status IN {IN_PROGRESS!r}) AS in_progress,
       count(*) FILTER (WHERE status = 'succeeded' AND NOT edited) AS succeeded_without_edit,
       count(baseline_minutes) AS measured_runs,
       coalesce(sum(baseline_minutes), 0) AS baseline_minutes,
       coalesce(sum(staff_minutes), 0) AS staff_minutes,
       coalesce(sum(greatest(baseline_minutes - staff_minutes, 0)), 0) AS minutes_saved,
       avg(quality_score) AS mean_quality_score,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY turnaround_seconds) AS cx_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY turnaround_seconds) AS cx_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at))
           FILTER (WHERE status = 'succeeded') AS turnaround_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at))
           FILTER (WHERE status = 'succeeded') AS turnaround_p95
FROM scoped
GROUP BY GROUPING SETS ((workflow), ())
"""

_APPROVALS = f"""
SELECT r.workflow, GROUPING(r.workflow) = 1 AS is_total,
       count(*) FILTER (WHERE a.status IN ('approved', 'edited', 'rejected')) AS decided,
       count(*) FILTER (WHERE a.status IN ('approved', 'edited')) AS accepted
FROM approvals a JOIN runs r ON r.id = a.run_id
WHERE {_RUNS_IN_SCOPE}
GROUP BY GROUPING SETS ((r.workflow), ())
"""

_SCORES = f"""
SELECT r.workflow, GROUPING(r.workflow) = 1 AS is_total,
       count(*) FILTER (WHERE n.metric IS DISTINCT FROM '{CX_METRIC}') AS scores,
       avg(n.score) FILTER (WHERE n.metric IS DISTINCT FROM '{CX_METRIC}') AS mean_score,
       count(*) FILTER (WHERE n.metric = '{CX_METRIC}') AS cx_scores,
       avg(n.score) FILTER (WHERE n.metric = '{CX_METRIC}') AS mean_cx_score
FROM annotations n JOIN runs r ON r.id = n.run_id
WHERE n.kind = 'score' AND {_RUNS_IN_SCOPE}
GROUP BY GROUPING SETS ((r.workflow), ())
"""

_CX_LABELS = f"""
SELECT r.workflow, GROUPING(r.workflow) = 1 AS is_total, n.label, count(*) AS n
FROM annotations n JOIN runs r ON r.id = n.run_id
WHERE n.kind = 'label' AND starts_with(n.label, '{CX_LABEL_PREFIX}') AND {_RUNS_IN_SCOPE}
GROUP BY GROUPING SETS ((r.workflow, n.label), (n.label))
ORDER BY n.label
"""


def _by_workflow(rows: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    """Rows of a GROUPING SETS query keyed by workflow; the total row under None."""
    return {None if row["is_total"] else row["workflow"]: row for row in rows}


def figures(conn: Connection, scope: Scope) -> dict[str | None, dict[str, Any]]:
    """The outcome figures per workflow and in total (key None), as flat rows.

    A workflow with no run in the window has no key; the total is always there.
    """
    params = scope.params()
    rows = _by_workflow(conn.execute(_FIGURES, params).fetchall())
    approvals = _by_workflow(conn.execute(_APPROVALS, params).fetchall())
    scores = _by_workflow(conn.execute(_SCORES, params).fetchall())
    labels: dict[str | None, dict[str, int]] = {}
    for row in conn.execute(_CX_LABELS, params).fetchall():
        key = None if row["is_total"] else row["workflow"]
        labels.setdefault(key, {})[row["label"]] = row["n"]
    for key, row in rows.items():
        decided = approvals.get(key, {})
        scored = scores.get(key, {})
        row["approvals_decided"] = decided.get("decided", 0)
        row["approvals_accepted"] = decided.get("accepted", 0)
        row["annotation_scores"] = scored.get("scores", 0)
        row["mean_annotation_score"] = scored.get("mean_score")
        row["cx_scores"] = scored.get("cx_scores", 0)
        row["mean_cx_score"] = scored.get("mean_cx_score")
        row["cx_labels"] = labels.get(key, {})
    return rows


@dataclass(frozen=True)
class Benefit:
    """A workflow's cumulative staff minutes saved, all time."""

    first_run_at: datetime | None
    reached_at: datetime | None
    cumulative_minutes_saved: float
    curve: list[tuple[date, float]]


# The cumulative minutes saved come from `run_outcome_days` (migration 0015: the run's UTC
# trigger day, kept exact by a trigger on run_outcomes), so the cost follows the days a tenant
# has, not its runs. Only the day on which a workflow's cumulative first exceeds its setup time
# is read run by run, to find the run that tipped it over (runs in (created_at, id) order).
_BENEFIT = """
WITH goals AS (
    SELECT * FROM unnest(%(names)s::text[], %(setup)s::float8[]) AS g(workflow, setup_minutes)
), days AS (
    SELECT d.workflow, d.day, d.minutes_saved AS saved,
           sum(d.minutes_saved) OVER (PARTITION BY d.workflow ORDER BY d.day) AS cumulative
    FROM run_outcome_days d
    WHERE d.tenant_id = %(tenant)s AND d.workflow = ANY (%(names)s::text[]) AND d.outcomes > 0
)
SELECT g.workflow,
       (SELECT min(r.created_at) FROM runs r
        WHERE r.tenant_id = %(tenant)s AND r.workflow = g.workflow) AS first_run_at,
       (SELECT min(s.created_at) FROM (
            SELECT r.created_at,
                   x.before + sum(greatest(o.baseline_minutes - o.staff_minutes, 0)::numeric)
                       OVER (ORDER BY r.created_at, r.id ROWS UNBOUNDED PRECEDING) AS cumulative
            FROM runs r JOIN run_outcomes o ON o.run_id = r.id
            WHERE r.tenant_id = %(tenant)s AND r.workflow = g.workflow
              AND r.created_at >= x.day AND r.created_at < x.day + interval '24 hours'
        ) s WHERE s.cumulative > g.setup_minutes) AS reached_at,
       coalesce((SELECT max(d.cumulative) FROM days d WHERE d.workflow = g.workflow), 0)::float8
           AS cumulative,
       coalesce((SELECT array_agg(ARRAY[extract(epoch FROM d.day), d.cumulative]::float8[]
                                  ORDER BY d.day)
                 FROM days d WHERE d.workflow = g.workflow),
                '{}') AS curve
FROM goals g
LEFT JOIN LATERAL (
    -- The first day that ends above the setup time, and what the days before it saved.
    SELECT d.day, d.cumulative - d.saved AS before FROM days d
    WHERE d.workflow = g.workflow AND d.cumulative > g.setup_minutes
    ORDER BY d.day LIMIT 1
) x ON true
"""


def benefit(
    conn: Connection, tenant_id: uuid.UUID, setup_minutes: dict[str, float]
) -> dict[str, Benefit]:
    """For each workflow named (with its setup time in minutes): when its cumulative minutes
    saved first exceeded the setup time, and the curve, one point per UTC day with runs."""
    if not setup_minutes:
        return {}
    rows = conn.execute(
        _BENEFIT,
        {
            "tenant": tenant_id,
            "names": list(setup_minutes),
            "setup": list(setup_minutes.values()),
        },
    ).fetchall()
    return {
        row["workflow"]: Benefit(
            first_run_at=row["first_run_at"],
            reached_at=row["reached_at"],
            cumulative_minutes_saved=float(row["cumulative"]),
            curve=[
                (datetime.fromtimestamp(float(epoch), tz=UTC).date(), float(cumulative))
                for epoch, cumulative in row["curve"]
            ],
        )
        for row in rows
    }


_SERIES = f"""
WITH buckets AS (
    SELECT generate_series(date_trunc(%(bucket)s, %(since)s::timestamptz, 'UTC'),
                           %(until)s::timestamptz - interval '1 microsecond',
                           ('1 ' || %(bucket)s)::interval) AS start
), scoped AS (
    SELECT date_trunc(%(bucket)s, r.created_at, 'UTC') AS start, r.status,
           extract(epoch FROM r.finished_at - r.created_at) AS turnaround,
           o.baseline_minutes, o.staff_minutes, o.turnaround_seconds, o.quality_score,
           EXISTS (SELECT 1 FROM approvals a
                   WHERE a.run_id = r.id AND a.status = 'edited') AS edited,
           (SELECT count(*) FROM approvals a WHERE a.run_id = r.id
                AND a.status IN ('approved', 'edited', 'rejected')) AS decided,
           (SELECT count(*) FROM approvals a WHERE a.run_id = r.id
                AND a.status IN ('approved', 'edited')) AS accepted
    FROM runs r LEFT JOIN run_outcomes o ON o.run_id = r.id
    WHERE {_RUNS_IN_SCOPE}
), figures AS (
    SELECT start,
           count(*) AS runs,
           count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'cancelled')) AS finished,
           count(*) FILTER (WHERE status = 'succeeded' AND NOT edited) AS without_edit,
           sum(decided) AS decided,
           sum(accepted) AS accepted,
           coalesce(sum(baseline_minutes), 0) AS baseline_minutes,
           coalesce(sum(staff_minutes), 0) AS staff_minutes,
           coalesce(sum(greatest(baseline_minutes - staff_minutes, 0)), 0) AS minutes_saved,
           avg(quality_score) AS mean_quality_score,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY turnaround)
               FILTER (WHERE status = 'succeeded') AS turnaround_p50_seconds,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY turnaround)
               FILTER (WHERE status = 'succeeded') AS turnaround_p95_seconds,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY turnaround_seconds)
               AS cx_turnaround_p50_seconds,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY turnaround_seconds)
               AS cx_turnaround_p90_seconds
    FROM scoped GROUP BY start
)
SELECT b.start,
       coalesce(f.runs, 0) AS runs,
       coalesce(f.succeeded, 0) AS succeeded,
       coalesce(f.failed, 0) AS failed,
       coalesce(f.baseline_minutes, 0) AS baseline_minutes,
       coalesce(f.staff_minutes, 0) AS staff_minutes,
       coalesce(f.minutes_saved, 0) AS minutes_saved,
       f.without_edit::float8 / nullif(f.finished, 0) AS succeeded_without_edit_rate,
       f.accepted::float8 / nullif(f.decided, 0) AS approval_acceptance_rate,
       f.mean_quality_score,
       f.turnaround_p50_seconds, f.turnaround_p95_seconds,
       f.cx_turnaround_p50_seconds, f.cx_turnaround_p90_seconds
FROM buckets b LEFT JOIN figures f ON f.start = b.start
ORDER BY b.start
"""


def series(conn: Connection, scope: Scope, bucket: Bucket) -> list[dict[str, Any]]:
    """The outcome trend: one row per UTC day or ISO week (Monday) that overlaps the window,
    empty buckets included."""
    return conn.execute(_SERIES, {**scope.params(), "bucket": bucket}).fetchall()


_NODES = f"""
SELECT r.workflow, e.node,
       count(*) FILTER (WHERE e.type IN {NODE_EXECUTED!r}) AS executions,
       count(*) FILTER (WHERE e.type = 'node.failed') AS failures,
       count(*) FILTER (WHERE e.type = 'node.retried') AS retries,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY e.duration_ms)
           FILTER (WHERE e.type IN {NODE_EXECUTED!r}) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms)
           FILTER (WHERE e.type IN {NODE_EXECUTED!r}) AS p95_ms
FROM run_events e JOIN runs r ON r.id = e.run_id
WHERE e.node IS NOT NULL AND e.type LIKE 'node.%%' AND {_RUNS_IN_SCOPE}
GROUP BY r.workflow, e.node
ORDER BY r.workflow, min(e.id)
"""

_DAYS = f"""
WITH days AS (
    SELECT generate_series(date_trunc('day', %(since)s::timestamptz, 'UTC'),
                           %(until)s::timestamptz - interval '1 microsecond',
                           interval '1 day') AS day
), counted AS (
    -- Counted per day first (a few dozen groups in memory), then matched to the days: sorting
    -- every run of the window to join it to its day spilled to disk at a large tenant's size.
    SELECT date_trunc('day', r.created_at, 'UTC') AS day,
           count(*) AS runs,
           count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE r.status = 'failed') AS failed
    FROM runs r WHERE {_RUNS_IN_SCOPE}
    GROUP BY 1
)
SELECT d.day,
       coalesce(c.runs, 0) AS runs,
       coalesce(c.succeeded, 0) AS succeeded,
       coalesce(c.failed, 0) AS failed
FROM days d LEFT JOIN counted c ON c.day = d.day
ORDER BY d.day
"""


def node_health(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Per workflow and node: executions, failures, retries and latency percentiles, in the
    order the nodes first ran."""
    return conn.execute(_NODES, scope.params()).fetchall()


def runs_per_day(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Runs triggered per UTC day of the window, days without runs included."""
    return conn.execute(_DAYS, scope.params()).fetchall()


def use_utc(conn: Connection) -> None:
    """Buckets and days are UTC whatever the server's time zone."""
    conn.execute("SET LOCAL TIME ZONE 'UTC'")
