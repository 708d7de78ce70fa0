"""Tenant knowledge articles and a Postgres full-text search over them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flightdeck.store.db import Connection


@dataclass(frozen=True)
class Article:
    id: uuid.UUID
    title: str
    body: str
    score: float


def upsert(conn: Connection, tenant_id: uuid.UUID, title: str, body: str, tags: list[str]) -> None:
    conn.execute(
        "INSERT INTO knowledge_articles (id, tenant_id, title, body, tags)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, title) DO UPDATE SET body = EXCLUDED.body, tags = EXCLUDED.tags",
        (uuid.uuid4(), tenant_id, title, body, tags),
    )


def search(conn: Connection, tenant_id: uuid.UUID, query: str, limit: int = 3) -> list[Article]:
    """Best matches for any of the query's words, ranked; empty when nothing matches."""
    rows = conn.execute(
        "WITH q AS (SELECT to_tsquery('english', string_agg(lexeme, ' | ')) AS tsq"
        "   FROM unnest(to_tsvector('english', %s))) "
        "SELECT a.id, a.title, a.body, ts_rank(a.search, q.tsq) AS score"
        " FROM knowledge_articles a, q"
        " WHERE a.tenant_id = %s AND q.tsq IS NOT NULL AND a.search @@ q.tsq"
        " ORDER BY score DESC, a.title LIMIT %s",
        (query, tenant_id, limit),
    ).fetchall()
    return [Article(r["id"], r["title"], r["body"], float(r["score"])) for r in rows]
