"""Business outcomes and technical health, computed in SQL from what the engine records.

A window selects runs by when they were triggered (`created_at`), `since` inclusive, `until`
exclusive; everything about a run (its approvals, annotations, node executions) follows the run
into the window it was triggered in. Time to benefit alone looks at all time.

The figures are read from rollups (migration 0019): per tenant, workflow (and node) and UTC
hour, day and ISO week of the runs' trigger, counts and sums, and a sketch of each percentile's
variable. A window is answered from its whole weeks' rows, the whole days and hours towards its
two ends, and the base rows of the minutes before its first whole hour and after its last,
computed by the same SQL function that fills the hour rows (`Scope.params`). Counts and sums
are exact; percentiles are within `RELATIVE_ERROR` of percentile_cont over the same rows
(`Sketch.quantile`). Every write that changes what a rollup sums leaves a mark; each read
first recomputes the tenant's marked hours that have ended, so the rollups never lag the rows
they sum. Rows exist only for spans that have ended (migration 0021): the hour, day and week
under way are read as hours and minutes, so a write into the current hour costs the next read
nothing. A day or week above a recomputed hour is left pending, read from its hours (days)
until the periodic sweep rolls it up (`refresh`, migration 0028), so no read pays a roll-up.
Time to benefit adds up `run_outcome_days` (migration 0015).

The queries run inside a tenant-scoped transaction (row-level security); they also name the
tenant, so the planner can use the tenant indexes. Answers that carry sketches come back in
binary: printing and parsing their thousands of floats as text took a tenth of a request.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from flightdeck.store.db import Connection

Bucket = Literal["day", "week"]
# Score annotations with this metric, and labels with this prefix, speak of the end customer.
CX_METRIC = "cx"
CX_LABEL_PREFIX = "cx:"

# The sketches' relative accuracy (migration 0019): bucket k holds gamma^(k-1) < x <= gamma^k.
RELATIVE_ERROR = 0.02
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
ZERO_KEY = -2147483648  # values at or below zero
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Scope:
    tenant_id: uuid.UUID
    since: datetime
    until: datetime
    workflow: str | None = None
    # The moment the rollups are read at: spans that end after it are read from finer rows.
    # None: the database's clock (the transaction's start). Tests move it to close days.
    as_of: datetime | None = None

    def params(self, as_of: datetime, *, weeks: bool = True) -> dict[str, Any]:
        """The window's parameters, and its split into rollup rows and base rows: whole ISO
        weeks [week_from, week_to), whole days [day_a_from, day_a_to) and [day_b_from,
        day_b_to), whole hours [hour_a_from, hour_a_to) and [hour_b_from, hour_b_to), and base
        rows [since, edge_a) and [edge_b, until). Empty ranges are (x, x). Whole units end by
        `as_of`'s hour: only spans that have ended have rows. Without `weeks`, whole days
        stand for the weeks (for answers given day by day)."""
        since, until = self.since.astimezone(UTC), self.until.astimezone(UTC)
        # Each level's whole units inside the one below; a level with none is empty.
        edge_a = _ceil(since, HOUR)
        edge_b = min(_floor(until, HOUR), _floor(as_of.astimezone(UTC), HOUR))
        if edge_a >= edge_b:  # no whole hour: the window is read from the base rows
            edge_a = edge_b = until
        day_a, day_b = _ceil(edge_a, DAY), _floor(edge_b, DAY)
        if day_a >= day_b:
            day_a = day_b = edge_b
        week_a, week_b = _ceil(day_a, WEEK), _floor(day_b, WEEK)
        if not weeks or week_a >= week_b:
            week_a = week_b = day_b
        return {
            "tenant": self.tenant_id,
            "since": since,
            "until": until,
            "workflow": self.workflow,
            "edge_a": edge_a,
            "edge_b": edge_b,
            "hour_a_from": edge_a,
            "hour_a_to": day_a,
            "hour_b_from": day_b,
            "hour_b_to": edge_b,
            "day_a_from": day_a,
            "day_a_to": week_a,
            "day_b_from": week_b,
            "day_b_to": day_b,
            "week_from": week_a,
            "week_to": week_b,
        }


# ISO weeks start on Monday; 1970-01-05 was one.
_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)


def _floor(moment: datetime, step: timedelta) -> datetime:
    return _MONDAY + ((moment - _MONDAY) // step) * step


def _ceil(moment: datetime, step: timedelta) -> datetime:
    floor = _floor(moment, step)
    return floor if floor == moment else floor + step


# The refresh as of a moment (the transaction's start when none is given), and that moment.
# The commit of a refresh does not wait for the WAL flush (`synchronous_commit` off for its
# transaction alone): what it writes is derived from rows already committed, and its marks go
# in the same transaction, so a refresh lost in a crash leaves its hours marked and the next
# read or sweep recomputes them. Callers hold no other write in that transaction.
_REFRESH = """
SELECT flightdeck_refresh_rollups(%(tenant)s, m.as_of, %(roll_up)s) AS hours, m.as_of
FROM (SELECT coalesce(%(as_of)s::timestamptz, now()) AS as_of,
             set_config('synchronous_commit', 'off', true)) m
