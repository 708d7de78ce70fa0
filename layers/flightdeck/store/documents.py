"""A tenant's knowledge documents, their chunks, and hybrid search over them.

Search fuses two rankings by reciprocal rank fusion: the vector k-NN (cosine, on the HNSW index
of the query's dimension, one graph per tenant partition) and Postgres full-text search.
pgvector 0.8's iterative index scans keep a filtered k-NN from coming back short: the index is
walked until enough rows pass the tenant (and document/tag) filters, not just `ef_search`
candidates. Full-text search picks rows by the question's rarest words (`knowledge_terms`), so
it ranks a bounded number of rows however many chunks share a common word.
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
# Dimensions with an HNSW index of their own (migrations 0009, 0010).
INDEXED_DIMENSIONS = (384, 1024, 1536)
# Reciprocal rank fusion: score = Σ 1 / (RRF_K + rank) over the rankings a chunk appears in.
RRF_K = 60
# How many candidates each ranking contributes before fusion, per result asked for.
CANDIDATES_PER_RESULT = 4
# Index walking for filtered k-NN: enough for a small tenant inside a large partition.
MAX_SCAN_TUPLES = 40_000
# The HNSW candidate list (`hnsw.ef_search`): recall@10 0.984-0.990 on a 40,000-chunk tenant of
# lexical (offline) vectors, `bench/retrieval.py` (160 gave 0.980-0.985, too close to the 0.98
# the search promises); real embeddings usually need fewer.
EF_SEARCH = 200
# Full-text search picks rows by the question's words rarest first, while the chunks they
# match stay within this many: ranking costs ~5 us a row, and a word in thousands of a
# tenant's chunks tells them apart no better than the vector ranking does.
TEXT_RANKED_ROWS = 400
# A tenant with more chunks than this is searched through its partition's HNSW graph; fewer
# are read and sorted exactly (a few milliseconds, and exact).
EXACT_SCAN_ROWS = 1000

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


# Hybrid search, in named parts: `search_statement` joins them all (the statement of the search
# functions, migration 0027); `ranking_statement` runs one ranking alone after `prepare_search`
# (the retrieval benchmark measures each against its exact counterpart).
#
# Both filters in every statement, an empty list passing everything: one statement whatever is
# asked, so the search function's plans are kept (migration 0027). Planned with the values in
# hand (the benchmark's statements), Postgres folds the tests of empty lists away.
_FILTERED_DOCS = """
filtered_docs AS (
    SELECT d.id FROM documents d
    WHERE d.tenant_id = %(tenant)s AND d.status = 'ready'
      AND (cardinality(%(documents)s::uuid[]) = 0 OR d.id = ANY (%(documents)s::uuid[]))
      AND (cardinality(%(tags)s::text[]) = 0 OR d.tags && %(tags)s::text[])
)"""
# A chunk's document is looked up in a hash of the filtered documents, built once: as a join,
# the planner (misjudging how many documents pass) scanned the whole list for every chunk the
# HNSW index returned. `IS TRUE` keeps the test a filter, which Postgres hashes.
_IN_FILTERED_DOCS = "(c.document_id IN (SELECT id FROM filtered_docs)) IS TRUE"
# The distance as the HNSW index of the dimension has it (`c.embedding::vector(384)`), so the
# graph orders the rows; or on the untyped column, which no index orders, so the tenant's rows
# are read and sorted exactly.
_GRAPH_DISTANCE = "c.embedding::{typed} <=> %(embedding)s::{typed}"
_EXACT_DISTANCE = "c.embedding <=> %(embedding)s::{typed}"
_NEAREST = f"""
nearest AS (
    SELECT c.id, {{distance}} AS distance
    FROM document_chunks c
    WHERE c.tenant_id = %(tenant)s AND c.embedding_dimension = {{dimension}}
      AND c.embedding_model = %(model)s AND {_IN_FILTERED_DOCS}
    ORDER BY distance
    LIMIT %(candidates)s
)"""
# Rows are picked by the question's rare words and ranked by all of them (a question rarely
# repeats a chunk's phrase); without a rare word no row is read. Under row-level security the
# GIN index cannot serve `@@` (not a leakproof operator, so Postgres will not test it before
# the tenant policy): the tenant's rows are read and tested, and the rare words bound how many
# are ranked.
_BY_TEXT = f"""
by_text AS (
    SELECT c.id, row_number() OVER (
               ORDER BY ts_rank_cd(c.search, (SELECT loose FROM text_queries)) DESC, c.id) AS rank
    FROM document_chunks c
    WHERE (SELECT rare FROM text_queries) IS NOT NULL AND c.tenant_id = %(tenant)s
      AND c.search @@ (SELECT rare FROM text_queries) AND {_IN_FILTERED_DOCS}
    ORDER BY rank LIMIT %(candidates)s
)"""
_FUSED = """
by_vector AS (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM nearest
),
-- Materialized: otherwise the planner, guessing one document, re-runs both rankings for
-- every chunk of the tenant in the final join.
fused AS MATERIALIZED (
    SELECT coalesce(v.id, t.id) AS id, v.rank AS vector_rank, t.rank AS text_rank,
           coalesce(1.0 / (%(rrf)s + v.rank), 0) + coalesce(1.0 / (%(rrf)s + t.rank), 0) AS score
    FROM by_vector v FULL JOIN by_text t ON t.id = v.id
),
-- The k best before their rows are read: k primary-key look-ups, not a join over the tenant.
best AS (
    SELECT * FROM fused ORDER BY score DESC, vector_rank NULLS LAST, id LIMIT %(k)s
)"""
_FUSED_SELECT = """
SELECT c.id AS chunk_id, c.document_id, d.filename, d.title, c.ordinal, c.heading, c.body,
       b.vector_rank, b.text_rank, b.score::float8 AS score
