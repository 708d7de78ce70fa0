"""Migration 0015: the run list's indexes, the tenant-named keyset query, the trigger-id lookup,
and the minutes-saved rollup behind time to benefit, kept exact by its trigger."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flightdeck.store import insights, outcomes, runs
from flightdeck.store import migrate as migrations
from flightdeck.store.db import connect, scoped
from flightdeck.store.migrate import APP_ROLE

START = datetime(2026, 1, 5, tzinfo=UTC)
WORKFLOWS = ("support_triage", "invoice_intake", "lead_qualify")

# Time to benefit as computed before 0015, from every outcome row: the reference the rollup
# must agree with.
REFERENCE_BENEFIT = """
WITH goals AS (
    SELECT * FROM unnest(%(names)s::text[], %(setup)s::float8[]) AS g(workflow, setup_minutes)
), saved AS (
    SELECT r.workflow, r.created_at,
           sum(greatest(o.baseline_minutes - o.staff_minutes, 0)) OVER (
               PARTITION BY r.workflow ORDER BY r.created_at, r.id
               ROWS UNBOUNDED PRECEDING) AS cumulative
    FROM runs r JOIN run_outcomes o ON o.run_id = r.id
    WHERE r.tenant_id = %(tenant)s AND r.workflow = ANY (%(names)s::text[])
)
SELECT g.workflow,
       (SELECT min(r.created_at) FROM runs r
        WHERE r.tenant_id = %(tenant)s AND r.workflow = g.workflow) AS first_run_at,
       (SELECT min(s.created_at) FROM saved s
        WHERE s.workflow = g.workflow AND s.cumulative > g.setup_minutes) AS reached_at,
       coalesce((SELECT max(s.cumulative) FROM saved s WHERE s.workflow = g.workflow), 0)
           AS cumulative,
       coalesce((SELECT array_agg(ARRAY[extract(epoch FROM d.day), d.cumulative] ORDER BY d.day)
                 FROM (SELECT date_trunc('day', s.created_at, 'UTC') AS day,
                              max(s.cumulative) AS cumulative
                       FROM saved s WHERE s.workflow = g.workflow GROUP BY 1) d),
                '{}') AS curve
FROM goals g
"""

# The rollup recomputed from the rows it summarises.
RECOMPUTED = """
SELECT r.tenant_id, r.workflow, date_trunc('day', r.created_at, 'UTC') AS day,
       count(*) AS outcomes, sum(greatest(o.baseline_minutes - o.staff_minutes, 0)::numeric)
           AS minutes_saved