"""


def refresh(conn: Connection, tenant_id: uuid.UUID, as_of: datetime | None = None) -> int:
    """Recompute the tenant's hours that writes marked since the last refresh and that ended
    before `as_of` (default: the transaction's start), and roll up the days and weeks above
    them, and those left pending, that have ended; returns how many hours. The sweep's work
    (`flightdeck.engine.sweeper`): the reads below recompute the hours alone and leave the
    days and weeks pending (migration 0028), reading them from the rows below them meanwhile,
    so what they read includes every write committed before their statements ran."""
    return int(_refresh(conn, tenant_id, as_of, roll_up=True)["hours"])


def _refresh(
    conn: Connection, tenant_id: uuid.UUID, as_of: datetime | None, *, roll_up: bool
) -> Any:
    """`_REFRESH`'s row: the hours recomputed, and the moment the refresh used."""
    row = conn.execute(
        _REFRESH, {"tenant": tenant_id, "as_of": as_of, "roll_up": roll_up}
    ).fetchone()
    assert row is not None
    return row


# Tenants with work waiting for `refresh`, the longest waiting first: marks of hours that have
# ended, and days and weeks left pending that have ended since.
_WAITING = """
SELECT tenant_id FROM (
    SELECT tenant_id, min(hour) AS since FROM rollup_marks
    WHERE hour < date_trunc('hour', now(), 'UTC') GROUP BY tenant_id
    UNION ALL
    SELECT tenant_id, min(start) FROM rollup_pending
    WHERE start < date_trunc(span, now(), 'UTC') GROUP BY tenant_id
) w
GROUP BY tenant_id ORDER BY min(since), tenant_id LIMIT %(limit)s
"""


def waiting_for_refresh(conn: Connection, *, limit: int) -> list[uuid.UUID]:
    """Up to `limit` tenants (of those the transaction is scoped to) whose marked hours, or
    pending days and weeks, have ended and wait for the next `refresh`, longest waiting
    first. Left alone, they wait for the next read, which then pays for them."""
    rows = conn.execute(_WAITING, {"limit": limit}).fetchall()
    return [r["tenant_id"] for r in rows]


def _refreshed(conn: Connection, scope: Scope, *, weeks: bool = True) -> dict[str, Any]:
    """The tenant's marked hours that have ended recomputed (their days and weeks left to the
    sweep), then the window's parameters as of the moment the refresh used."""
    row = _refresh(conn, scope.tenant_id, scope.as_of, roll_up=False)
    return scope.params(row["as_of"], weeks=weeks)


@dataclass(frozen=True)
class Sketch:
    """Merged buckets of a sketch, in key order (migration 0019)."""

    keys: Sequence[int]
    counts: Sequence[int]
    lows: Sequence[float]
    highs: Sequence[float]

    @classmethod
    def of(cls, row: dict[str, Any], prefix: str) -> Sketch:
        """The sketch whose buckets a row holds as four arrays, in any order (`_SKETCHES`)."""
        buckets = sorted(
            zip(
                row[f"{prefix}_keys"] or (),
                row[f"{prefix}_counts"] or (),
                row[f"{prefix}_lows"] or (),
                row[f"{prefix}_highs"] or (),
                strict=True,
            )
        )
        keys, counts, lows, highs = zip(*buckets, strict=True) if buckets else ((), (), (), ())
        return cls(keys, counts, lows, highs)

    def _order_statistic(self, index: int) -> float:
        """The value at 0-based `index` of the sorted values, as its bucket tells it."""
        first = 0
        for key, n, low, high in zip(self.keys, self.counts, self.lows, self.highs, strict=True):
            if index < first + n:
                if index == first:
                    return float(low)
                if index == first + n - 1:
                    return float(high)
                middle = 0.0 if key == ZERO_KEY else 2 * GAMMA**key / (GAMMA + 1)
                return min(max(middle, float(low)), float(high))
            first += n
        raise IndexError(index)

    def quantile(self, q: float) -> float | None:
        """percentile_cont(q) of the values, within RELATIVE_ERROR of the exact one: each of the
        two order statistics it interpolates between is its bucket's smallest or largest value
        when it is the bucket's first or last, else the bucket's middle clamped to the values
        the bucket holds. None when there are no values."""
        total = sum(self.counts)
        if not total:
            return None
        rank = q * (total - 1)
        below = math.floor(rank)
        first = self._order_statistic(below)
        if rank == below:
            return first
        second = self._order_statistic(below + 1)
        return first + (rank - below) * (second - first)


# The rollup's value columns: what flightdeck_run_rollup returns, and run_rollups holds.
_RUN_COLUMNS = (
    "start, workflow, runs, succeeded, failed, cancelled, in_progress, succeeded_without_edit,"
    " approvals_decided, approvals_accepted, measured_runs, baseline_minutes, staff_minutes,"
    " minutes_saved, quality_score_sum, annotation_scores, annotation_score_sum, cx_scores,"
    " cx_score_sum, cx_labels, turnaround, cx_turnaround"
)
_NODE_COLUMNS = "start, workflow, node, executions, failures, retries, first_event, duration"


def _pieces(table: str, function: str, columns: str) -> str:
    """The rows that add up to the window: whole weeks, whole days, whole hours, the base rows
    of the minutes at both ends (one call over the two ranges, migration 0021); of one workflow
    when the scope names one.

    A day or week left pending (its row is stale or missing until the sweep rolls it up,
    migration 0028) is read from the rows below it: a pending week from its days, a pending
    day from its hours. Days step by 24 hours: UTC days whatever the session's time zone."""
    return f"""
    SELECT * FROM (
        WITH pending AS MATERIALIZED (
            SELECT span, start FROM rollup_pending WHERE tenant_id = %(tenant)s
        ), read_days AS (
            -- The days read as days: the whole days towards both ends, and the days of the
            -- pending weeks among the whole weeks.
            SELECT d.start
            FROM generate_series(%(day_a_from)s::timestamptz,
                                 %(day_a_to)s::timestamptz - interval '24 hours',
                                 interval '24 hours') d(start)
            UNION ALL
            SELECT d.start
            FROM generate_series(%(day_b_from)s::timestamptz,
                                 %(day_b_to)s::timestamptz - interval '24 hours',
                                 interval '24 hours') d(start)
            UNION ALL
            SELECT w.start + n * interval '24 hours'
            FROM pending w, generate_series(0, 6) n
            WHERE w.span = 'week' AND w.start >= %(week_from)s AND w.start < %(week_to)s
        )
        SELECT {columns} FROM {table}
        WHERE tenant_id = %(tenant)s AND span = 'week'
          AND start >= %(week_from)s AND start < %(week_to)s
          AND start NOT IN (SELECT start FROM pending WHERE span = 'week')
        UNION ALL
        SELECT h.*
        FROM (SELECT start FROM read_days
              EXCEPT SELECT start FROM pending WHERE span = 'day') d
        CROSS JOIN LATERAL (
            SELECT {columns} FROM {table}
            WHERE tenant_id = %(tenant)s AND span = 'day' AND start = d.start
            OFFSET 0  -- kept a subquery: an index look-up per day
        ) h
        UNION ALL
        SELECT {columns} FROM {table}
        WHERE tenant_id = %(tenant)s AND span = 'hour'
          AND (start >= %(hour_a_from)s AND start < %(hour_a_to)s
               OR start >= %(hour_b_from)s AND start < %(hour_b_to)s)
        UNION ALL
        SELECT h.*
        FROM read_days d
        JOIN pending p ON p.span = 'day' AND p.start = d.start
        CROSS JOIN LATERAL (
            SELECT {columns} FROM {table}
            WHERE tenant_id = %(tenant)s AND span = 'hour'
              AND start >= d.start AND start < d.start + interval '24 hours'
            OFFSET 0  -- kept a subquery: an index range per pending day
        ) h
        UNION ALL
        SELECT {columns}
        FROM {function}(%(tenant)s, %(since)s, %(edge_a)s, %(edge_b)s, %(until)s)
        WHERE %(since)s::timestamptz < %(edge_a)s::timestamptz  -- not called when both are empty
           OR %(edge_b)s::timestamptz < %(until)s::timestamptz
    ) p
    WHERE %(workflow)s::text IS NULL OR p.workflow = %(workflow)s
    """


def _sketch_columns(alias: str, prefix: str) -> str:
    """The four arrays of a merged sketch (a row of `_SKETCHES`), named for `prefix`."""
    return ", ".join(
        f"{alias}.{part} AS {prefix}_{part}" for part in ("keys", "counts", "lows", "highs")
    )


_RUN_PIECES = _pieces("run_rollups", "flightdeck_run_rollup", _RUN_COLUMNS)

# Sketch buckets of run pieces, merged per `key` (a column of the pieces), measure and bucket:
# one hash aggregate over every bucket of every piece, the step whose rows are many (so the key
# is computed per piece, never per bucket).
_RUN_BUCKETS = """
    SELECT p.key AS {key}, p.measure, p.k, sum(p.n)::int AS n, min(p.lo) AS lo, max(p.hi) AS hi
    FROM (
        SELECT q.{key} AS key, 'turnaround' AS measure, unnest((q.turnaround).keys) AS k,
               unnest((q.turnaround).counts) AS n, unnest((q.turnaround).lows) AS lo,
               unnest((q.turnaround).highs) AS hi
        FROM pieces q
        UNION ALL
        SELECT q.{key}, 'cx', unnest((q.cx_turnaround).keys), unnest((q.cx_turnaround).counts),
               unnest((q.cx_turnaround).lows), unnest((q.cx_turnaround).highs)
        FROM pieces q
    ) p
    GROUP BY p.key, p.measure, p.k
"""

# The merged buckets of each group (`keys`) and measure as a sketch's four arrays, in the same
# order, which is no particular one: `Sketch.of` sorts them (sorting them here, by group and
# key, took longer than the merge).
_SKETCHES = """
    SELECT {keys}, measure, array_agg(k) AS keys, array_agg(n) AS counts, array_agg(lo) AS lows,
           array_agg(hi) AS highs
    FROM buckets GROUP BY {keys}, measure
"""

# A workflow's row or the total row (`workflow` NULL, `is_total`) of t in another CTE x.
_SAME_ROW = "{x}.is_total = t.is_total AND coalesce({x}.workflow, '') = coalesce(t.workflow, '')"

# One row per workflow and one total row (`workflow` NULL): counts, sums, labels, sketches.
_FIGURES = f"""
WITH pieces AS MATERIALIZED ({_RUN_PIECES}),
totals AS (
    SELECT workflow, GROUPING(workflow) = 1 AS is_total,
           coalesce(sum(runs), 0)::int AS runs, coalesce(sum(succeeded), 0)::int AS succeeded,
           coalesce(sum(failed), 0)::int AS failed,
           coalesce(sum(cancelled), 0)::int AS cancelled,
           coalesce(sum(in_progress), 0)::int AS in_progress,
           coalesce(sum(succeeded_without_edit), 0)::int AS succeeded_without_edit,
           coalesce(sum(approvals_decided), 0)::int AS approvals_decided,
           coalesce(sum(approvals_accepted), 0)::int AS approvals_accepted,
           coalesce(sum(measured_runs), 0)::int AS measured_runs,
           coalesce(sum(baseline_minutes), 0)::float8 AS baseline_minutes,
           coalesce(sum(staff_minutes), 0)::float8 AS staff_minutes,
           coalesce(sum(minutes_saved), 0)::float8 AS minutes_saved,
           (sum(quality_score_sum) / nullif(sum(measured_runs), 0))::float8
               AS mean_quality_score,
           coalesce(sum(annotation_scores), 0)::int AS annotation_scores,
           (sum(annotation_score_sum) / nullif(sum(annotation_scores), 0))::float8
               AS mean_annotation_score,
           coalesce(sum(cx_scores), 0)::int AS cx_scores,
           (sum(cx_score_sum) / nullif(sum(cx_scores), 0))::float8 AS mean_cx_score
    FROM pieces GROUP BY GROUPING SETS ((workflow), ())
), labels AS (
    SELECT workflow, is_total, jsonb_object_agg(label, n) AS cx_labels
    FROM (SELECT p.workflow, GROUPING(p.workflow) = 1 AS is_total, j.key AS label,
                 sum(j.value::int)::int AS n
          FROM pieces p, jsonb_each_text(p.cx_labels) j
          GROUP BY GROUPING SETS ((p.workflow, j.key), (j.key))) l
    GROUP BY workflow, is_total
), by_workflow AS MATERIALIZED ({_RUN_BUCKETS.format(key="workflow")}),
buckets AS (
    -- The total's buckets from the workflows' merged ones: fewer rows than the pieces'.
    SELECT workflow, false AS is_total, measure, k, n, lo, hi FROM by_workflow
    UNION ALL
    SELECT NULL, true, measure, k, sum(n)::int, min(lo), max(hi) FROM by_workflow
    GROUP BY measure, k
), sketches AS ({_SKETCHES.format(keys="workflow, is_total")})
SELECT t.*, coalesce(l.cx_labels, '{{}}'::jsonb) AS cx_labels,
       {_sketch_columns("a", "turnaround")}, {_sketch_columns("c", "cx")}
FROM totals t
LEFT JOIN labels l ON {_SAME_ROW.format(x="l")}
LEFT JOIN sketches a ON {_SAME_ROW.format(x="a")} AND a.measure = 'turnaround'
LEFT JOIN sketches c ON {_SAME_ROW.format(x="c")} AND c.measure = 'cx'
"""


def _by_workflow(rows: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    """Rows of a GROUPING SETS query keyed by workflow; the total row under None."""
    return {None if row["is_total"] else row["workflow"]: row for row in rows}


def _percentiles(row: dict[str, Any], prefix: str, named: dict[str, float]) -> None:
    """Replace the row's sketch `prefix` by the percentiles `named` (column: q)."""
    sketch = Sketch.of(row, prefix)
    for part in ("keys", "counts", "lows", "highs"):
        del row[f"{prefix}_{part}"]
    for column, q in named.items():
        row[column] = sketch.quantile(q)


def figures(conn: Connection, scope: Scope) -> dict[str | None, dict[str, Any]]:
    """The outcome figures per workflow and in total (key None), as flat rows.

    A workflow with no run in the window has no key; the total is always there (its counts 0
    when the window holds no run).
    """
    rows = _by_workflow(conn.execute(_FIGURES, _refreshed(conn, scope), binary=True).fetchall())
    for row in rows.values():
        _percentiles(row, "turnaround", {"turnaround_p50": 0.5, "turnaround_p95": 0.95})
        _percentiles(row, "cx", {"cx_p50": 0.5, "cx_p90": 0.9})
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
WITH pieces AS MATERIALIZED (
    SELECT date_trunc(%(bucket)s, p.start, 'UTC') AS bucket, p.* FROM ({_RUN_PIECES}) p
),
starts AS (
    SELECT generate_series(date_trunc(%(bucket)s, %(since)s::timestamptz, 'UTC'),
                           %(until)s::timestamptz - interval '1 microsecond',
                           ('1 ' || %(bucket)s)::interval) AS start
), figures AS (
    SELECT bucket AS start,
           sum(runs)::int AS runs, sum(succeeded)::int AS succeeded, sum(failed)::int AS failed,
           sum(succeeded + failed + cancelled) AS finished,
           sum(succeeded_without_edit) AS without_edit,
           sum(approvals_decided) AS decided, sum(approvals_accepted) AS accepted,
           sum(measured_runs) AS measured_runs, sum(quality_score_sum) AS quality_score_sum,
           sum(baseline_minutes)::float8 AS baseline_minutes,
           sum(staff_minutes)::float8 AS staff_minutes,
           sum(minutes_saved)::float8 AS minutes_saved
    FROM pieces GROUP BY 1
), buckets AS ({_RUN_BUCKETS.format(key="bucket")}),
sketches AS ({_SKETCHES.format(keys="bucket")})
SELECT s.start,
       coalesce(f.runs, 0) AS runs,
       coalesce(f.succeeded, 0) AS succeeded,
       coalesce(f.failed, 0) AS failed,
       coalesce(f.baseline_minutes, 0) AS baseline_minutes,
       coalesce(f.staff_minutes, 0) AS staff_minutes,
       coalesce(f.minutes_saved, 0) AS minutes_saved,
       f.without_edit::float8 / nullif(f.finished, 0) AS succeeded_without_edit_rate,
       f.accepted::float8 / nullif(f.decided, 0) AS approval_acceptance_rate,
       (f.quality_score_sum / nullif(f.measured_runs, 0))::float8 AS mean_quality_score,
       {_sketch_columns("a", "turnaround")}, {_sketch_columns("c", "cx")}
FROM starts s LEFT JOIN figures f ON f.start = s.start
LEFT JOIN sketches a ON a.bucket = s.start AND a.measure = 'turnaround'
LEFT JOIN sketches c ON c.bucket = s.start AND c.measure = 'cx'
ORDER BY s.start
"""


def series(conn: Connection, scope: Scope, bucket: Bucket) -> list[dict[str, Any]]:
    """The outcome trend: one row per UTC day or ISO week (Monday) that overlaps the window,
    empty buckets included."""
    params = _refreshed(conn, scope, weeks=bucket == "week")
    rows = conn.execute(_SERIES, {**params, "bucket": bucket}, binary=True).fetchall()
    for row in rows:
        _percentiles(
            row, "turnaround", {"turnaround_p50_seconds": 0.5, "turnaround_p95_seconds": 0.95}
        )
        _percentiles(
            row, "cx", {"cx_turnaround_p50_seconds": 0.5, "cx_turnaround_p90_seconds": 0.9}
        )
    return rows


# Buckets merged per node by a number standing for it (hashing it beats hashing two names).
_NODES = f"""
WITH pieces AS MATERIALIZED (
    SELECT dense_rank() OVER (ORDER BY p.workflow, p.node) AS g, p.*
    FROM ({_pieces("node_rollups", "flightdeck_node_rollup", _NODE_COLUMNS)}) p
),
counted AS (
    SELECT g, workflow, node, sum(executions)::int AS executions,
           sum(failures)::int AS failures, sum(retries)::int AS retries,
           min(first_event) AS first_event
    FROM pieces GROUP BY 1, 2, 3
), buckets AS (
    SELECT p.g, 'duration' AS measure, p.k, sum(p.n)::int AS n, min(p.lo) AS lo,
           max(p.hi) AS hi
    FROM (SELECT q.g, unnest((q.duration).keys) AS k, unnest((q.duration).counts) AS n,
                 unnest((q.duration).lows) AS lo, unnest((q.duration).highs) AS hi
          FROM pieces q) p
    GROUP BY p.g, p.k
), sketches AS ({_SKETCHES.format(keys="g")})
SELECT c.workflow, c.node, c.executions, c.failures, c.retries,
       {_sketch_columns("d", "duration")}
FROM counted c LEFT JOIN sketches d ON d.g = c.g
ORDER BY c.workflow, c.first_event
"""

_DAY_COLUMNS = "start, workflow, runs, succeeded, failed"
_DAYS = f"""
WITH days AS (
    SELECT generate_series(date_trunc('day', %(since)s::timestamptz, 'UTC'),
                           %(until)s::timestamptz - interval '1 microsecond',
                           interval '1 day') AS day
), counted AS (
    SELECT date_trunc('day', start, 'UTC') AS day, sum(runs)::int AS runs,
           sum(succeeded)::int AS succeeded, sum(failed)::int AS failed
    FROM ({_pieces("run_rollups", "flightdeck_run_rollup", _DAY_COLUMNS)}) p
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
    rows = conn.execute(_NODES, _refreshed(conn, scope), binary=True).fetchall()
    for row in rows:
        _percentiles(row, "duration", {"p50_ms": 0.5, "p95_ms": 0.95})
    return rows


def runs_per_day(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Runs triggered per UTC day of the window, days without runs included."""
    return conn.execute(_DAYS, _refreshed(conn, scope, weeks=False)).fetchall()


def use_utc(conn: Connection) -> None:
    """Buckets and days are UTC whatever the server's time zone."""
    conn.execute("SET LOCAL TIME ZONE 'UTC'")
