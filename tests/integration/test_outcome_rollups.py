"""Migrations 0019, 0021 and 0022: the outcome and health figures read from the hourly, daily
and weekly rollups equal the figures computed from the base tables (counts and sums exactly,
percentiles within the sketches' relative error) through inserts, status changes, reopens, late
finishes, deletes and writes still in flight, across tenants (row-level security) and day
boundaries; rows only for spans that have ended, read right after writes and as the hour, day
and week under way close; the base rows read by a plan kept from call to call; and the
migrations on a database that already holds runs."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flightdeck.local.history import (
    PastAnnotation,
    PastApproval,
    PastNode,
    PastOutcome,
    PastRun,
    record,
)
from flightdeck.store import insights, outcomes, runs
from flightdeck.store import migrate as migrations
from flightdeck.store.db import connect, scoped
from flightdeck.store.migrate import APP_ROLE

START = datetime(2026, 3, 1, tzinfo=UTC)
WORKFLOWS = {
    "support_triage": ("plan", "retrieve", "decide", "act", "reflect"),
    "invoice_intake": ("extract", "validate", "post"),
}
REQUEST = {"kind": "reply_review", "summary": "Review the reply"}

# The figures as computed before 0019, from the runs of the window one by one: the reference.
# Sums are taken as numeric, as the rollups keep them, so that they compare exactly.
_IN_SCOPE = """
    r.tenant_id = %(tenant)s
    AND r.created_at >= %(since)s AND r.created_at < %(until)s
    AND (%(workflow)s::text IS NULL OR r.workflow = %(workflow)s)
"""

REFERENCE_FIGURES = f"""
WITH scoped AS (
    SELECT r.workflow, r.status, r.created_at, r.finished_at,
           o.baseline_minutes, o.staff_minutes, o.turnaround_seconds, o.quality_score,
           EXISTS (SELECT 1 FROM approvals a
                   WHERE a.run_id = r.id AND a.status = 'edited') AS edited
    FROM runs r LEFT JOIN run_outcomes o ON o.run_id = r.id
    WHERE {_IN_SCOPE}
)
SELECT workflow, GROUPING(workflow) = 1 AS is_total,
       count(*) AS runs,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status IN ('queued', 'running', 'waiting_for_approval'))
           AS in_progress,
       count(*) FILTER (WHERE status = 'succeeded' AND NOT edited) AS succeeded_without_edit,
       count(baseline_minutes) AS measured_runs,
       coalesce(sum(baseline_minutes::numeric), 0)::float8 AS baseline_minutes,
       coalesce(sum(staff_minutes::numeric), 0)::float8 AS staff_minutes,
       coalesce(sum(greatest(baseline_minutes - staff_minutes, 0)::numeric), 0)::float8
           AS minutes_saved,
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

REFERENCE_APPROVALS = f"""
SELECT r.workflow, GROUPING(r.workflow) = 1 AS is_total,
       count(*) FILTER (WHERE a.status IN ('approved', 'edited', 'rejected')) AS decided,
       count(*) FILTER (WHERE a.status IN ('approved', 'edited')) AS accepted
FROM approvals a JOIN runs r ON r.id = a.run_id
WHERE {_IN_SCOPE}
GROUP BY GROUPING SETS ((r.workflow), ())
"""

REFERENCE_SCORES = f"""
SELECT r.workflow, GROUPING(r.workflow) = 1 AS is_total,
       count(*) FILTER (WHERE n.metric IS DISTINCT FROM 'cx') AS scores,
       avg(n.score) FILTER (WHERE n.metric IS DISTINCT FROM 'cx') AS mean_score,
       count(*) FILTER (WHERE n.metric = 'cx') AS cx_scores,
       avg(n.score) FILTER (WHERE n.metric = 'cx') AS mean_cx_score
FROM annotations n JOIN runs r ON r.id = n.run_id
WHERE n.kind = 'score' AND {_IN_SCOPE}
GROUP BY GROUPING SETS ((r.workflow), ())
"""

REFERENCE_LABELS = f"""
SELECT r.workflow, GROUPING(r.workflow) = 1 AS is_total, n.label, count(*) AS n
FROM annotations n JOIN runs r ON r.id = n.run_id
WHERE n.kind = 'label' AND starts_with(n.label, 'cx:') AND {_IN_SCOPE}
GROUP BY GROUPING SETS ((r.workflow, n.label), (n.label))
"""

