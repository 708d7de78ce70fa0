"""A tenant's knowledge documents, their chunks, and hybrid search over them.

Search fuses two rankings by reciprocal rank fusion: the vector k-NN (cosine, on the HNSW index
of the query's dimension) and Postgres full-text search. pgvector 0.8's iterative index scans
keep a filtered k-NN from coming back short: the index is walked until enough rows pass the
tenant (and document/tag) filters, not just `ef_search` candidates.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import sql

from flightdeck.store.db import Connection

DocumentStatus = Literal["queued", "ingesting", "ready", "failed"]
# Direct uploads travel through the API (API Gateway caps a request at 10 MB); larger files
# go straight to S3 with a presigned PUT.
MAX_DIRECT_BYTES = 5 * 1024 * 1024
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
# Dimensions with an HNSW index of their own (migration 0009).
INDEXED_DIMENSIONS = (384, 1024, 1536)
# Reciprocal rank fusion: score = Σ 1 / (RRF_K + rank) over the rankings a chunk appears in.
RRF_K = 60
# How many candidates each ranking contributes before fusion, per result asked for.
CANDIDATES_PER_RESULT = 4
# Index walking for filtered k-NN: enough for a small tenant inside a large table.
MAX_SCAN_TUPLES = 40_000

_DOC_COLUMNS = (
    "id, tenant_id, filename, content_type, size_bytes, s3_key, sha256, title, tags, status,"
    " error, chunk_count, embedding_model, embedding_dimension, created_at, updated_at,"
    " ingested_at"
)


@dataclass(frozen=True)
class Document:
    id: uuid.UUID
    tenant_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    s3_key: str
    sha256: bytes | None
    title: str | None
    tags: list[str]
    status: DocumentStatus
    error: str | None
    chunk_count: int
    embedding_model: str | None
    embedding_dimension: int | None
    created_at: datetime
    updated_at: datetime
    ingested_at: datetime | None


@dataclass(frozen=True)
class StoredChunk:
    id: uuid.UUID
    ordinal: int
    content_hash: str
    embedding_model: str


@dataclass(frozen=True)
class NewChunk:
    ordinal: int
    heading: str
    body: str
    token_count: int
    content_hash: str
    embedding: Sequence[float] | None  # None: keep the stored embedding of the same hash


@dataclass(frozen=True)
class Hit:
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    filename: str
    title: str | None
    ordinal: int
    heading: str
    body: str
    vector_rank: int | None
    text_rank: int | None
    score: float


def tenant_prefix(tenant_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/knowledge/"


def create(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    document_id: uuid.UUID,
    filename: str,
    content_type: str,
    size_bytes: int,
    s3_key: str,
    tags: Sequence[str] = (),
    sha256: bytes | None = None,
) -> Document:
    row = conn.execute(
        f"INSERT INTO documents (id, tenant_id, filename, content_type, size_bytes, s3_key,"
        f" sha256, tags, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'queued')"
        f" RETURNING {_DOC_COLUMNS}",
        (document_id, tenant_id, filename, content_type, size_bytes, s3_key, sha256, list(tags)),
    ).fetchone()
    assert row is not None
    return Document(**row)


def get(conn: Connection, document_id: uuid.UUID, *, for_update: bool = False) -> Document | None:
    lock = " FOR UPDATE" if for_update else ""
    row = conn.execute(
        f"SELECT {_DOC_COLUMNS} FROM documents WHERE id = %s{lock}", (document_id,)
    ).fetchone()
    return Document(**row) if row else None


def by_key(conn: Connection, s3_key: str, *, for_update: bool = False) -> Document | None:
    lock = " FOR UPDATE" if for_update else ""
    row = conn.execute(
        f"SELECT {_DOC_COLUMNS} FROM documents WHERE s3_key = %s{lock}", (s3_key,)
    ).fetchone()
    return Document(**row) if row else None


def list_for_tenant(conn: Connection, tenant_id: uuid.UUID) -> list[Document]:
    rows = conn.execute(
        f"SELECT {_DOC_COLUMNS} FROM documents WHERE tenant_id = %s ORDER BY created_at DESC, id",
        (tenant_id,),
    ).fetchall()
    return [Document(**r) for r in rows]


def set_status(
    conn: Connection,
    document_id: uuid.UUID,
    status: DocumentStatus,
    *,
    error: str | None = None,
    **fields: Any,
) -> None:
    allowed = {"title", "size_bytes", "sha256", "content_type"}
    unknown = set(fields) - allowed
    assert not unknown, f"cannot set {unknown}"
    assignments: list[sql.Composable] = [
        sql.SQL("status = %s"),
        sql.SQL("error = %s"),
        sql.SQL("updated_at = now()"),
    ]
    values: list[Any] = [status, error]
    for name, value in fields.items():
        assignments.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
        values.append(value)
    conn.execute(
        sql.SQL("UPDATE documents SET {} WHERE id = %s").format(sql.SQL(", ").join(assignments)),
        (*values, document_id),
    )


def stored_chunks(conn: Connection, document_id: uuid.UUID) -> list[StoredChunk]:
    rows = conn.execute(
        "SELECT id, ordinal, content_hash, embedding_model FROM document_chunks"
        " WHERE document_id = %s ORDER BY ordinal",
        (document_id,),
    ).fetchall()
    return [StoredChunk(**r) for r in rows]


def replace_chunks(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    document_id: uuid.UUID,
    chunks: Sequence[NewChunk],
    model: str,
    dimension: int,
) -> None:
    """Make the document's chunks exactly `chunks`, in the caller's transaction. A chunk whose
    `embedding` is None takes the stored embedding of a chunk with the same hash and model."""
    reused = {
        r["content_hash"]: r["embedding"]
        for r in conn.execute(
            "SELECT DISTINCT ON (content_hash) content_hash, embedding::text AS embedding"
            " FROM document_chunks WHERE document_id = %s AND embedding_model = %s",
            (document_id, model),
        ).fetchall()
    }
    conn.execute("DELETE FROM document_chunks WHERE document_id = %s", (document_id,))
    with conn.cursor() as cur:
        rows = []
        for chunk in chunks:
            if chunk.embedding is not None:
                vector = "[" + ",".join(repr(float(x)) for x in chunk.embedding) + "]"
            else:
                vector = reused[chunk.content_hash]
            rows.append(
                (
                    uuid.uuid4(),
                    tenant_id,
                    document_id,
                    chunk.ordinal,
                    chunk.heading,
                    chunk.body,
                    chunk.token_count,
                    chunk.content_hash,
                    model,
                    dimension,
                    vector,
                )
            )
        cur.executemany(
            "INSERT INTO document_chunks (id, tenant_id, document_id, ordinal, heading, body,"
            " token_count, content_hash, embedding_model, embedding_dimension, embedding)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector)",
            rows,
        )
    conn.execute(
        "UPDATE documents SET status = 'ready', error = NULL, chunk_count = %s,"
        " embedding_model = %s, embedding_dimension = %s, ingested_at = now(),"
        " updated_at = now() WHERE id = %s",
        (len(chunks), model, dimension, document_id),
    )


def delete(conn: Connection, document_id: uuid.UUID) -> bool:
    """Remove the document and (by cascade) every chunk; True if it existed."""
    return conn.execute("DELETE FROM documents WHERE id = %s", (document_id,)).rowcount == 1


def models_in_use(conn: Connection, tenant_id: uuid.UUID) -> list[tuple[str, int]]:
    rows = conn.execute(
        "SELECT DISTINCT embedding_model, embedding_dimension FROM document_chunks"
        " WHERE tenant_id = %s ORDER BY 1, 2",
        (tenant_id,),
    ).fetchall()
    return [(r["embedding_model"], r["embedding_dimension"]) for r in rows]


def search(
    conn: Connection,
    tenant_id: uuid.UUID,
    *,
    query: str,
    embedding: Sequence[float],
    model: str,
    k: int = 5,
    document_ids: Sequence[uuid.UUID] = (),
    tags: Sequence[str] = (),
) -> list[Hit]:
    """The `k` best chunks of the tenant for `query`: vector and full-text rankings fused by
    reciprocal rank. Only chunks embedded with `model` are compared with the query vector."""
    dimension = len(embedding)
    if dimension not in INDEXED_DIMENSIONS:
        raise ValueError(f"no vector index for dimension {dimension}: {INDEXED_DIMENSIONS}")
    candidates = max(k * CANDIDATES_PER_RESULT, 20)
    # Walk the HNSW graph until enough rows pass the filters (pgvector 0.8).
    conn.execute("SET LOCAL hnsw.iterative_scan = 'relaxed_order'")
    conn.execute(f"SET LOCAL hnsw.max_scan_tuples = {MAX_SCAN_TUPLES}")
    conn.execute(f"SET LOCAL hnsw.ef_search = {max(candidates, 40)}")
    typed = sql.SQL("vector({})").format(sql.Literal(dimension))
    statement = sql.SQL(
        """
