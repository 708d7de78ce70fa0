"""A million runs: the run list, run detail and the outcomes API's queries at dashboard scale,
each p95 printed beside a primary-key lookup of one run measured in the same run.

    make bench            # or: .venv/bin/python bench/million_runs.py [--runs N] [--queries N]

The data, loaded with COPY into an embedded Postgres migrated to the version before 0015 (the
secondary indexes dropped during the load and built afterwards, as a restore would), which is
then migrated to the current version, so 0015 builds its indexes and rollup and 0019 backfills
the outcome rollups on the loaded data, and its time is printed: `--runs`
runs over 6 months in the order they were triggered (so a tenant's rows are spread over the
table as they are in production), 30 tenants of Zipf-skewed sizes (the largest ~36%, the
smallest ~0.4%), six workflows of 2-5 nodes, every status in the proportions a live system
shows (in-progress runs only in the last hours or days, approvals waiting up to a week), six to
seven run events per run (queued, started, nodes with durations, failures and retries,
approvals, the end: ~6.7M at 1M runs), and what
the outcomes API reads: before/after snapshots of succeeded runs, approval requests with their
decisions, score and label annotations, and the `act` nodes' outbox entries. Then VACUUM
ANALYZE, as autovacuum leaves a table of that age.

Every query goes through the store function the API calls, as the application role under
row-level security in a `scoped` transaction, for the largest tenant and the smallest:
- the run list (`runs.list_runs`, keyset page of 50 as `GET /v1/runs` asks for it): unfiltered,
  by status, in progress (three statuses), by workflow, by time range (a week), by source, by
  trigger id, and deep pages through the cursor (unfiltered, by status, by workflow);
- run detail (what `GET /v1/runs/{id}` reads: the run, its events, approvals, outcome, outbox
  entries, annotations, callback deliveries);
- the outcomes API (`insights.figures`, `benefit`, `series`, `node_health`, `runs_per_day`,
  28-day windows ending in the last week), read from the rollups of migrations 0019 and 0021;
  and figures and node health right after a write: "written", of a run triggered in the
  current hour (its mark, as a live tenant's webhooks and node steps leave one; the hour under
  way has no rows, so the read recomputes nothing), and "last hour", of a run triggered in the
  hour that has just ended (a run of it finishing, a late node step), so the read first
  recomputes that hour (and, in the first hour of a day, the day and week that ended with it).
Each is timed `--queries` times (after `--warmup`; a query whose first 20 requests all take
over 100 ms stops there, and the table shows how many it ran): p50, p95, the budget (p95 <=
20 ms) and the ratio to the baseline: `runs.get_run` of one run by primary key, in the same kind
of scoped transaction (what the cheapest request costs on this machine at this moment). The plan
of each query (`EXPLAIN (ANALYZE, BUFFERS)` of the very statements the store function sent) is
printed.

Postgres runs with shared_buffers sized as RDS sizes it (a quarter of a 4 GB instance). The data
directory lives in a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.figures import Figure, record  # noqa: E402

APP_ROLE = "flightdeck_app"
BUDGET_P95_MS = 20.0
PAGE = 50
TENANTS = 30
ZIPF_EXPONENT = 1.3  # the largest of 30 tenants holds ~36% of the runs, the smallest ~0.4%
HISTORY = timedelta(days=182)
WINDOW = timedelta(days=28)  # the outcomes API's default window
BLOCK = 20_000  # runs generated and copied per batch
NULL = "\\N"
# A query whose first SLOW_SAMPLES requests all take over SLOW_FACTOR times the budget is not
# repeated further (its p95 is then over those requests; the table says how many).
SLOW_SAMPLES = 20
SLOW_FACTOR = 5
# The first migration whose indexes and rollups this measures: the load stops before it, and
# 0015 (run-list indexes, minutes saved per day) and 0019 (outcome rollups) build on the data.
INDEXES_VERSION = 15


@dataclass(frozen=True)
class Workflow:
    name: str
    nodes: tuple[str, ...]
    share: float
    setup_minutes: float
    # Minutes a person spends on the task (None: the workflow records no outcome).
    baseline_minutes: float | None
    source: str  # "webhook" (with some API starts) or "schedule"
    approval_node: str | None = None
    approval_share: float = 0.0
    id_field: str = "ref"


WORKFLOWS = (
    Workflow(
        "support_triage",
        ("plan", "retrieve", "decide", "act", "reflect"),
        0.30,
        360,
        12,
        "webhook",
        "decide",
        0.25,
        "ticket_id",
    ),
    Workflow("invoice_intake", ("extract", "validate", "post"), 0.20, 240, 8, "webhook"),
    Workflow("lead_qualify", ("enrich", "score"), 0.25, 120, 5, "webhook"),
    Workflow("refund_review", ("check", "decide", "act"), 0.10, 180, 15, "webhook", "decide", 0.6),
    Workflow("nightly_digest", ("gather", "summarise", "send"), 0.10, 60, None, "schedule"),
    Workflow("appointment_reminder", ("pick", "send"), 0.05, 30, None, "webhook"),
)
BY_NAME = {w.name: w for w in WORKFLOWS}


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def tenant_weights() -> list[float]:
    raw = [1.0 / (i + 1) ** ZIPF_EXPONENT for i in range(TENANTS)]
    return [w / sum(raw) for w in raw]


# --- generation ------------------------------------------------------------------------------


def ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def hexid(rng: random.Random) -> str:
    """A random UUID in the form Postgres reads (32 hex digits)."""
    return f"{rng.getrandbits(128):032x}"


@dataclass
class Counts:
    runs: int = 0
    events: int = 0
    outcomes: int = 0
    approvals: int = 0
    annotations: int = 0
    outbox: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def status_for(age: float, rng: random.Random, has_approval: bool) -> str:
    """Old runs have ended; recent ones may still be queued, running or waiting."""
    u = rng.random()
    if age < 3600:
        if u < 0.05:
            return "queued"
        if u < 0.30:
            return "running"
        if has_approval and u < 0.75:
            return "waiting_for_approval"
    elif age < 7 * 86400:
        if u < 0.0005:
            return "queued"
        if u < 0.002:
            return "running"
        # Waiting for a person: likelier the younger the request (the policy times out at 7 d).
        if has_approval and rng.random() < 0.25 * (1 - age / (7 * 86400)):
            return "waiting_for_approval"
    u = rng.random()
    if u < 0.895:
        return "succeeded"
    if u < 0.965:
        return "failed"
    return "cancelled"


class Generator:
    """Runs in the order they were triggered, and everything recorded about them, as lines of
    COPY text, block by block."""

    def __init__(self, rng: random.Random, tenants: list[str], runs: int, end: float) -> None:
        self.rng = rng
        self.tenants = tenants
        self.total = runs
        self.end = end
        self.start = end - HISTORY.total_seconds()
        self.cum_tenants = list(_accumulate(tenant_weights()))
        # Each tenant leans on its own workflows: the shares, perturbed per tenant.
        self.cum_workflows = []
        for _ in tenants:
            weights = [w.share * rng.uniform(0.2, 1.8) for w in WORKFLOWS]
            self.cum_workflows.append(list(_accumulate(weights)))
        self.counts = Counts()
        self.done = 0
        # Durations per node: a median and a spread, so per-node latency percentiles differ.
        self.node_ms = {
            (w.name, n): (rng.uniform(20, 900), rng.uniform(0.3, 0.9))
            for w in WORKFLOWS
            for n in w.nodes
        }

    def blocks(self) -> Iterator[dict[str, list[str]]]:
        while self.done < self.total:
            n = min(BLOCK, self.total - self.done)
            yield self.block(self.done, n)
            self.done += n

    def block(self, first: int, n: int) -> dict[str, list[str]]:
        rng = self.rng
        out: dict[str, list[str]] = {
            "runs": [],
            "run_events": [],
            "run_outcomes": [],
            "approvals": [],
            "annotations": [],
            "outbox": [],
        }
        span = self.end - self.start
        tenant_ix = rng.choices(range(len(self.tenants)), cum_weights=self.cum_tenants, k=n)
        for k in range(n):
            i = first + k
            created = self.start + span * (i + rng.random()) / self.total
            t = tenant_ix[k]
            self.run(out, i, self.tenants[t], t, created)
        return out

    def run(self, out: dict[str, list[str]], i: int, tenant: str, t: int, created: float) -> None:
        rng, c = self.rng, self.counts
        wf = rng.choices(WORKFLOWS, cum_weights=self.cum_workflows[t])[0]
        run_id = hexid(rng)
        asks = wf.approval_node is not None and rng.random() < wf.approval_share
        status = status_for(self.end - created, rng, asks)
        c.statuses[status] = c.statuses.get(status, 0) + 1
        c.runs += 1

        if wf.source == "schedule":
            source, key = "schedule", f"schedule:{wf.name}:{i}"
        elif rng.random() < 0.08:
            source, key = "api", f"api:{uuid.UUID(int=rng.getrandbits(128))}"
        else:
            source, key = "webhook", f"msg_{rng.getrandbits(96):024x}"
        business_id = f"{wf.id_field[0].upper()}-{i:07d}"
        payload = json.dumps({wf.id_field: business_id, "channel": rng.choice(CHANNELS)})

        # How far the run got: every node, or up to where it failed, stopped or is now.
        nodes = list(wf.nodes)
        stop = len(nodes)
        if status in ("failed", "running", "cancelled"):
            stop = rng.randrange(len(nodes))
        elif status == "queued":
            stop = 0
        elif status == "waiting_for_approval":
            assert wf.approval_node is not None
            stop = nodes.index(wf.approval_node)

        events: list[tuple[float, str, str | None, int | None, float | None, str | None]] = []
        at = created
        events.append((at, "run.queued", None, None, None, None))
        started = None
        if status != "queued":
            at += rng.uniform(0.05, 2.0)
            started = at
            events.append((at, "run.started", None, None, None, None))
        decision = None
        for ix, node in enumerate(nodes[: stop + 1] if status != "queued" else []):
            median, spread = self.node_ms[(wf.name, node)]
            if ix == stop and status in ("failed",):
                ms = median * math.exp(rng.gauss(0, spread))
                at += ms / 1000
                events.append((at, "node.failed", node, 0, ms, "ToolError"))
                break
            if ix == stop and status in ("running", "cancelled"):
                break
            if ix == stop and status == "waiting_for_approval":
                ms = median * math.exp(rng.gauss(0, spread))
                at += ms / 1000
                events.append((at, "node.interrupted", node, 0, ms, None))
                events.append((at, "approval.waiting", node, None, None, None))
                break
            if rng.random() < 0.03:
                ms = median * math.exp(rng.gauss(0, spread))
                at += ms / 1000
                events.append((at, "node.failed", node, 0, ms, "TransientError"))
                events.append((at, "node.retried", node, 1, None, None))
            ms = median * math.exp(rng.gauss(0, spread))
            at += ms / 1000
            if asks and node == wf.approval_node:
                events.append((at, "node.interrupted", node, 0, ms, None))
                events.append((at, "approval.waiting", node, None, None, None))
                at += rng.expovariate(1 / 1800)  # a person answers within the hour, mostly
                u = rng.random()
                decision = "approved" if u < 0.8 else "edited" if u < 0.93 else "rejected"
                events.append((at, f"approval.{decision}", node, None, None, None))
            else:
                events.append((at, "node.succeeded", node, 0, ms, None))
        finished = None
        if status in ("succeeded", "failed", "cancelled"):
            at += rng.uniform(0.01, 0.5)
            finished = at
            events.append((at, f"run.{status}", None, None, None, None))

        failed_node = nodes[stop] if status == "failed" else None
        current = nodes[min(stop, len(nodes) - 1)] if status != "queued" else None
        out["runs"].append(
            "\t".join(
                (
                    run_id,
                    tenant,
                    wf.name,
                    "1.4.0",
                    status,
                    key,
                    source,
                    payload,
                    NULL,
                    f"\\\\x{rng.getrandbits(256):064x}",
                    run_id,
                    current or NULL,
                    "ToolError" if failed_node else NULL,
                    "the ticketing API answered 422" if failed_node else NULL,
                    failed_node or NULL,
                    ts(created),
                    ts(started) if started else NULL,
                    ts(finished) if finished else NULL,
                    ts(finished or at),
                    "t",
                )
            )
        )
        for at_, type_, node_, attempt, ms_, err in events:
            invocation = (
                f"{run_id}:{node_}:{attempt}"
                if type_ in ("node.succeeded", "node.interrupted")
                else NULL
            )
            out["run_events"].append(
                "\t".join(
                    (
                        run_id,
                        tenant,
                        type_,
                        node_ or NULL,
                        NULL if attempt is None else str(attempt),
                        NULL if ms_ is None else f"{ms_:.3f}",
                        err or NULL,
                        f"{err}: upstream said no" if err else NULL,
                        invocation,
                        "{}",
                        ts(at_),
                    )
                )
            )
        c.events += len(events)

        if asks and (decision is not None or status == "waiting_for_approval"):
            waited = next(e for e in events if e[1] == "approval.waiting")[0]
            state = decision or "pending"
            decided_at = [e for e in events if e[1] == f"approval.{decision}"]
            out["approvals"].append(
                "\t".join(
                    (
                        hexid(rng),
                        tenant,
                        run_id,
                        wf.approval_node or "decide",
                        f"{run_id}:1",
                        '{"kind": "reply_review", "summary": "Review the reply"}',
                        state,
                        NULL,
                        '{"action": "approve"}' if decision else NULL,
                        "token:ops" if decision else NULL,
                        ts(decided_at[0][0]) if decided_at else NULL,
                        ts(waited + 7 * 86400),
                        ts(waited),
                    )
                )
            )
            c.approvals += 1
        if status == "succeeded" and wf.baseline_minutes is not None:
            assert finished is not None
            staff = wf.baseline_minutes * rng.uniform(0.05, 0.6)
            out["run_outcomes"].append(
                "\t".join(
                    (
                        run_id,
                        tenant,
                        wf.name,
                        f"{wf.baseline_minutes}",
                        f"{staff:.2f}",
                        f"{finished - created:.3f}",
                        f"{rng.betavariate(8, 2):.3f}",
                        "{}",
                        ts(finished),
                    )
                )
            )
            c.outcomes += 1
        if status == "succeeded" and "act" in wf.nodes:
            out["outbox"].append(
                "\t".join(
                    (
                        tenant,
                        run_id,
                        "act",
                        f"act:{run_id}:reply",
                        "reply",
                        '{"to": "customer"}',
                        "delivered",
                        "1",
                        ts(created + 1),
                        ts(created + 2),
                    )
                )
            )
            c.outbox += 1
        if finished is not None and rng.random() < 0.045:
            u = rng.random()
            when = ts(finished + rng.uniform(60, 86400))
            if u < 0.65:
                score = f"{rng.betavariate(6, 2):.2f}"
                metric = "cx" if rng.random() < 0.4 else NULL
                row = ("score", NULL, NULL, score, metric)
            else:
                label = rng.choice(("cx:happy", "cx:happy", "cx:unhappy", "wrong_tone"))
                row = ("label", NULL, label, NULL, NULL)
            out["annotations"].append(
                "\t".join((hexid(rng), tenant, run_id, NULL, *row, "token:reviewer", when))
            )
            c.annotations += 1


CHANNELS = ("email", "chat", "phone", "form")

COLUMNS = {
    "runs": "id, tenant_id, workflow, workflow_version, status, idempotency_key, trigger_source,"
    " trigger_payload, trigger_ref, trigger_sha256, execution_name, current_node, error_type,"
    " error_message, failed_node, created_at, started_at, finished_at, updated_at,"
    " trigger_sealed",
    "run_events": "run_id, tenant_id, type, node, attempt, duration_ms, error_type,"
    " error_message, invocation, data, created_at",
    "approvals": "id, tenant_id, run_id, node, interrupt_id, request, status, task_token,"
    " decision, decided_by, decided_at, expires_at, created_at",
    "run_outcomes": "run_id, tenant_id, workflow, baseline_minutes, staff_minutes,"
    " turnaround_seconds, quality_score, data, created_at",
    "outbox": "tenant_id, run_id, node, key, kind, payload, status, attempts, created_at,"
    " delivered_at",
    "annotations": "id, tenant_id, run_id, node, kind, body, label, score, metric, author,"
    " created_at",
}


def _accumulate(values: Sequence[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


# --- loading ---------------------------------------------------------------------------------


@dataclass
class Loaded:
    tenants: list[uuid.UUID]
    end: datetime
    counts: Counts
    copy_s: float
    index_s: dict[str, float]
    analyze_s: float


def secondary_indexes(conn: Any, tables: Sequence[str]) -> dict[str, str]:
    """The indexes of `tables` that back no constraint, by name: their definitions as migrated."""
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def"
        " FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[])"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (list(tables),),
    ).fetchall()
    return {r["name"]: r["def"] for r in rows}


def load(url: str, rng: random.Random, runs: int) -> Loaded:
    from flightdeck.store.db import connect
    from flightdeck.store.tenants import create_tenant

    end = datetime.now(UTC).replace(microsecond=0)
    with connect(url) as owner:
        tenants = [
            create_tenant(owner, f"tenant-{i:02d}", f"Tenant {i}").id for i in range(TENANTS)
        ]
        defs = secondary_indexes(owner, list(COLUMNS))
        for name in defs:
            owner.execute(f"DROP INDEX {name}")
        gen = Generator(rng, [t.hex for t in tenants], runs, end.timestamp())
        started = time.perf_counter()
        with owner.transaction():
            # A restore's load: foreign keys are not re-checked row by row (the generator keeps
            # them), and the commit waits for nothing.
            owner.execute("SET LOCAL session_replication_role = replica")
            owner.execute("SET LOCAL synchronous_commit = off")
            with owner.cursor() as cur:
                for block in gen.blocks():
                    for table, lines in block.items():
                        if not lines:
                            continue
                        with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                            copy.write("\n".join(lines) + "\n")
                    if gen.done % 200_000 < BLOCK:
                        rate = gen.counts.runs / (time.perf_counter() - started)
                        print(f"  {gen.done + BLOCK:>9,} runs copied ({rate:,.0f} runs/s)")
        copy_s = time.perf_counter() - started
        owner.execute("SET maintenance_work_mem = '1GB'")
        index_s = {}
        for name, definition in defs.items():
            t = time.perf_counter()
            owner.execute(definition)
            index_s[name] = time.perf_counter() - t
        t = time.perf_counter()
        for table in COLUMNS:
            owner.execute(f"VACUUM ANALYZE {table}")
        analyze_s = time.perf_counter() - t
    return Loaded(tenants, end, gen.counts, copy_s, index_s, analyze_s)


# --- queries ---------------------------------------------------------------------------------


class Recording:
    """The connection a store function is handed while its statements are kept for EXPLAIN."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.statements: list[tuple[Any, Any]] = []

    def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
        self.statements.append((query, params))
        return self.conn.execute(query, params, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def explain(conn: Any, tenant: uuid.UUID, call: Callable[[Any], Any]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement `call` sends, in the transaction it runs in."""
    from psycopg import sql

    from flightdeck.store.db import scoped

    plans = []
    with scoped(conn, tenant):
        recording = Recording(conn)
        call(recording)
        for query, params in recording.statements:
            text = query.as_string(conn) if isinstance(query, sql.Composable) else str(query)
            if text.lstrip().upper().startswith("SET "):
                continue
            rows = conn.execute(
                sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + sql.SQL(text), params
            ).fetchall()
            plans.append("\n".join(r["QUERY PLAN"] for r in rows))
    return plans


@dataclass(frozen=True)
class Case:
    """One kind of request: `make(i)` gives the store calls of its i-th sample."""

    name: str
    group: str
    make: Callable[[int], Callable[[Any], Any]]


@dataclass
class Sample:
    tenant: str
    case: Case
    latencies: list[float]
    rows: list[int]
    plans: list[str]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)


def count(result: Any) -> int:
    if isinstance(result, list | dict):
        return len(result)
    return 0 if result is None else 1


def cases(owner: Any, tenant: uuid.UUID, end: datetime, rng: random.Random) -> list[Case]:
    """The requests measured for one tenant, their parameters drawn from its own rows."""
    from flightdeck.store import annotations, approvals, callbacks, insights, outbox, outcomes, runs

    def pick(sql: str, *params: Any) -> list[dict[str, Any]]:
        return list(owner.execute(sql, (tenant, *params)).fetchall())

    ids = [
        r["id"]
        for r in pick("SELECT id FROM runs WHERE tenant_id = %s ORDER BY random() LIMIT 500")
    ]
    marks = pick("SELECT created_at, id FROM runs WHERE tenant_id = %s ORDER BY random() LIMIT 500")
    failed_marks = pick(
        "SELECT created_at, id FROM runs WHERE tenant_id = %s AND status = 'failed'"
        " ORDER BY random() LIMIT 500"
    )
    triggers = pick(
        "SELECT trigger_payload->>'ticket_id' AS v FROM runs WHERE tenant_id = %s"
        " AND workflow = 'support_triage' ORDER BY random() LIMIT 500"
    )
    names = [w.name for w in WORKFLOWS]
    statuses = ("failed", "waiting_for_approval", "cancelled", "succeeded")
    history = HISTORY.total_seconds()

    def page(f: runs.RunFilter, after: runs.Cursor | None = None) -> Callable[[Any], Any]:
        # As GET /v1/runs asks: one more than the page, to know whether there is a next one.
        return lambda c: runs.list_runs(c, f, tenant_id=tenant, after=after, limit=PAGE + 1)

    def week(i: int) -> runs.RunFilter:
        since = end - timedelta(seconds=random.Random(i).uniform(7 * 86400, history))
        return runs.RunFilter(created_after=since, created_before=since + timedelta(days=7))

    def mark(rows: list[dict[str, Any]], i: int) -> runs.Cursor:
        row = rows[i % len(rows)]
        return runs.Cursor(row["created_at"], row["id"])

    def detail(i: int) -> Callable[[Any], Any]:
        run_id = ids[i % len(ids)]

        def call(c: Any) -> Any:
            run = runs.get_run(c, run_id)
            return (
                run,
                runs.list_events(c, run_id),
                approvals.list_for_run(c, run_id),
                outcomes.get(c, run_id),
                outbox.for_run(c, run_id),
                annotations.list_for_run(c, run_id),
                callbacks.list_for_run(c, run_id),
            )

        return call

    def scope(i: int) -> insights.Scope:
        until = end - timedelta(seconds=random.Random(i).uniform(0, 7 * 86400))
        return insights.Scope(tenant, until - WINDOW, until)

    def utc(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def call(c: Any) -> Any:
            insights.use_utc(c)
            return fn(c)

        return call

    setup = {w.name: w.setup_minutes for w in WORKFLOWS}

    def written(fn: Callable[[Any], Any], *, hours_ago: int = 0) -> Callable[[Any], Any]:
        # A write just committed before the request, of a run triggered in the current hour (as
        # the webhooks and node steps of a live tenant leave one: its hour is read from the base
        # rows until it ends) or in the hour that has just ended (a run of it finishing, a node
        # step: the read recomputes that hour first).
        def call(c: Any) -> Any:
            c.execute(
                "INSERT INTO rollup_marks (tenant_id, hour, xid) VALUES"
                " (%s, date_trunc('hour', now(), 'UTC') - %s * interval '1 hour', '1')"
                " ON CONFLICT DO NOTHING",
                (tenant, hours_ago),
            )
            return fn(c)

        return call

    def by_trigger_id(i: int) -> Callable[[Any], Any]:
        # What the route asks for a trigger id: the key, or the run's business id (0024).
        value = triggers[i % len(triggers)]["v"] if triggers else "T-none"
        return page(runs.RunFilter(trigger_id=value))

    found: list[Case] = [
        Case(
            "get_run by id (baseline)",
            "baseline",
            lambda i: lambda c: runs.get_run(c, ids[i % len(ids)]),
        ),
        Case("list: unfiltered", "list", lambda i: page(runs.RunFilter())),
        Case(
            "list: status",
            "list",
            lambda i: page(runs.RunFilter(statuses=(statuses[i % len(statuses)],))),
        ),
        Case(
            "list: in progress",
            "list",
            lambda i: page(runs.RunFilter(statuses=("queued", "running", "waiting_for_approval"))),
        ),
        Case(
            "list: workflow", "list", lambda i: page(runs.RunFilter(workflow=names[i % len(names)]))
        ),
        Case("list: time range (week)", "list", lambda i: page(week(i))),
        Case(
            "list: source",
            "list",
            lambda i: page(runs.RunFilter(source=("webhook", "api", "schedule")[i % 3])),
        ),
        Case("list: trigger id", "list", by_trigger_id),
        Case("list: deep page", "list", lambda i: page(runs.RunFilter(), mark(marks, i))),
        Case(
            "list: deep page, status",
            "list",
            lambda i: page(runs.RunFilter(statuses=("failed",)), mark(failed_marks, i)),
        ),
        Case(
            "list: deep page, workflow",
            "list",
            lambda i: page(runs.RunFilter(workflow=names[i % len(names)]), mark(marks, i)),
        ),
        Case("run detail", "detail", detail),
        Case(
            "outcomes: figures", "outcomes", lambda i: utc(lambda c: insights.figures(c, scope(i)))
        ),
        Case(
            "outcomes: benefit",
            "outcomes",
            lambda i: utc(lambda c: insights.benefit(c, tenant, setup)),
        ),
        Case(
            "outcomes: weekly series",
            "outcomes",
            lambda i: utc(lambda c: insights.series(c, scope(i), "week")),
        ),
        Case(
            "health: node latency",
            "outcomes",
            lambda i: utc(lambda c: insights.node_health(c, scope(i))),
        ),
        Case(
            "health: runs per day",
            "outcomes",
            lambda i: utc(lambda c: insights.runs_per_day(c, scope(i))),
        ),
        Case(
            "outcomes: figures, written",
            "outcomes",
            lambda i: utc(written(lambda c: insights.figures(c, scope(i)))),
        ),
        Case(
            "health: nodes, written",
            "outcomes",
            lambda i: utc(written(lambda c: insights.node_health(c, scope(i)))),
        ),
        Case(
            "outcomes: figures, last hour",
            "outcomes",
            lambda i: utc(written(lambda c: insights.figures(c, scope(i)), hours_ago=1)),
        ),
        Case(
            "health: nodes, last hour",
            "outcomes",
            lambda i: utc(written(lambda c: insights.node_health(c, scope(i)), hours_ago=1)),
        ),
    ]
    return found


def measure(
    conn: Any, label: str, tenant: uuid.UUID, case: Case, queries: int, warmup: int
) -> Sample:
    from flightdeck.store.db import scoped

    latencies: list[float] = []
    rows: list[int] = []
    for i in range(warmup + queries):
        call = case.make(i)
        t = time.perf_counter()
        with scoped(conn, tenant):
            result = call(conn)
        elapsed = (time.perf_counter() - t) * 1000
        if i >= warmup:
            latencies.append(elapsed)
            rows.append(count(result))
        if len(latencies) == SLOW_SAMPLES and min(latencies) > SLOW_FACTOR * BUDGET_P95_MS:
            break  # far over budget whatever the rest would show: the run stays short
    plans = explain(conn, tenant, case.make(0))
    return Sample(label, case, latencies, rows, plans)


# --- main ------------------------------------------------------------------------------------


def size_like_rds(pg: Any) -> None:
    """shared_buffers as RDS sizes it by default (a quarter of the instance's memory; 1 GB
    for a 4 GB instance), not initdb's 128 MB; max_wal_size raised so the load is not one
    checkpoint after another. A restart applies them."""
    import psycopg

    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_buffers = '1GB'")
        conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
    pg.stop()
    pg.start()


def print_load(loaded: Loaded, runs: int) -> None:
    c = loaded.counts
    rows = c.runs + c.events + c.outcomes + c.approvals + c.annotations + c.outbox
    print(
        f"\nloaded {c.runs:,} runs, {c.events:,} run events, {c.outcomes:,} outcomes,"
        f" {c.approvals:,} approvals, {c.annotations:,} annotations, {c.outbox:,} outbox entries"
    )
    print(
        f"  COPY {loaded.copy_s:.1f} s ({rows / loaded.copy_s:,.0f} rows/s,"
        f" {c.runs / loaded.copy_s:,.0f} runs/s, generation included)"
    )
    for name, seconds in loaded.index_s.items():
        print(f"  index {name:<34} {seconds:6.1f} s")
    print(f"  VACUUM ANALYZE {loaded.analyze_s:.1f} s")
    shares = ", ".join(f"{s} {n / c.runs:.2%}" for s, n in sorted(c.statuses.items()))
    print(f"  statuses: {shares}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--no-plans", action="store_true", help="leave the query plans out")
    parser.add_argument(
        "--only", default="", help="measure only the queries whose name contains this"
    )
    args = parser.parse_args()
    print("reproduce:", shlex.join([".venv/bin/python", "bench/million_runs.py", *sys.argv[1:]]))

    from flightdeck.local.postgres import EmbeddedPostgres
    from flightdeck.store import migrate as migrations
    from flightdeck.store.db import connect
    from flightdeck.store.migrate import migrate

    before = [m for m in migrations.available() if m.version < INDEXES_VERSION]
    rng = random.Random(args.seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fd-bench-runs-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg").start()
        try:
            size_like_rds(pg)
            url = pg.ensure_database("bench")
            with connect(url) as owner:
                # Loaded at the version before the run-list indexes, then migrated: 0015 builds
                # its indexes and its rollup on a database that already holds a million runs.
                with patch.object(migrations, "available", lambda: before):
                    migrate(owner, checkpointer=False)
                server = owner.execute(
                    "SELECT 'PostgreSQL ' || current_setting('server_version')"
                    " || ', shared_buffers ' || current_setting('shared_buffers')"
                    " || ', work_mem ' || current_setting('work_mem') || '; schema at migration '"
                    " || (SELECT max(version) FROM schema_migrations) AS v"
                ).fetchone()
            print(server["v"] if server else "?")
            loaded = load(url, rng, args.runs)
            print_load(loaded, args.runs)
            with connect(url) as owner:
                t = time.perf_counter()
                applied = migrate(owner, checkpointer=False)
                migrate_s = time.perf_counter() - t
                for table in ("run_outcome_days", "run_rollups", "node_rollups", "rollup_marks"):
                    owner.execute(f"ANALYZE {table}")
            print(
                f"  migrations {', '.join(f'{v:04d}' for v in applied)} on the loaded database:"
                f" {migrate_s:.1f} s"
            )
            load_s = time.perf_counter() - started

            sizes = {}
            with connect(url) as owner:
                for row in owner.execute(
                    "SELECT tenant_id, count(*) AS n FROM runs GROUP BY 1"
                ).fetchall():
                    sizes[row["tenant_id"]] = row["n"]
                picks = {
                    "large": loaded.tenants[0],
                    "small": loaded.tenants[-1],
                }
                plan_cases = {
                    label: cases(owner, tenant, loaded.end, rng) for label, tenant in picks.items()
                }
            results: list[Sample] = []
            with connect(url, role=APP_ROLE) as conn:
                for label, tenant in picks.items():
                    print(
                        f"\nmeasuring the {label} tenant ({sizes[tenant]:,} runs,"
                        f" {sizes[tenant] / args.runs:.1%})"
                    )
                    for case in plan_cases[label]:
                        if args.only not in case.name and case.group != "baseline":
                            continue
                        sample = measure(conn, label, tenant, case, args.queries, args.warmup)
                        results.append(sample)
                        print(
                            f"  {case.name:<28} p50 {sample.p50:7.2f} ms  p95 {sample.p95:7.2f} ms"
                            f"  rows ~{statistics.median(sample.rows):.0f}"
                        )
            report(results, sizes, picks, args, load_s, show_plans=not args.no_plans)
        finally:
            pg.stop()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


def report(
    results: list[Sample],
    sizes: dict[uuid.UUID, int],
    picks: dict[str, uuid.UUID],
    args: argparse.Namespace,
    load_s: float,
    *,
    show_plans: bool,
) -> None:
    if show_plans:
        print("\n=== query plans (EXPLAIN (ANALYZE, BUFFERS) of the statements sent) ===")
        for s in results:
            for n, plan in enumerate(s.plans, 1):
                print(f"\n--- {s.tenant}: {s.case.name} [statement {n}/{len(s.plans)}]")
                print(plan)

    print(
        f"\n=== {args.runs:,} runs: p50/p95 over {args.queries} requests each (after"
        f" {args.warmup} warm-up; n: fewer when the first {SLOW_SAMPLES} all took over"
        f" {SLOW_FACTOR}x the budget), scoped transaction as the application role ==="
    )
    print(
        "baseline: runs.get_run of one run by primary key, same kind of transaction, same run\n"
        f"loaded and ready in {load_s:.0f} s"
    )
    header = (
        f"{'tenant':<7} {'query':<28} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'base p95':>9}"
        f" {'ratio':>7} {'budget':>10}  met"
    )
    print(header)
    print("-" * len(header))
    missed = []
    for label in picks:
        base = next(s for s in results if s.tenant == label and s.case.group == "baseline")
        for s in results:
            if s.tenant != label:
                continue
            budgeted = s.case.group != "baseline"
            met = s.p95 <= BUDGET_P95_MS
            if budgeted and not met:
                missed.append(f"{label}: {s.case.name}")
            print(
                f"{label:<7} {s.case.name:<28} {len(s.latencies):>4} {s.p50:8.2f} {s.p95:8.2f}"
                f" {base.p95:9.2f}"
                f" {s.p95 / base.p95:6.1f}x {'<= 20 ms' if budgeted else '-':>10}"
                f"  {('yes' if met else 'NO') if budgeted else ''}"
            )
            if budgeted:
                record(
                    Figure(
                        name=f"1M runs {label}: {s.case.name} p95",
                        value=s.p95,
                        unit="ms",
                        baseline_name="get_run by id p95",
                        baseline=base.p95,
                        budget=BUDGET_P95_MS,
                    )
                )
    if missed:
        print(f"\nover budget ({len(missed)}): " + "; ".join(missed))
    else:
        print("\nevery query within budget")


if __name__ == "__main__":
    main()