REFERENCE_SERIES = f"""
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
    WHERE {_IN_SCOPE}
), figures AS (
    SELECT start,
           count(*) AS runs,
           count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'cancelled')) AS finished,
           count(*) FILTER (WHERE status = 'succeeded' AND NOT edited) AS without_edit,
           sum(decided) AS decided,
           sum(accepted) AS accepted,
           coalesce(sum(baseline_minutes::numeric), 0)::float8 AS baseline_minutes,
           coalesce(sum(staff_minutes::numeric), 0)::float8 AS staff_minutes,
           coalesce(sum(greatest(baseline_minutes - staff_minutes, 0)::numeric), 0)::float8
               AS minutes_saved,
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

REFERENCE_NODES = f"""
SELECT r.workflow, e.node,
       count(*) FILTER (WHERE e.type IN ('node.succeeded', 'node.interrupted', 'node.failed'))
           AS executions,
       count(*) FILTER (WHERE e.type = 'node.failed') AS failures,
       count(*) FILTER (WHERE e.type = 'node.retried') AS retries,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY e.duration_ms)
           FILTER (WHERE e.type IN ('node.succeeded', 'node.interrupted', 'node.failed'))
           AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms)
           FILTER (WHERE e.type IN ('node.succeeded', 'node.interrupted', 'node.failed'))
           AS p95_ms
FROM run_events e JOIN runs r ON r.id = e.run_id
WHERE e.node IS NOT NULL AND e.type LIKE 'node.%%' AND {_IN_SCOPE}
GROUP BY r.workflow, e.node
ORDER BY r.workflow, min(e.id)
"""

REFERENCE_DAYS = f"""
SELECT d.day,
       (SELECT count(*) FROM runs r WHERE {_IN_SCOPE}
            AND date_trunc('day', r.created_at, 'UTC') = d.day) AS runs,
       (SELECT count(*) FROM runs r WHERE {_IN_SCOPE} AND r.status = 'succeeded'
            AND date_trunc('day', r.created_at, 'UTC') = d.day) AS succeeded,
       (SELECT count(*) FROM runs r WHERE {_IN_SCOPE} AND r.status = 'failed'
            AND date_trunc('day', r.created_at, 'UTC') = d.day) AS failed
FROM generate_series(date_trunc('day', %(since)s::timestamptz, 'UTC'),
                     %(until)s::timestamptz - interval '1 microsecond', interval '1 day') d(day)
