"""Annotations: comments, labels and scores on a run or on one node of it.

Callers hand in a connection already scoped to the tenant (`flightdeck.store.db.scoped`); row-level
security keeps every query here inside it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from flightdeck.store.db import Connection

Kind = Literal["comment", "label", "score"]
KINDS: tuple[Kind, ...] = ("comment", "label", "score")

# The same limits as the table's CHECK constraints (0004), so the API refuses what the
# database would.
LABEL_PATTERN = r"^[a-z0-9][a-z0-9_:-]{0,63}$"
BODY_MAX_CHARS = 4000

_COLUMNS = (
    "a.id, a.run_id, r.workflow, a.node, a.kind, a.body, a.label, a.score, a.metric, a.author,"
    " a.created_at"
)


@dataclass(frozen=True)
class Annotation:
    id: uuid.UUID
    run_id: uuid.UUID
    # The run's workflow, joined in: exports are filtered and read by it.
    workflow: str
    node: str | None
    kind: Kind
    body: str | None
    label: str | None
    score: float | None
    metric: str | None
    author: str
    created_at: datetime


def create(
    conn: Connection,
    run_id: uuid.UUID,
    *,
    kind: Kind,
    author: str,
    node: str | None = None,
    body: str | None = None,
    label: str | None = None,
    score: float | None = None,
    metric: str | None = None,
) -> Annotation | None:
    """Annotate a run the connection can see; None if it cannot.

    The tenant is taken from the run row itself, so an annotation always belongs to its run's
    tenant (a foreign key alone would not say so: it is checked past row-level security).
    """
    row = conn.execute(
        f"WITH a AS ("
        f" INSERT INTO annotations (id, tenant_id, run_id, node, kind, body, label, score,"
        f"  metric, author)"
        f" SELECT %s, r.tenant_id, r.id, %s, %s, %s, %s, %s, %s, %s FROM runs r WHERE r.id = %s"
        f" RETURNING *)"
        f" SELECT {_COLUMNS} FROM a JOIN runs r ON r.id = a.run_id",
        (uuid.uuid4(), node, kind, body, label, score, metric, author, run_id),
    ).fetchone()
    return Annotation(**row) if row else None


def list_for_run(
    conn: Connection, run_id: uuid.UUID, *, node: str | None = None
) -> list[Annotation]:
    """A run's annotations, oldest first; with `node`, only those on that node."""
    sql = f"SELECT {_COLUMNS} FROM annotations a JOIN runs r ON r.id = a.run_id WHERE a.run_id = %s"
    params: list[Any] = [run_id]
    if node is not None:
        sql += " AND a.node = %s"
        params.append(node)
    rows = conn.execute(sql + " ORDER BY a.created_at, a.id", params).fetchall()
    return [Annotation(**r) for r in rows]


def export_page(
    conn: Connection,
    tenant_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    workflow: str | None = None,
    kind: Kind | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[Annotation]:
    """One keyset page of the tenant's annotations by (created_at, id).

    Pass the last row's `(created_at, id)` as `after` for the next page; a short page is the
    last. `since` is inclusive, `until` exclusive, so consecutive windows never overlap.
    """
    clauses = ["a.tenant_id = %s"]
    params: list[Any] = [tenant_id]
    if after is not None:
        clauses.append("(a.created_at, a.id) > (%s, %s)")
        params.extend(after)
    if workflow is not None:
        clauses.append("r.workflow = %s")
        params.append(workflow)
    if kind is not None:
        clauses.append("a.kind = %s")
        params.append(kind)
    if since is not None:
        clauses.append("a.created_at >= %s")
        params.append(since)
    if until is not None:
        clauses.append("a.created_at < %s")
        params.append(until)
    params.append(limit)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM annotations a JOIN runs r ON r.id = a.run_id"
        f" WHERE {' AND '.join(clauses)} ORDER BY a.created_at, a.id LIMIT %s",
        params,
    ).fetchall()
    return [Annotation(**r) for r in rows]