FROM run_outcomes o JOIN runs r ON r.id = o.run_id
GROUP BY 1, 2, 3
"""


def add_tenant(conn: Any, slug: str) -> uuid.UUID:
    tenant = uuid.uuid4()
    conn.execute("INSERT INTO tenants (id, slug, name) VALUES (%s, %s, %s)", (tenant, slug, slug))
    return tenant


def add_runs(
    conn: Any, tenant: uuid.UUID, n: int, *, seed: int = 1, trigger_ids: bool = True
) -> list[dict[str, Any]]:
    """`n` runs of a tenant over 40 days, mostly succeeded webhook runs of the first workflow,
    with created_at ties (the keyset's id must break them). `trigger_ids`: written as the
    engine writes them (a database before 0024 has no such column)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        created = START + timedelta(minutes=rng.randrange(40 * 24 * 60 // 5) * 5)
        u = rng.random()
        status = (
            "failed"
            if u < 0.04
            else "waiting_for_approval"
            if u < 0.06
            else "running"
            if u < 0.07
            else "succeeded"
        )
        rows.append(
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant,
                "workflow": WORKFLOWS[0] if rng.random() < 0.9 else rng.choice(WORKFLOWS[1:]),
                "status": status,
                "key": f"msg_{i}_{seed}",
                "source": "api" if rng.random() < 0.03 else "webhook",
                "payload": f'{{"ticket_id": "T-{seed}-{i}"}}',
                "created_at": created,
            }
        )
    with conn.cursor() as cur:
        # The business id as the engine stores it: support_triage names `ticket_id`, the
        # others no id field (migration 0024).
        cur.executemany(
            "INSERT INTO runs (id, tenant_id, workflow, workflow_version, status,"
            " idempotency_key, trigger_source, trigger_payload, trigger_sha256, execution_name,"
            " created_at, finished_at"
            + (", trigger_id" if trigger_ids else "")
            + ") VALUES (%(id)s, %(tenant_id)s, %(workflow)s, '1', %(status)s, %(key)s,"
            " %(source)s, %(payload)s::jsonb, '\\x00', 'e', %(created_at)s,"
            " %(created_at)s + interval '2 minutes'"
            + (
                ", CASE WHEN %(workflow)s = 'support_triage'"
                " THEN %(payload)s::jsonb ->> 'ticket_id' END"
                if trigger_ids
                else ""
            )
            + ")",
            rows,
        )
    return rows


def rollup(conn: Any) -> dict[tuple[Any, ...], tuple[int, Any]]:
    rows = conn.execute(
        "SELECT tenant_id, workflow, day, outcomes, minutes_saved FROM run_outcome_days"
        " WHERE outcomes > 0"
    ).fetchall()
    return {
        (r["tenant_id"], r["workflow"], r["day"]): (r["outcomes"], r["minutes_saved"]) for r in rows
    }


def recomputed(conn: Any) -> dict[tuple[Any, ...], tuple[int, Any]]:
    rows = conn.execute(RECOMPUTED).fetchall()
    return {
        (r["tenant_id"], r["workflow"], r["day"]): (r["outcomes"], r["minutes_saved"]) for r in rows
    }


def outcome(rng: random.Random) -> outcomes.Outcome:
    return outcomes.Outcome(
        baseline_minutes=12,
        # Sometimes more than the baseline: such a run saves nothing (never negative).
        staff_minutes=round(rng.uniform(0, 14), 2),
        turnaround_seconds=60,
        quality_score=0.9,
        data={},
    )


@pytest.fixture
def app(database_url: str) -> Iterator[Any]:
    with connect(database_url, role=APP_ROLE) as c:
        yield c


# --- the migration ----------------------------------------------------------------------------


def test_migrating_a_database_with_outcomes_builds_the_indexes_and_an_exact_rollup(
    postgres: Any, monkeypatch: Any
) -> None:
    all_migrations = migrations.available()
    with connect(postgres.ensure_database("run_list_indexes")) as conn:
        # Given a database at 0014 with two tenants' runs and outcomes
        monkeypatch.setattr(
            migrations, "available", lambda: [m for m in all_migrations if m.version < 15]
        )
        migrations.migrate(conn, checkpointer=False)
        monkeypatch.undo()
        rng = random.Random(3)
        for n, slug in enumerate(("a", "b")):
            tenant = add_tenant(conn, slug)
            for row in add_runs(conn, tenant, 300, seed=n, trigger_ids=False):
                if row["status"] == "succeeded":
                    o = outcome(rng)
                    conn.execute(
                        "INSERT INTO run_outcomes (run_id, tenant_id, workflow, baseline_minutes,"
                        " staff_minutes, turnaround_seconds, quality_score)"
                        " VALUES (%s, %s, %s, %s, %s, 60, 0.9)",
                        (row["id"], tenant, row["workflow"], o.baseline_minutes, o.staff_minutes),
                    )

        # When the current code migrates it
        applied = migrations.migrate(conn, checkpointer=False)

        # Then 0015 ran, the old status and workflow indexes are replaced, and the rollup holds
        # what the outcomes add up to, day by day
        assert 15 in applied
        indexes = {
            r["indexname"]: r["indexdef"]
            for r in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'runs'"
            )
        }
        assert not {"runs_tenant_created", "runs_tenant_status", "runs_tenant_workflow"} & set(
            indexes
        )
        assert indexes["runs_tenant_created_covering"].endswith(
            "(tenant_id, created_at DESC, id DESC) INCLUDE (status, workflow)"
        )
        assert indexes["runs_tenant_status_created"].endswith("(tenant_id, status, created_at, id)")
        assert indexes["runs_tenant_workflow_created"].endswith(
            "(tenant_id, workflow, created_at, id)"
        )
        assert indexes["runs_tenant_source_created"].endswith(
            "(tenant_id, trigger_source, created_at, id)"
        )
        expected = recomputed(conn)
        assert len(expected) > 40
        assert rollup(conn) == expected
        # and 0024 gave the runs written before it the id their workflow names
        ids = conn.execute(
            "SELECT workflow, trigger_id, trigger_payload ->> 'ticket_id' AS ticket FROM runs"
        ).fetchall()
        assert all(
            r["trigger_id"] == (r["ticket"] if r["workflow"] == "support_triage" else None)
            for r in ids
        )
        assert sum(r["trigger_id"] is not None for r in ids) > 400


# --- the rollup under the write path -----------------------------------------------------------


def test_the_rollup_follows_every_write_of_an_outcome_under_row_level_security(
    conn: Any, app: Any
) -> None:
    a, b = add_tenant(conn, "a"), add_tenant(conn, "b")
    rows = add_runs(conn, a, 120, seed=1) + add_runs(conn, b, 60, seed=2)
    rng = random.Random(5)
    assert rollup(conn) == {}

    # Outcomes recorded as the engine records them: the application role, one tenant in scope
    for row in rows:
        with scoped(app, row["tenant_id"]):
            outcomes.record(
                app,
                tenant_id=row["tenant_id"],
                run_id=row["id"],
                workflow=row["workflow"],
                outcome=outcome(rng),
            )
    assert rollup(conn) == recomputed(conn)

    # Recorded again (a retried node replaces the snapshot): the day moves by the difference
    for row in rng.sample(rows, 40):
        with scoped(app, row["tenant_id"]):
            outcomes.record(
                app,
                tenant_id=row["tenant_id"],
                run_id=row["id"],
                workflow=row["workflow"],
                outcome=outcome(rng),
            )
    assert rollup(conn) == recomputed(conn)

    # A run's status changes (as the lifecycle moves it): its outcome and day stay counted once
    for row in rows[:20]:
        with scoped(app, row["tenant_id"]):
            runs.set_status(app, row["id"], "failed", from_statuses=(row["status"],))
    assert rollup(conn) == recomputed(conn)

    # Snapshots edited by hand and deleted: still exact, and a day with none left is not shown
    conn.execute(
        "UPDATE run_outcomes SET staff_minutes = staff_minutes + 1 WHERE run_id = %s",
        (rows[0]["id"],),
    )
    conn.execute("UPDATE run_outcomes SET quality_score = 0.1 WHERE run_id = %s", (rows[1]["id"],))
    day_rows = [r for r in rows if r["created_at"].date() == rows[2]["created_at"].date()]
    for row in day_rows:
        conn.execute("DELETE FROM run_outcomes WHERE run_id = %s", (row["id"],))
    conn.execute(
        "DELETE FROM run_outcomes WHERE run_id = ANY(%s)", ([r["id"] for r in rows[60:70]],)
    )
    assert rollup(conn) == recomputed(conn)
    emptied = (rows[2]["tenant_id"], rows[2]["workflow"], insights_day(rows[2]["created_at"]))
    assert emptied not in rollup(conn)

    # And each tenant sees only its own days
    with scoped(app, b):
        seen = {r["tenant_id"] for r in app.execute("SELECT tenant_id FROM run_outcome_days")}
    assert seen == {b}


def insights_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def test_time_to_benefit_from_the_rollup_equals_the_sum_over_every_outcome(
    conn: Any, app: Any
) -> None:
    tenant = add_tenant(conn, "a")
    rows = add_runs(conn, tenant, 400, seed=7)
    rng = random.Random(11)
    for row in rows:
        if row["status"] == "succeeded":
            with scoped(app, tenant):
                outcomes.record(
                    app,
                    tenant_id=tenant,
                    run_id=row["id"],
                    workflow=row["workflow"],
                    outcome=outcome(rng),
                )
    # Setup times crossed on the first day, some days in (inside a busy day), and never
    setup = {"support_triage": 900.0, "invoice_intake": 30.0, "lead_qualify": 1e6, "idle": 5.0}
    params = {"tenant": tenant, "names": list(setup), "setup": list(setup.values())}

    with scoped(app, tenant):
        got = insights.benefit(app, tenant, setup)
        reference = {r["workflow"]: r for r in app.execute(REFERENCE_BENEFIT, params).fetchall()}

    reached = 0
    for name, want in reference.items():
        b = got[name]
        assert b.first_run_at == want["first_run_at"], name
        assert b.reached_at == want["reached_at"], name
        reached += b.reached_at is not None
        assert b.cumulative_minutes_saved == pytest.approx(float(want["cumulative"]), rel=1e-12)
        curve = [
            (datetime.fromtimestamp(float(e), tz=UTC).date(), float(c)) for e, c in want["curve"]
        ]
        assert [d for d, _ in b.curve] == [d for d, _ in curve], name
        assert [c for _, c in b.curve] == pytest.approx([c for _, c in curve], rel=1e-12)
    assert reached == 2
    assert got["idle"].curve == []
    assert got["idle"].first_run_at is None
    # The support_triage crossing falls inside a day with other runs after it
    crossing = got["support_triage"].reached_at
    assert crossing is not None
    assert any(
        r["created_at"] > crossing and r["created_at"].date() == crossing.date() for r in rows
    )


# --- the run list ------------------------------------------------------------------------------


FILTERS = {
    "unfiltered": runs.RunFilter(),
    "status": runs.RunFilter(statuses=("failed",)),
    "statuses": runs.RunFilter(statuses=("running", "waiting_for_approval")),
    "workflow": runs.RunFilter(workflow="invoice_intake"),
    "time range": runs.RunFilter(
        created_after=START + timedelta(days=10), created_before=START + timedelta(days=17)
    ),
    "source": runs.RunFilter(source="api"),
    "trigger": runs.RunFilter(trigger={"ticket_id": "T-1-17"}),
    "status and workflow": runs.RunFilter(statuses=("succeeded",), workflow="lead_qualify"),
}


def walk(
    conn: Any, f: runs.RunFilter, *, tenant_id: uuid.UUID | None, descending: bool
) -> list[uuid.UUID]:
    """Every page of 7, each continuing from the last one's cursor."""
    seen: list[uuid.UUID] = []
    after = None
    while True:
        page = runs.list_runs(
            conn, f, tenant_id=tenant_id, descending=descending, after=after, limit=7
        )
        seen += [r.id for r in page]
        if len(page) < 7:
            return seen
        after = runs.Cursor(page[-1].created_at, page[-1].id)


@pytest.mark.parametrize("name", list(FILTERS))
def test_pages_named_by_tenant_are_the_pages_row_level_security_gives(
    conn: Any, app: Any, name: str
) -> None:
    a, b = add_tenant(conn, "a"), add_tenant(conn, "b")
    mine = add_runs(conn, a, 400, seed=1)
    add_runs(conn, b, 200, seed=1)  # the same times, statuses and triggers in another tenant
    f = FILTERS[name]

    for descending in (True, False):
        with scoped(app, a):
            named = walk(app, f, tenant_id=a, descending=descending)
            implicit = walk(app, f, tenant_id=None, descending=descending)
        # Every matching run of the tenant exactly once, in (created_at, id) order
        expected = sorted(
            (r for r in mine if matches(r, f)),
            key=lambda r: (r["created_at"], r["id"]),
            reverse=descending,
        )
        assert named == [r["id"] for r in expected]
        assert implicit == named
    assert expected, "the filter matches something"


def matches(row: dict[str, Any], f: runs.RunFilter) -> bool:
    return (
        (not f.statuses or row["status"] in f.statuses)
        and (f.workflow is None or row["workflow"] == f.workflow)
        and (f.created_after is None or row["created_at"] >= f.created_after)
        and (f.created_before is None or row["created_at"] < f.created_before)
        and (f.source is None or row["source"] == f.source)
        and (f.trigger is None or f'"ticket_id": "{f.trigger["ticket_id"]}"' in row["payload"])
    )


def listed_with_plan(app: Any, list_runs: Any) -> tuple[Any, str]:
    """What `list_runs(connection)` returns on `app`, and the plan of the first statement it
    sent (composed SQL or a plain string)."""
    statements: list[tuple[Any, Any]] = []

    class Recording:
        def execute(self, query: Any, params: Any = None) -> Any:
            statements.append((query, params))
            return app.execute(query, params)

    found = list_runs(Recording())
    query, params = statements[0]
    text = query.encode() if isinstance(query, str) else query.as_bytes(app)
    rows = app.execute(b"EXPLAIN " + text, params).fetchall()
    return found, "\n".join(r["QUERY PLAN"] for r in rows)


def test_a_trigger_id_finds_runs_by_key_or_by_their_workflows_id(conn: Any, app: Any) -> None:
    tenant = add_tenant(conn, "a")
    rows = add_runs(conn, tenant, 50, seed=4)
    triaged = [r for r in rows if r["workflow"] == "support_triage"]
    other = next(r for r in rows if r["workflow"] != "support_triage")
    with scoped(app, tenant):
        found = runs.list_runs(
            app, runs.RunFilter(trigger_id=f"T-4-{rows.index(triaged[0])}"), tenant_id=tenant
        )
        by_key = runs.list_runs(app, runs.RunFilter(trigger_id="msg_7_4"), tenant_id=tenant)
        # A workflow that names no id field: its trigger's fields are no id of the run.
        unnamed = runs.list_runs(
            app, runs.RunFilter(trigger_id=f"T-4-{rows.index(other)}"), tenant_id=tenant
        )
    assert [r.id for r in found] == [triaged[0]["id"]]
    assert [r.id for r in by_key] == [rows[7]["id"]]
    assert unnamed == []


def test_a_trigger_id_is_looked_up_in_an_index_not_read_from_every_run(conn: Any, app: Any) -> None:
    # Given a tenant large enough for the planner to care, and statistics about it
    tenant = add_tenant(conn, "a")
    rows = add_runs(conn, tenant, 3000, seed=2)
    add_runs(conn, add_tenant(conn, "b"), 3000, seed=3)
    conn.execute("ANALYZE runs")
    wanted = next(r for r in rows if r["workflow"] == "support_triage")
    value = f"T-2-{rows.index(wanted)}"

    # When the search is planned as the application role sends it, under the tenant policy
    with scoped(app, tenant):
        found, plan = listed_with_plan(
            app, lambda c: runs.list_runs(c, runs.RunFilter(trigger_id=value), tenant_id=tenant)
        )

    # Then the id's index and the idempotency key's find it; no run is read to test it
    assert [r.id for r in found] == [wanted["id"]]
    assert "runs_tenant_trigger_id" in plan, plan
    assert "Seq Scan" not in plan, plan


INDEX_FOR = {
    "unfiltered": "runs_tenant_created_covering",
    "status": "runs_tenant_status_created",
    "workflow": "runs_tenant_workflow_created",
    "time range": "runs_tenant_created_covering",
    "source": "runs_tenant_source_created",
}


@pytest.mark.parametrize("name", list(INDEX_FOR))
@pytest.mark.parametrize("deep", [False, True])
def test_each_dashboard_filter_reads_its_page_in_order_from_an_index(
    conn: Any, app: Any, name: str, deep: bool
) -> None:
    # Given a tenant large enough for the planner to care, and statistics about it
    tenant = add_tenant(conn, "a")
    rows = add_runs(conn, tenant, 3000, seed=2)
    add_runs(conn, add_tenant(conn, "b"), 3000, seed=3)
    conn.execute("ANALYZE runs")
    middle = sorted(rows, key=lambda r: (r["created_at"], r["id"]))[1500]
    after = runs.Cursor(middle["created_at"], middle["id"]) if deep else None

    # When the list's statement is planned as the application sends it
    with scoped(app, tenant):
        # A table this small could be read whole for the price of an index (and a few dozen
        # matches sorted): only plans that walk an index are left to choose from, so a filter
        # without an index that holds its rows in order would show a Sort.
        app.execute("SET LOCAL enable_seqscan = off")
        app.execute("SET LOCAL enable_bitmapscan = off")
        _, plan = listed_with_plan(
            app,
            lambda c: runs.list_runs(c, FILTERS[name], tenant_id=tenant, after=after, limit=51),
        )

    # Then the page comes from the filter's index, in order, with nothing left to sort
    assert f"Index Scan using {INDEX_FOR[name]} " in plan or (
        f"Index Scan Backward using {INDEX_FOR[name]} " in plan
    ), plan
    assert "Sort" not in plan, plan