ORDER BY d.day
"""

PERCENTILES = (
    "cx_p50",
    "cx_p90",
    "turnaround_p50",
    "turnaround_p95",
    "turnaround_p50_seconds",
    "turnaround_p95_seconds",
    "cx_turnaround_p50_seconds",
    "cx_turnaround_p90_seconds",
    "p50_ms",
    "p95_ms",
)
MEANS = (
    "mean_quality_score",
    "mean_annotation_score",
    "mean_cx_score",
    "succeeded_without_edit_rate",
    "approval_acceptance_rate",
)


# --- the reference and the comparison ----------------------------------------------------------


def reference_figures(conn: Any, scope: insights.Scope) -> dict[str | None, dict[str, Any]]:
    params = {
        "tenant": scope.tenant_id,
        "since": scope.since,
        "until": scope.until,
        "workflow": scope.workflow,
    }

    def keyed(sql: str) -> dict[str | None, dict[str, Any]]:
        return {None if r["is_total"] else r["workflow"]: r for r in conn.execute(sql, params)}

    rows = keyed(REFERENCE_FIGURES)
    decided, scores = keyed(REFERENCE_APPROVALS), keyed(REFERENCE_SCORES)
    labels: dict[str | None, dict[str, int]] = {}
    for r in conn.execute(REFERENCE_LABELS, params):
        labels.setdefault(None if r["is_total"] else r["workflow"], {})[r["label"]] = r["n"]
    for key, row in rows.items():
        row["approvals_decided"] = decided.get(key, {}).get("decided", 0)
        row["approvals_accepted"] = decided.get(key, {}).get("accepted", 0)
        row["annotation_scores"] = scores.get(key, {}).get("scores", 0)
        row["mean_annotation_score"] = scores.get(key, {}).get("mean_score")
        row["cx_scores"] = scores.get(key, {}).get("cx_scores", 0)
        row["mean_cx_score"] = scores.get(key, {}).get("mean_cx_score")
        row["cx_labels"] = labels.get(key, {})
    return rows


def assert_row(got: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    for column, value in expected.items():
        if column in ("is_total", "workflow", "start", "day"):
            continue
        have = got[column]
        if column in PERCENTILES:
            if value is None:
                assert have is None, f"{where} {column}: {have} for none"
            else:
                # The sketches' stated bound: within 1% of percentile_cont's answer.
                error = abs(have - value) / abs(value) if value else abs(have)
                assert error <= insights.RELATIVE_ERROR, f"{where} {column}: {have} vs {value}"
        elif column in MEANS:
            assert have == (None if value is None else pytest.approx(value, rel=1e-12)), (
                f"{where} {column}"
            )
        else:
            assert have == value, f"{where} {column}: {have} vs {value}"


def assert_matches(conn: Any, scope: insights.Scope) -> None:
    """Every figure the API reads for `scope` equals the one computed from the base rows."""
    with scoped(conn, scope.tenant_id):
        insights.use_utc(conn)
        got, expected = insights.figures(conn, scope), reference_figures(conn, scope)
        assert set(got) == set(expected)
        for key, row in expected.items():
            assert_row(got[key], row, f"figures {key}")
        params = scope.params(datetime.now(UTC))
        for bucket in ("day", "week"):
            got_series = insights.series(conn, scope, bucket)
            expected_series = conn.execute(
                REFERENCE_SERIES, {**params, "bucket": bucket}
            ).fetchall()
            assert [r["start"] for r in got_series] == [r["start"] for r in expected_series]
            for have, want in zip(got_series, expected_series, strict=True):
                assert_row(have, want, f"{bucket} {want['start']}")
        got_nodes = insights.node_health(conn, scope)
        expected_nodes = conn.execute(REFERENCE_NODES, params).fetchall()
        assert [(r["workflow"], r["node"]) for r in got_nodes] == [
            (r["workflow"], r["node"]) for r in expected_nodes
        ]
        for have, want in zip(got_nodes, expected_nodes, strict=True):
            assert_row(have, want, f"node {want['node']}")
        assert insights.runs_per_day(conn, scope) == conn.execute(REFERENCE_DAYS, params).fetchall()


# --- writing history ---------------------------------------------------------------------------


def past_run(rng: random.Random, created: datetime) -> PastRun:
    workflow = rng.choice(list(WORKFLOWS))
    status = rng.choices(("succeeded", "failed", "cancelled"), (0.8, 0.15, 0.05))[0]
    names = WORKFLOWS[workflow]
    stop = len(names) if status == "succeeded" else rng.randrange(1, len(names) + 1)
    nodes = [
        PastNode(
            name,
            # Some nodes take exactly as long as others (ties), a few take no time at all.
            rng.choice((0.0, 120.0, rng.lognormvariate(5, 0.8), rng.lognormvariate(5, 0.8))),
            retries=1 if rng.random() < 0.1 else 0,
            failed=status == "failed" and i == stop - 1,
        )
        for i, name in enumerate(names[:stop])
    ]
    approval = None
    if workflow == "support_triage" and "decide" in names[:stop] and rng.random() < 0.4:
        approval = PastApproval(
            "decide",
            rng.choice(("approved", "edited", "rejected", "timed_out")),
            REQUEST,
            timedelta(minutes=rng.randrange(1, 90)),
        )
    outcome = None
    if status == "succeeded" and rng.random() < 0.8:
        outcome = PastOutcome(
            baseline_minutes=12,
            staff_minutes=round(rng.uniform(0, 14), 2),
            turnaround_seconds=rng.choice((60.0, rng.lognormvariate(6, 1))),
            quality_score=round(rng.random(), 3),
        )
    annotations = []
    if rng.random() < 0.3:
        annotations.append(
            PastAnnotation("score", score=round(rng.random(), 2), metric=rng.choice((None, "cx")))
        )
    if rng.random() < 0.2:
        annotations.append(PastAnnotation("label", label=rng.choice(("cx:happy", "wrong_tone"))))
    return PastRun(
        workflow=workflow,
        workflow_version="1.0.0",
        created_at=created,
        status=status,
        trigger={"ticket_id": f"T-{rng.getrandbits(32)}"},
        nodes=nodes,
        duration=timedelta(seconds=rng.lognormvariate(6, 1.2)),
        approval=approval,
        outcome=outcome,
        annotations=annotations,
    )


def write_history(
    conn: Any, tenant: uuid.UUID, n: int, *, seed: int, days: int = 9, before_0024: bool = False
) -> None:
    """`n` runs over `days` days; `before_0024`: into a database without `runs.trigger_id`."""
    rng = random.Random(seed)
    with scoped(conn, tenant):
        for _ in range(n):
            created = START + timedelta(seconds=rng.randrange(days * 86400))
            if rng.random() < 0.1:  # runs at midnight and on the hour: the rollups' edges
                created = created.replace(minute=0, second=0, microsecond=0)
            record(conn, tenant, past_run(rng, created), trigger_id=not before_0024)


def write_between(
    conn: Any,
    tenant: uuid.UUID,
    n: int,
    since: datetime,
    until: datetime,
    *,
    seed: int,
    before_0024: bool = False,
) -> None:
    """`n` runs triggered in [since, until)."""
    rng = random.Random(seed)
    seconds = int((until - since).total_seconds())
    with scoped(conn, tenant):
        for _ in range(n):
            created = since + timedelta(seconds=rng.randrange(seconds))
            record(conn, tenant, past_run(rng, created), trigger_id=not before_0024)


def add_tenant(conn: Any, slug: str) -> uuid.UUID:
    tenant = uuid.uuid4()
    conn.execute("INSERT INTO tenants (id, slug, name) VALUES (%s, %s, %s)", (tenant, slug, slug))
    return tenant


def windows(tenant: uuid.UUID) -> list[insights.Scope]:
    """Windows of every shape: whole days, hours and minutes at both ends, within one day or one
    hour, one workflow, and a window given in another time zone."""
    plus_five = timezone_offset(5, 30)
    return [
        insights.Scope(tenant, START, START + timedelta(days=9)),
        insights.Scope(
            tenant,
            START + timedelta(days=1, hours=7, minutes=13, seconds=5),
            START + timedelta(days=6, hours=19, minutes=41),
        ),
        insights.Scope(
            tenant, START + timedelta(days=2, hours=3), START + timedelta(days=2, hours=9)
        ),
        insights.Scope(
            tenant,
            START + timedelta(days=3, hours=4, minutes=10),
            START + timedelta(days=3, hours=4, minutes=50),
        ),
        insights.Scope(
            tenant,
            START + timedelta(hours=22, minutes=30),
            START + timedelta(days=1, hours=1, minutes=30),
        ),
        insights.Scope(
            tenant, START + timedelta(hours=5), START + timedelta(days=8), "support_triage"
        ),
        insights.Scope(
            tenant,
            datetime(2026, 3, 2, 3, 0, tzinfo=plus_five),
            datetime(2026, 3, 7, 23, 59, tzinfo=plus_five),
        ),
    ]


def timezone_offset(hours: int, minutes: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours, minutes=minutes))


@pytest.fixture
def app(database_url: str) -> Iterator[Any]:
    with connect(database_url, role=APP_ROLE) as c:
        yield c


def marks(conn: Any, tenant: uuid.UUID) -> int:
    with scoped(conn, tenant):
        row = conn.execute("SELECT count(*) AS n FROM rollup_marks").fetchone()
    return int(row["n"])


def spans(conn: Any, tenant: uuid.UUID) -> dict[str, set[datetime]]:
    """The starts of the tenant's rollup rows (both tables), marks and pending spans, by kind."""
    found: dict[str, set[datetime]] = {}
    with scoped(conn, tenant):
        for row in conn.execute(
            "SELECT span, start FROM run_rollups UNION SELECT span, start FROM node_rollups"
            " UNION SELECT 'marked', hour FROM rollup_marks"
            " UNION SELECT 'pending ' || span, start FROM rollup_pending"
        ):
            found.setdefault(row["span"], set()).add(row["start"].astimezone(UTC))
    return found