FROM best b JOIN document_chunks c ON c.tenant_id = %(tenant)s AND c.id = b.id
JOIN documents d ON d.id = c.document_id
ORDER BY b.score DESC, b.vector_rank NULLS LAST, c.id
"""
# The question's words (stemmed) as tsquery operands, quoted as they are (already normalised;
# none holds a backslash), each with how many of the tenant's chunks hold it; `rare` picks
# rows by the rarest, while the chunks they match stay within TEXT_RANKED_ROWS, and `loose`
# ranks them by every word. No rare word: `rare` is NULL and the text ranking is empty.
_TEXT_QUERIES = """
terms AS (
    SELECT w.lexeme, coalesce(t.chunks, 0) AS chunks,
           chr(39) || replace(w.lexeme, chr(39), chr(39) || chr(39)) || chr(39) AS operand
    FROM unnest(tsvector_to_array(to_tsvector('english', %(query)s))) w (lexeme)
    LEFT JOIN knowledge_terms t ON t.tenant_id = %(tenant)s AND t.lexeme = w.lexeme
    WHERE strpos(w.lexeme, chr(92)) = 0
),
rare AS (
    SELECT operand FROM (
        SELECT operand, sum(chunks) OVER (ORDER BY chunks, lexeme) AS running
        FROM terms WHERE chunks > 0) r
    WHERE running <= %(text_rows)s
),
text_queries AS MATERIALIZED (
    SELECT (SELECT string_agg(operand, ' | ') FROM rare)::tsquery AS rare,
           (SELECT string_agg(operand, ' | ') FROM terms)::tsquery AS loose
)"""
# Settings for the transaction before a ranking alone (`prepare_search`), as the search
# functions make them: the HNSW scan's, and sorting priced out for a tenant read through the
# graph. The sort setting it found is kept for `_FINISH`.
_PREPARE = """
WITH size AS (
    SELECT coalesce(sum(chunk_count), 0) > %(exact_rows)s AS graph FROM documents
    WHERE tenant_id = %(tenant)s AND status = 'ready' AND embedding_model = %(model)s
)
SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true) AS iterative_scan,
       set_config('hnsw.max_scan_tuples', %(max_scan_tuples)s, true) AS max_scan_tuples,
       set_config('hnsw.ef_search', %(ef_search)s, true) AS ef_search,
       set_config('flightdeck.search_sort', current_setting('enable_sort'), true) AS enable_sort,
       -- Sorting priced out leaves the HNSW graph the only way to order the vectors.
       set_config('enable_sort', CASE WHEN size.graph THEN 'off'
                                      ELSE current_setting('enable_sort') END, true) AS sort,
       size.graph