WITH filtered_docs AS (
    SELECT d.id, d.filename, d.title FROM documents d
    WHERE d.tenant_id = %(tenant)s AND d.status = 'ready'
      AND (cardinality(%(documents)s::uuid[]) = 0 OR d.id = ANY (%(documents)s::uuid[]))
      AND (cardinality(%(tags)s::text[]) = 0 OR d.tags && %(tags)s::text[])
), nearest AS (
    SELECT c.id, c.embedding::{typed} <=> %(embedding)s::{typed} AS distance
    FROM document_chunks c
    WHERE c.tenant_id = %(tenant)s AND c.embedding_dimension = {dimension}
      AND c.embedding_model = %(model)s
      AND c.document_id IN (SELECT id FROM filtered_docs)
    ORDER BY distance
    LIMIT %(candidates)s
), by_vector AS (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM nearest
), q AS (
    -- Any of the query's words (stemmed): a question rarely repeats a chunk's exact phrase.
    SELECT (SELECT to_tsquery('english', string_agg(lexeme, ' | '))
            FROM unnest(to_tsvector('english', %(query)s))) AS loose
), by_text AS (
    SELECT c.id, row_number() OVER (ORDER BY ts_rank_cd(c.search, q.loose) DESC, c.id) AS rank
    FROM document_chunks c, q
    WHERE c.tenant_id = %(tenant)s AND q.loose IS NOT NULL AND c.search @@ q.loose
      AND c.document_id IN (SELECT id FROM filtered_docs)
    ORDER BY rank LIMIT %(candidates)s
),
-- Materialized: otherwise the planner, guessing one document, re-runs both rankings for
-- every chunk of the tenant in the final join.
fused AS MATERIALIZED (
    SELECT coalesce(v.id, t.id) AS id, v.rank AS vector_rank, t.rank AS text_rank,
           coalesce(1.0 / (%(rrf)s + v.rank), 0) + coalesce(1.0 / (%(rrf)s + t.rank), 0) AS score
    FROM by_vector v FULL JOIN by_text t ON t.id = v.id
)
SELECT c.id AS chunk_id, c.document_id, d.filename, d.title, c.ordinal, c.heading, c.body,
       f.vector_rank, f.text_rank, f.score
FROM fused f JOIN document_chunks c ON c.id = f.id JOIN filtered_docs d ON d.id = c.document_id
ORDER BY f.score DESC, f.vector_rank NULLS LAST, c.id
LIMIT %(k)s
"""
    ).format(typed=typed, dimension=sql.Literal(dimension))
    rows = conn.execute(
        statement,
        {
            "tenant": tenant_id,
            "documents": list(document_ids),
            "tags": list(tags),
            "model": model,
            "embedding": "[" + ",".join(repr(float(x)) for x in embedding) + "]",
            "candidates": candidates,
            "query": query,
            "rrf": RRF_K,
            "k": k,
        },
    ).fetchall()
    return [
        Hit(
            chunk_id=r["chunk_id"],
            document_id=r["document_id"],
            filename=r["filename"],
            title=r["title"],
            ordinal=r["ordinal"],
            heading=r["heading"],
            body=r["body"],
            vector_rank=r["vector_rank"],
            text_rank=r["text_rank"],
            score=float(r["score"]),
        )
        for r in rows
    ]