# --- the rollups under writes -------------------------------------------------------------------


def test_the_figures_equal_the_base_rows_through_every_kind_of_write(conn: Any, app: Any) -> None:
    # Given a tenant's 300 runs over nine days, written as the application role
    tenant = add_tenant(conn, "rollups")
    write_history(app, tenant, 300, seed=1)
    assert marks(app, tenant) > 0
    # Then every window's figures match the base rows, and the read took the marks
    for scope in windows(tenant):
        assert_matches(app, scope)
    assert marks(app, tenant) == 0

    rng = random.Random(2)
    with scoped(app, tenant):
        ids = [r["id"] for r in app.execute("SELECT id FROM runs ORDER BY created_at, id")]
        failed = [
            r["id"] for r in app.execute("SELECT id FROM runs WHERE status = 'failed' LIMIT 6")
        ]
        succeeded = [
            r["id"]
            for r in app.execute(
                "SELECT id FROM runs WHERE status = 'succeeded' ORDER BY id LIMIT 12"
            )
        ]
        # When failed runs are redriven (running again), and some of them then succeed late
        for run_id in failed:
            runs.reopen(app, run_id, execution_name=f"redrive-{run_id}")
        for run_id in failed[:3]:
            runs.append_event(
                app,
                run_id=run_id,
                tenant_id=tenant,
                type="node.succeeded",
                node="reflect",
                attempt=1,
                duration_ms=777.0,
            )
            assert runs.set_status(app, run_id, "succeeded", from_statuses=("running",))
        # ... outcomes are recorded again (replaced), approvals decided otherwise
        for run_id in succeeded[:4]:
            run = runs.get_run(app, run_id)
            assert run is not None
            outcomes.record(
                app,
                tenant_id=tenant,
                run_id=run_id,
                workflow=run.workflow,
                outcome=outcomes.Outcome(12, rng.uniform(0, 12), 42.0, 0.5, {}),
            )
        app.execute("UPDATE approvals SET status = 'edited' WHERE status = 'approved'")
        app.execute("DELETE FROM annotations WHERE kind = 'label' AND label = 'wrong_tone'")
        # ... a run is deleted with everything recorded about it
        gone = succeeded[5]
        for table in ("run_events", "approvals", "annotations", "run_outcomes", "outbox"):
            app.execute(f"DELETE FROM {table} WHERE run_id = %s", (gone,))
        app.execute("DELETE FROM runs WHERE id = %s", (gone,))
        # ... and new runs arrive, some still in progress
        for i, run_id in enumerate(ids[:5]):
            app.execute(
                "UPDATE runs SET status = %s, finished_at = NULL WHERE id = %s",
                (("queued", "running", "waiting_for_approval")[i % 3], run_id),
            )
    write_history(app, tenant, 60, seed=3)

    # Then every window still matches
    for scope in windows(tenant):
        assert_matches(app, scope)