FROM size
"""
_FINISH = "SELECT set_config('enable_sort', current_setting('flightdeck.search_sort'), true)"


def ranking_statement(
    ranking: Literal["vector", "text"], dimension: int, *, graph: bool = True
) -> sql.Composed:
    """One of search's two rankings alone, as the search function runs it: rows (id, distance)
    for the vector ranking, through the HNSW graph (`graph`) or exactly; (id, rank) for the
    full-text one (none without a rare word). Run after `prepare_search`, with its parameters."""
    if ranking == "vector":
        return _statement(
            dimension,
            graph,
            _FILTERED_DOCS,
            _NEAREST,
            "SELECT id, distance FROM nearest ORDER BY 2, 1",
        )
    return _statement(
        dimension, graph, _FILTERED_DOCS, _TEXT_QUERIES, _BY_TEXT, "SELECT id, rank FROM by_text"
    )


def search_statement(dimension: int, *, graph: bool) -> sql.Composed:
    """The statement the search function of `dimension` runs (migration 0027 holds it, the
    parameters as the function's arguments), on either path."""
    return _statement(
        dimension,
        graph,
        _FILTERED_DOCS,
        _TEXT_QUERIES,
        _NEAREST,
        _BY_TEXT,
        _FUSED,
        _FUSED_SELECT,
    )


def candidates_for(k: int) -> int:
    """How many rows each ranking contributes to the fusion for `k` results."""
    return max(k * CANDIDATES_PER_RESULT, 20)


def search_parameters(
    tenant_id: uuid.UUID,
    *,
    query: str,
    embedding: Sequence[float],
    model: str,
    k: int = 5,
    document_ids: Sequence[uuid.UUID] = (),
    tags: Sequence[str] = (),
    ef_search: int | None = None,
) -> dict[str, Any]:
    """The parameters of `prepare_search`'s settings and of the search statements."""
    return {
        "tenant": tenant_id,
        "query": query,
        "documents": list(document_ids),
        "tags": list(tags),
        "model": model,
        "embedding": "[" + ",".join(repr(float(x)) for x in embedding) + "]",
        "candidates": candidates_for(k),
        "text_rows": TEXT_RANKED_ROWS,
        "rrf": RRF_K,
        "k": k,
        "exact_rows": EXACT_SCAN_ROWS,
        "max_scan_tuples": str(MAX_SCAN_TUPLES),
        "ef_search": str(ef_search or max(candidates_for(k), EF_SEARCH)),
    }


@dataclass(frozen=True)
class Prepared:
    """What `prepare_search` set, and the parameters of the search statements."""

    parameters: dict[str, Any]
    graph: bool  # the vectors are read through the HNSW graph (sorting priced out)


def prepare_search(
    conn: Connection,
    tenant_id: uuid.UUID,
    *,
    query: str,
    embedding: Sequence[float],
    model: str,
    k: int = 5,
    document_ids: Sequence[uuid.UUID] = (),
    tags: Sequence[str] = (),
    ef_search: int | None = None,
) -> Prepared:
    """Settings for the rest of the caller's transaction (`finish_search` restores the sort
    setting): pgvector 0.8's iterative index scan (walk the graph until enough rows pass the
    filters) with search's candidate list; a tenant with more than EXACT_SCAN_ROWS chunks read
    through its partition's HNSW graph, a smaller one by its rows and an exact sort (Postgres,
    misjudging how many rows the document filter keeps, would otherwise sort thousands).
    The search functions (migration 0027) make the same settings themselves; this is for
    running one ranking alone (`ranking_statement`, with `graph=Prepared.graph`)."""
    parameters = search_parameters(
        tenant_id,
        query=query,
        embedding=embedding,
        model=model,
        k=k,
        document_ids=document_ids,
        tags=tags,
        ef_search=ef_search,
    )
    row = conn.execute(_PREPARE, parameters).fetchone()
    assert row is not None
    return Prepared(parameters, row["graph"])


def finish_search(conn: Connection) -> None:
    """Give the transaction back the sort setting `prepare_search` found."""
    conn.execute(_FINISH)


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
    reciprocal rank. Only chunks embedded with `model` are compared with the query vector.

    One statement: the search function of the dimension (migration 0027) settles the path and
    the settings and runs `search_statement` with a plan the connection keeps."""
    if len(embedding) not in INDEXED_DIMENSIONS:
        raise ValueError(f"no vector index for dimension {len(embedding)}: {INDEXED_DIMENSIONS}")
    parameters = search_parameters(
        tenant_id,
        query=query,
        embedding=embedding,
        model=model,
        k=k,
        document_ids=document_ids,
        tags=tags,
    )
    found = conn.execute(
        sql.SQL(_SEARCH).format(function=sql.Identifier(f"flightdeck_search_{len(embedding)}")),
        parameters,
    )
    return [Hit(**row) for row in found.fetchall()]


_SEARCH = """
SELECT * FROM {function}(
    %(tenant)s, %(query)s, %(embedding)s::vector, %(model)s, %(documents)s::uuid[],
    %(tags)s::text[], %(k)s, %(candidates)s, %(text_rows)s, %(rrf)s, %(exact_rows)s,
    %(max_scan_tuples)s, %(ef_search)s)"""


def _statement(dimension: int, graph: bool, *parts: str) -> sql.Composed:
    if dimension not in INDEXED_DIMENSIONS:
        raise ValueError(f"no vector index for dimension {dimension}: {INDEXED_DIMENSIONS}")
    typed = sql.SQL("vector({})").format(sql.Literal(dimension))
    distance = sql.SQL(_GRAPH_DISTANCE if graph else _EXACT_DISTANCE).format(typed=typed)
    text = "WITH" + ",".join(parts[:-1]) + "\n" + parts[-1]
    return sql.SQL(text).format(typed=typed, dimension=sql.Literal(dimension), distance=distance)
