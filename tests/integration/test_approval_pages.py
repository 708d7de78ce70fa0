"""Migration 0029: the approval inbox reads its page from an index in (created_at, id) order,
however long a tenant's history of decided requests, and pages through all of it."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flightdeck.store import approvals
from flightdeck.store.db import connect, scoped
from flightdeck.store.migrate import APP_ROLE
from tests.integration.test_run_list_indexes import add_runs, add_tenant, listed_with_plan

START = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture
def app(database_url: str) -> Iterator[Any]:
    with connect(database_url, role=APP_ROLE) as c:
        yield c


def add_approvals(conn: Any, tenant: uuid.UUID, n: int, *, open_: int, seed: int) -> None:
    """`n` requests of a tenant, the last `open_` of them pending, the rest decided; several
    share a creation time (the keyset's id breaks the tie)."""
    rng = random.Random(seed)
    runs = add_runs(conn, tenant, n, seed=seed)
    rows = []
    for i, run in enumerate(sorted(runs, key=lambda r: r["created_at"])):
        pending = i >= n - open_
        rows.append(
            {
                "id": uuid.uuid4(),
                "tenant": tenant,
                "run": run["id"],
                "status": "pending" if pending else rng.choice(("approved", "rejected")),
                "created_at": START + timedelta(minutes=(i // 3) * 7),
            }
        )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO approvals (id, tenant_id, run_id, node, interrupt_id, request, status,"
            " expires_at, created_at) VALUES (%(id)s, %(tenant)s, %(run)s, 'decide', 'i',"
            " '{}', %(status)s, %(created_at)s + interval '4 hours', %(created_at)s)",
            rows,
        )


@pytest.fixture
def tenant(conn: Any) -> uuid.UUID:
    tenant = add_tenant(conn, "a")
    add_approvals(conn, tenant, 3000, open_=4, seed=2)
    add_approvals(conn, add_tenant(conn, "b"), 3000, open_=4, seed=3)
    conn.execute("ANALYZE runs")
    conn.execute("ANALYZE approvals")
    return tenant


@pytest.mark.parametrize(
    ("statuses", "index"),
    [
        (("pending",), "approvals_tenant_status_created"),
        ((), "approvals_tenant_created"),
    ],
)
@pytest.mark.parametrize("deep", [False, True])
def test_a_page_is_read_in_order_from_an_index(
    app: Any, tenant: uuid.UUID, statuses: tuple[str, ...], index: str, deep: bool
) -> None:
    with scoped(app, tenant):
        history = approvals.list_for_tenant(app, tenant, limit=5000)
        middle = history[len(history) // 2]
        after = (middle.created_at, middle.id) if deep else None
        # What the page must hold: the filter's requests after the cursor, oldest first.
        expected = [
            a.id
            for a in approvals.list_for_tenant(app, tenant, statuses=statuses, limit=5000)
            if after is None or (a.created_at, a.id) > after
        ][:101]
        # A table this small could be read whole for the price of an index: only plans that
        # walk an index are left, so one without the page's order would show a Sort.
        app.execute("SET LOCAL enable_seqscan = off")
        app.execute("SET LOCAL enable_bitmapscan = off")
        found, plan = listed_with_plan(
            app,
            lambda c: approvals.list_for_tenant(
                c, tenant, statuses=statuses, after=after, limit=101
            ),
        )
    assert f"Index Scan using {index} " in plan, plan
    assert "Sort" not in plan, plan
    assert [a.id for a in found] == expected


def test_the_open_requests_are_found_without_reading_the_decided_ones(
    app: Any, tenant: uuid.UUID
) -> None:
    # The dashboard's inbox: two statuses, oldest first.
    with scoped(app, tenant):
        found, plan = listed_with_plan(
            app,
            lambda c: approvals.list_for_tenant(c, tenant, statuses=("pending", "escalated")),
        )
    assert len(found) == 4
    assert all(a.status == "pending" for a in found)
    assert "approvals_tenant_status_created" in plan, plan


def test_pages_through_the_whole_history_once_each_in_order(app: Any, tenant: uuid.UUID) -> None:
    seen: list[Any] = []
    after = None
    with scoped(app, tenant):
        while True:
            page = approvals.list_for_tenant(app, tenant, after=after, limit=500)
            seen.extend(page)
            if len(page) < 500:
                break
            after = (page[-1].created_at, page[-1].id)
    assert len(seen) == 3000
    assert len({a.id for a in seen}) == 3000
    keys = [(a.created_at, a.id) for a in seen]
    assert keys == sorted(keys)
    assert {a.tenant_id for a in seen} == {tenant}