def test_a_write_in_flight_during_a_read_is_counted_by_the_next_read(
    database_url: str, conn: Any, app: Any
) -> None:
    tenant = add_tenant(conn, "in-flight")
    write_history(app, tenant, 40, seed=4, days=2)
    scope = insights.Scope(tenant, START, START + timedelta(days=2))
    assert_matches(app, scope)

    rng = random.Random(5)
    with connect(database_url, role=APP_ROLE) as writer:
        # Given a writer that inserted a run, and its events, of an hour already rolled up, and
        # has not committed
        with scoped(writer, tenant):
            record(writer, tenant, past_run(rng, START + timedelta(hours=5, minutes=7)))
            # When a reader refreshes meanwhile (it cannot see the write, nor its mark)
            with scoped(app, tenant):
                with scoped(app, tenant):
                    insights.refresh(app, tenant)
                before = insights.figures(app, scope)[None]["runs"]
        # Then once the writer commits, the next read counts the run
        with scoped(app, tenant):
            assert insights.figures(app, scope)[None]["runs"] == before + 1
    assert_matches(app, scope)


def test_each_tenant_reads_and_refreshes_only_its_own_rollups(conn: Any, app: Any) -> None:
    a, b = add_tenant(conn, "tenant-a"), add_tenant(conn, "tenant-b")
    write_history(app, a, 80, seed=6, days=3)
    write_history(app, b, 50, seed=7, days=3)
    for tenant in (a, b):
        assert_matches(app, insights.Scope(tenant, START, START + timedelta(days=3)))

    # When A writes more, B's read neither sees A's marks nor refreshes A's hours
    write_history(app, a, 20, seed=8, days=3)
    with scoped(app, b):
        assert insights.refresh(app, b) == 0
        seen = app.execute(
            "SELECT (SELECT count(*) FROM run_rollups) AS rollups,"
            " (SELECT count(*) FROM node_rollups WHERE tenant_id <> %(b)s) AS others,"
            " (SELECT count(*) FROM rollup_marks) AS marks",
            {"b": b},
        ).fetchone()
        own = app.execute(
            "SELECT count(*) AS n FROM run_rollups WHERE tenant_id = %s", (b,)
        ).fetchone()
    assert seen is not None
    assert own is not None
    assert (seen["others"], seen["marks"]) == (0, 0)
    assert seen["rollups"] == own["n"] > 0
    assert marks(app, a) > 0
    # And B may not write rollups for A
    with pytest.raises(Exception, match="row-level security"), scoped(app, b):
        app.execute("INSERT INTO rollup_marks (tenant_id, hour) VALUES (%s, %s)", (a, START))
    for tenant in (a, b):
        assert_matches(app, insights.Scope(tenant, START, START + timedelta(days=3)))


def test_a_refresh_commits_without_waiting_for_the_disk_and_only_its_own_transaction(
    conn: Any, app: Any
) -> None:
    tenant = add_tenant(conn, "tenant-a")
    write_history(app, tenant, 30, seed=9, days=2)
    assert marks(app, tenant) > 0

    # A read's refresh writes only what it derives from committed rows (its marks go with it):
    # its commit need not wait for the WAL flush.
    with scoped(app, tenant):
        insights.use_utc(app)
        insights.node_health(app, insights.Scope(tenant, START, START + timedelta(days=2)))
        during = app.execute("SHOW synchronous_commit").fetchone()
    after = app.execute("SHOW synchronous_commit").fetchone()
    app.rollback()

    assert during == {"synchronous_commit": "off"}
    assert after == {"synchronous_commit": "on"}, "the next transaction waits for the disk"
    assert marks(app, tenant) == 0


def test_the_base_row_functions_keep_one_plan_that_answers_every_tenant_and_range(
    conn: Any, app: Any
) -> None:
    # Given two tenants' histories
    a, b = add_tenant(conn, "plan-a"), add_tenant(conn, "plan-b")
    write_history(app, a, 90, seed=11, days=4)
    write_history(app, b, 40, seed=12, days=4)

    # Then the functions that read the base rows keep their plan from call to call (0022),
    # and the roll-up of days and weeks plans each call for its rows
    settings = {
        row["f"]: row["proconfig"]
        for row in conn.execute(
            "SELECT oid::regprocedure::text AS f, proconfig FROM pg_proc WHERE proname IN"
            " ('flightdeck_run_rollup', 'flightdeck_node_rollup', 'flightdeck_roll_up')"
        )
    }
    five = "uuid,timestamp with time zone,timestamp with time zone,timestamp with time zone"
    assert settings == {
        f"flightdeck_run_rollup({five},timestamp with time zone)": [
            "plan_cache_mode=force_generic_plan"
        ],
        f"flightdeck_node_rollup({five},timestamp with time zone)": [
            "plan_cache_mode=force_generic_plan"
        ],
        "flightdeck_run_rollup(uuid,timestamp with time zone,timestamp with time zone)": None,
        "flightdeck_node_rollup(uuid,timestamp with time zone,timestamp with time zone)": None,
        "flightdeck_roll_up(uuid,text,timestamp with time zone[])": [
            "plan_cache_mode=force_custom_plan"
        ],
    }
    # And in one session, the plan kept answers each tenant and range: every window (minutes
    # at both ends, within an hour) as the base rows, and all time as the hour rows
    for tenant in (a, b, a):
        for scope in windows(tenant):
            assert_matches(app, scope)
        with scoped(app, tenant):
            for table, function in (
                ("run_rollups", "flightdeck_run_rollup"),
                ("node_rollups", "flightdeck_node_rollup"),
            ):
                rows = f"SELECT * FROM {table} WHERE span = 'hour'"
                computed = f"SELECT %(t)s::uuid, 'hour', * FROM {function}(%(t)s, %(f)s, %(u)s)"
                found = app.execute(
                    f"SELECT (SELECT count(*) FROM ({rows}) h) AS n,"
                    f" (SELECT count(*) FROM ({rows} EXCEPT ALL {computed}) x) AS missing,"
                    f" (SELECT count(*) FROM ({computed} EXCEPT ALL {rows}) x) AS extra",
                    {"t": tenant, "f": "-infinity", "u": "infinity"},
                ).fetchone()
                assert found is not None
                assert found["n"] > 0
                assert (found["missing"], found["extra"]) == (0, 0)


def test_the_hour_day_and_week_under_way_are_rolled_up_once_they_have_ended(
    conn: Any, app: Any
) -> None:
    # Given a tenant's week up to Sunday 2026-03-08 23:40 UTC, the last minutes of an ISO week
    tenant = add_tenant(conn, "closing")
    sunday_night = datetime(2026, 3, 8, 23, 40, tzinfo=UTC)
    monday = datetime(2026, 3, 9, tzinfo=UTC)
    write_between(app, tenant, 80, START, sunday_night, seed=30)
    write_between(app, tenant, 12, sunday_night - timedelta(hours=4), sunday_night, seed=31)

    def read_at(as_of: datetime) -> None:
        # Windows ending before, at and after the moment, across the day and week boundary
        for since, until in (
            (START, as_of),
            (START + timedelta(hours=5, minutes=30), as_of + timedelta(days=2)),
            (datetime(2026, 3, 8, 21, 15, tzinfo=UTC), datetime(2026, 3, 9, 0, 50, tzinfo=UTC)),
            (datetime(2026, 3, 2, tzinfo=UTC), monday),
            (START, monday + timedelta(days=7)),
        ):
            assert_matches(app, insights.Scope(tenant, since, until, as_of=as_of))

    # When it is read during that hour
    read_at(sunday_night)
    # Then the hour under way has no row (its marks wait) and the hours before have rows; the
    # read rolled up nothing: every day and week of those hours is pending, read from its hours
    found = spans(app, tenant)
    assert sunday_night.replace(minute=0) in found["marked"]
    assert sunday_night.replace(minute=0) not in found["hour"]
    assert datetime(2026, 3, 8, 22, tzinfo=UTC) in found["hour"]
    assert "day" not in found
    assert "week" not in found
    assert datetime(2026, 3, 8, tzinfo=UTC) in found["pending day"]
    assert datetime(2026, 3, 7, tzinfo=UTC) in found["pending day"]
    assert found["pending week"] >= {datetime(2026, 3, 2, tzinfo=UTC)}
    # When the sweep refreshes the tenant at that moment
    with scoped(app, tenant):
        insights.refresh(app, tenant, as_of=sunday_night)
    # Then the days and weeks that have ended have rows; the day and week under way wait
    found = spans(app, tenant)
    assert datetime(2026, 3, 8, tzinfo=UTC) not in found["day"]
    assert datetime(2026, 3, 7, tzinfo=UTC) in found["day"]
    assert datetime(2026, 3, 2, tzinfo=UTC) not in found.get("week", set())
    assert found["pending day"] == {datetime(2026, 3, 8, tzinfo=UTC)}
    assert found["pending week"] == {datetime(2026, 3, 2, tzinfo=UTC)}
    read_at(sunday_night)

    # When writes arrive: runs in the hour under way, an earlier hour of the open day changes
    # (a run of 21:00 fails late), a closed day changes (an approval of Tuesday's is decided
    # otherwise), and the reader reads right after them
    write_between(app, tenant, 4, sunday_night - timedelta(minutes=5), sunday_night, seed=32)
    with scoped(app, tenant):
        late = app.execute(
            "SELECT id FROM runs WHERE created_at >= '2026-03-08 19:40Z'"
            " AND created_at < '2026-03-08 23:00Z' AND status = 'succeeded' LIMIT 1"
        ).fetchone()
        assert late is not None
        app.execute("UPDATE runs SET status = 'failed' WHERE id = %s", (late["id"],))
        app.execute(
            "UPDATE approvals SET status = 'edited' WHERE run_id IN (SELECT id FROM runs"
            " WHERE created_at >= '2026-03-03Z' AND created_at < '2026-03-04Z')"
        )
    read_at(sunday_night + timedelta(minutes=10))
    # Then the closed day and its week wait for the sweep, read from their hours and days
    found = spans(app, tenant)
    assert found["pending day"] == {
        datetime(2026, 3, 8, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
    }
    assert found["pending week"] == {datetime(2026, 3, 2, tzinfo=UTC)}

    # When the day and the week have ended, with runs of the new week already in
    write_between(app, tenant, 5, monday, monday + timedelta(minutes=20), seed=33)
    read_at(monday + timedelta(minutes=20))
    # Then the hour that ended has rows; the day and the week that ended wait for the sweep
    found = spans(app, tenant)
    assert sunday_night.replace(minute=0) in found["hour"]
    assert found["pending day"] >= {datetime(2026, 3, 8, tzinfo=UTC)}
    assert datetime(2026, 3, 2, tzinfo=UTC) in found["pending week"]
    # When the sweep refreshes the tenant, then they have rows, and nothing of them waits
    with scoped(app, tenant):
        insights.refresh(app, tenant, as_of=monday + timedelta(minutes=20))
    read_at(monday + timedelta(minutes=20))
    found = spans(app, tenant)
    assert sunday_night.replace(minute=0) in found["hour"]
    assert datetime(2026, 3, 8, tzinfo=UTC) in found["day"]
    assert datetime(2026, 3, 2, tzinfo=UTC) in found["week"]
    assert found["marked"] == {monday}
    assert "pending day" not in found
    assert "pending week" not in found

    # And a late write to the hour that has just ended is read right after it
    with scoped(app, tenant):
        app.execute(
            "UPDATE runs SET status = 'cancelled' WHERE id = (SELECT id FROM runs"
            " WHERE created_at >= '2026-03-08 23:00Z' AND created_at < '2026-03-09Z' LIMIT 1)"
        )
    read_at(monday + timedelta(minutes=30))
    # (and a sweep at the database's own clock, long after, rolls everything up)
    with scoped(app, tenant):
        insights.refresh(app, tenant)
    assert_matches(app, insights.Scope(tenant, START, monday + timedelta(days=1)))
    assert set(spans(app, tenant)) == {"hour", "day", "week"}


def test_days_are_utc_whatever_the_session_time_zone(conn: Any, app: Any) -> None:
    tenant = add_tenant(conn, "time-zones")
    write_history(app, tenant, 120, seed=9, days=4)
    scope = insights.Scope(tenant, START, START + timedelta(days=4))
    with scoped(app, tenant):
        # A session far from UTC (and no use_utc): the hours and days are still UTC's
        app.execute("SET LOCAL TIME ZONE 'Pacific/Kiritimati'")
        days = insights.runs_per_day(app, scope)
    assert [d["day"].astimezone(UTC) for d in days] == [START + timedelta(days=i) for i in range(4)]
    assert_matches(app, scope)


# --- the sweep ----------------------------------------------------------------------------------


class NoQueuedRuns:
    """The sweep's run service, never asked to start a run: these sweeps examine none."""

    def start_queued(self, run: Any) -> bool:
        raise AssertionError(f"run {run.id} was not to be started")


def test_the_sweep_rolls_up_what_no_read_took_longest_waiting_first(
    conn: Any, app: Any, database_url: str
) -> None:
    from flightdeck.engine.sweeper import RunSweeper

    # Given two tenants' histories nobody has read, A's hours older than B's, and a quiet tenant
    a, b = add_tenant(conn, "unread-a"), add_tenant(conn, "unread-b")
    add_tenant(conn, "quiet")
    write_history(app, a, 40, seed=11, days=2)
    write_between(app, b, 30, START + timedelta(days=5), START + timedelta(days=6), seed=12)
    assert marks(app, a) > 0
    assert marks(app, b) > 0

    @contextmanager
    def connection() -> Iterator[Any]:
        with connect(database_url, role=APP_ROLE) as c:
            yield c

    sweeper = RunSweeper(connection=connection, runs=NoQueuedRuns())  # type: ignore[arg-type]

    # When a sweep may refresh one tenant, then it takes A, whose marks waited longest
    first = sweeper.sweep(limit=0, rollup_tenants=1)
    assert (first.examined, first.rolled_up) == (0, 1)
    assert first.hours > 0
    assert marks(app, a) == 0
    assert marks(app, b) > 0
    # ... and the next one B: every ended hour, day and week of both is rolled up, none pending
    second = sweeper.sweep(limit=0)
    assert second.rolled_up == 1
    for tenant in (a, b):
        assert set(spans(app, tenant)) == {"hour", "day", "week"}
    # ... and then nobody waits: the quiet tenant was never refreshed
    assert sweeper.sweep(limit=0).rolled_up == 0

    # And what the sweeps rolled up is what the reads would have: the base rows' figures
    assert_matches(app, insights.Scope(a, START, START + timedelta(days=2)))
    assert_matches(app, insights.Scope(b, START + timedelta(days=5), START + timedelta(days=6)))


# --- the migration ------------------------------------------------------------------------------


def database_before(postgres: Any, monkeypatch: Any, version: int) -> str:
    """A new database, migrated up to the version before `version`."""
    all_migrations = migrations.available()
    url = str(postgres.ensure_database(f"rollups_{uuid.uuid4().hex[:8]}"))
    with connect(url) as owner:
        monkeypatch.setattr(
            migrations, "available", lambda: [m for m in all_migrations if m.version < version]
        )
        migrations.migrate(owner, checkpointer=False)
        monkeypatch.undo()
    return url


def test_migrating_a_database_with_runs_backfills_exact_rollups(
    postgres: Any, monkeypatch: Any
) -> None:
    # Given a database at the version before 0019 with two tenants' history
    url = database_before(postgres, monkeypatch, 19)
    with connect(url) as owner:
        tenants = [add_tenant(owner, slug) for slug in ("old-a", "old-b")]
    with connect(url, role=APP_ROLE) as app:
        for seed, tenant in enumerate(tenants):
            write_history(app, tenant, 150, seed=20 + seed, days=5, before_0024=True)

    # When the current code migrates it
    with connect(url) as owner:
        applied = migrations.migrate(owner, checkpointer=False)
    assert 19 in applied

    with connect(url, role=APP_ROLE) as app:
        for tenant in tenants:
            # Then the rollups hold the history, with nothing left to refresh
            assert marks(app, tenant) == 0
            with scoped(app, tenant):
                rolled = app.execute(
                    "SELECT sum(runs) AS n FROM run_rollups WHERE span = 'day'"
                ).fetchone()
            assert rolled is not None
            assert rolled["n"] == 150
            for scope in windows(tenant):
                assert_matches(app, scope)


def test_migrating_rollups_of_the_day_and_week_under_way_leaves_them_pending(
    postgres: Any, monkeypatch: Any
) -> None:
    # Given a database at the version before 0021 with runs up to now, rolled up as 0019 did:
    # the current hour, day and week included
    url = database_before(postgres, monkeypatch, 21)
    with connect(url) as owner:
        tenant = add_tenant(owner, "under-way")
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    this_week = today - timedelta(days=today.weekday())
    with connect(url, role=APP_ROLE) as app:
        write_between(app, tenant, 120, now - timedelta(days=8), now, seed=40, before_0024=True)
        write_between(
            app, tenant, 3, today, max(now, today + timedelta(seconds=1)), seed=41, before_0024=True
        )
        with scoped(app, tenant):
            app.execute("SELECT flightdeck_refresh_rollups(%s)", (tenant,))
        assert marks(app, tenant) == 0

    # When the current code migrates it
    with connect(url) as owner:
        assert 21 in migrations.migrate(owner, checkpointer=False)

    with connect(url, role=APP_ROLE) as app:
        # Then the day and the week under way have no rows, and wait until they have ended
        found = spans(app, tenant)
        assert not {d for d in found["day"] if d >= today}
        assert not {w for w in found.get("week", set()) if w >= this_week}
        assert found["pending day"] == {today}
        assert found["pending week"] == {this_week}
        # And every window reads the same as the base rows, now and once they have ended
        later = this_week + timedelta(days=7, minutes=5)
        for as_of in (None, later):
            for since, until in (
                (now - timedelta(days=8), now),
                (now - timedelta(days=6, hours=3), now + timedelta(days=2)),
                (this_week - timedelta(days=7), this_week + timedelta(days=7)),
            ):
                assert_matches(app, insights.Scope(tenant, since, until, as_of=as_of))
        # ... and once the sweep has rolled them up after they ended, they have rows
        with scoped(app, tenant):
            insights.refresh(app, tenant, as_of=later)
        found = spans(app, tenant)
        assert today in found["day"]
        assert this_week in found["week"]
        assert "pending day" not in found
