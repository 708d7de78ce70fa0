"""Hybrid search over document chunks: vector k-NN and full text fused by reciprocal rank,
tenant-scoped under row-level security, never short of k when k chunks exist."""

from __future__ import annotations

import math
import random
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from flightdeck.store import documents, tenants
from flightdeck.store.db import connect, scoped
from flightdeck.store.migrate import APP_ROLE, migrate

MODEL = "test-random-384"
DIM = 384


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def random_vector(rng: random.Random) -> list[float]:
    return unit([rng.gauss(0, 1) for _ in range(DIM)])


def near(vector: list[float], rng: random.Random, noise: float = 0.05) -> list[float]:
    return unit([x + rng.gauss(0, noise) for x in vector])


@pytest.fixture
def db(database_url: str) -> Iterator[Any]:
    with connect(database_url) as conn:
        migrate(conn, checkpointer=False)
        # Work as the application does: a role that row-level security applies to.
        conn.execute(f"SET ROLE {APP_ROLE}")
        yield conn


def add_document(
    conn: Any,
    tenant_id: uuid.UUID,
    bodies: list[tuple[str, list[float]]],
    *,
    filename: str = "faq.md",
    tags: tuple[str, ...] = (),
) -> uuid.UUID:
    document_id = uuid.uuid4()
    with scoped(conn, tenant_id):
        documents.create(
            conn,
            tenant_id=tenant_id,
            document_id=document_id,
            filename=filename,
            content_type="text/markdown",
            size_bytes=100,
            s3_key=f"{documents.tenant_prefix(tenant_id)}{document_id}/{filename}",
            tags=tags,
        )
        documents.replace_chunks(
            conn,
            tenant_id=tenant_id,
            document_id=document_id,
            chunks=[
                documents.NewChunk(n, "", body, 10, f"h{n}-{uuid.uuid4().hex}", vector)
                for n, (body, vector) in enumerate(bodies)
            ],
            model=MODEL,
            dimension=DIM,
        )
    return document_id


def search(
    conn: Any,
    tenant_id: uuid.UUID,
    query: str,
    vector: list[float],
    *,
    plan: str | None = None,
    **kw: Any,
) -> Any:
    saved = documents.EXACT_SCAN_ROWS
    if plan == "index":
        # As for a large tenant: its vectors are ordered by the HNSW graph, not sorted.
        documents.EXACT_SCAN_ROWS = 0
    try:
        with scoped(conn, tenant_id):
            hits = documents.search(
                conn, tenant_id, query=query, embedding=vector, model=MODEL, **kw
            )
            if plan == "index":
                assert hnsw_scans(conn) > 0  # the graph did order them
            return hits
    finally:
        documents.EXACT_SCAN_ROWS = saved


def hnsw_scans(conn: Any) -> int:
    """Scans of the 384-d HNSW graphs in the current transaction so far."""
    row = conn.execute(
        "SELECT coalesce(sum(pg_stat_get_xact_numscans(oid)), 0) AS n FROM pg_class"
        " WHERE relkind = 'i' AND relname LIKE 'document_chunks_p%%_embedding_idx'"
    ).fetchone()
    return int(row["n"])


def tenant(conn: Any, slug: str) -> uuid.UUID:
    with conn.transaction():
        return tenants.create_tenant(conn, slug, slug).id


PARTITIONS = 16  # migration 0010: document_chunks by hash of tenant_id


def partition_of(conn: Any, tenant_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT r FROM generate_series(0, %s - 1) r"
        " WHERE satisfies_hash_partition('document_chunks'::regclass, %s, r, %s::uuid)",
        (PARTITIONS, PARTITIONS, tenant_id),
    ).fetchone()
    return int(row["r"])


def test_a_small_tenant_gets_full_k_beside_a_large_one(db: Any) -> None:
    rng = random.Random(1)
    big = tenant(db, "big")
    # A neighbour in the big tenant's partition, where its rows are 1 in 126 of the graph.
    small = next(
        t
        for t in (tenant(db, f"small-{n}") for n in range(200))
        if partition_of(db, t) == partition_of(db, big)
    )
    add_document(db, big, [(f"big chunk {n}", random_vector(rng)) for n in range(1500)])
    add_document(db, small, [(f"small chunk {n}", random_vector(rng)) for n in range(12)])

    probe = random_vector(rng)
    # A small tenant's rows are few enough that Postgres would read them by tenant and sort
    # exactly; a mid-sized one goes through the HNSW index, where a filter can starve the
    # scan. Sorting is priced out so the HNSW path is the one tested.
    db.execute("RESET ROLE")
    graphs = [
        r["relname"]
        for r in db.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'document_chunks_hnsw_384'::regclass"
        )
    ]
    assert len(graphs) == PARTITIONS
    db.execute(f"SET ROLE {APP_ROLE}")
    with scoped(db, small):
        db.execute("SET LOCAL enable_seqscan = off")
        db.execute("SET LOCAL enable_bitmapscan = off")
        db.execute("SET LOCAL enable_sort = off")
        plan = "\n".join(
            r["QUERY PLAN"]
            for r in db.execute(
                "EXPLAIN SELECT id FROM document_chunks WHERE tenant_id = %s"
                " AND embedding_dimension = 384 ORDER BY embedding::vector(384) <=> %s::vector(384)"
                " LIMIT 10",
                (small, "[" + ",".join(map(str, probe)) + "]"),
            )
        )
    assert any(f"Index Scan using {graph} " in plan for graph in graphs), plan
    hits = search(db, small, "anything", probe, k=10, plan="index")
    assert len(hits) == 10
    assert all(h.body.startswith("small chunk") for h in hits)
    assert all(h.vector_rank is not None for h in hits)


def test_the_planted_answer_ranks_first_on_both_rankings(db: Any) -> None:
    rng = random.Random(2)
    me = tenant(db, "bakery")
    answer = random_vector(rng)
    bodies = [(f"Opening hours and parking, note {n}", random_vector(rng)) for n in range(50)]
    bodies.append(("Refunds: the refund window is 30 days from delivery.", answer))
    add_document(db, me, bodies)

    hits = search(db, me, "How long is the refund window?", near(answer, rng), k=5)
    assert hits[0].body.startswith("Refunds:")
    assert (hits[0].vector_rank, hits[0].text_rank) == (1, 1)
    assert hits[0].score == pytest.approx(2 / (documents.RRF_K + 1))
    assert len(hits) == 5


def test_tenants_never_see_each_others_chunks(db: Any) -> None:
    rng = random.Random(3)
    a, b, c = tenant(db, "a"), tenant(db, "b"), tenant(db, "c")
    secret = random_vector(rng)
    add_document(db, a, [("Tenant A's secret refund rule", secret)])
    add_document(db, b, [("B's public hours", random_vector(rng))])
    # B asks with A's vector and A's words: nothing of A's comes back.
    hits = search(db, b, "secret refund rule", secret, k=5)
    assert [h.body for h in hits] == ["B's public hours"]
    # Naming A's tenant id inside B's transaction finds nothing: row-level security.
    with scoped(db, b):
        leaked = documents.search(
            db, a, query="secret refund rule", embedding=secret, model=MODEL, k=5
        )
    assert leaked == []
    assert search(db, c, "secret refund rule", secret, k=5) == []


def test_filters_by_document_and_tag(db: Any) -> None:
    rng = random.Random(4)
    me = tenant(db, "shop")
    returns = add_document(
        db,
        me,
        [("Returns take 5 days", random_vector(rng))],
        filename="returns.md",
        tags=("policy",),
    )
    add_document(db, me, [("Shipping takes 2 days", random_vector(rng))], filename="shipping.md")
    by_doc = search(db, me, "days", random_vector(rng), k=5, document_ids=[returns])
    assert [h.filename for h in by_doc] == ["returns.md"]
    by_tag = search(db, me, "days", random_vector(rng), k=5, tags=["policy"])
    assert [h.filename for h in by_tag] == ["returns.md"]
    assert len(search(db, me, "days", random_vector(rng), k=5)) == 2


def test_reembedding_reuses_unchanged_chunks_and_delete_removes_all(db: Any) -> None:
    rng = random.Random(5)
    me = tenant(db, "cafe")
    first = random_vector(rng)
    document_id = add_document(db, me, [("Unchanged", first)])
    with scoped(db, me):
        (stored,) = documents.stored_chunks(db, document_id)
        documents.replace_chunks(
            db,
            tenant_id=me,
            document_id=document_id,
            chunks=[
                documents.NewChunk(0, "", "Unchanged", 10, stored.content_hash, None),
                documents.NewChunk(1, "", "New", 10, "new-hash", random_vector(rng)),
            ],
            model=MODEL,
            dimension=DIM,
        )
        kept = db.execute(
            "SELECT embedding::text AS e FROM document_chunks WHERE content_hash = %s",
            (stored.content_hash,),
        ).fetchone()
        doc = documents.get(db, document_id)
        assert doc is not None
        assert (doc.status, doc.chunk_count, doc.embedding_model) == ("ready", 2, MODEL)
        assert documents.delete(db, document_id)
        left = db.execute("SELECT count(*) AS n FROM document_chunks").fetchone()
    assert [round(float(x), 5) for x in kept["e"].strip("[]").split(",")][:3] == [
        round(x, 5) for x in first[:3]
    ]
    assert left["n"] == 0


def term_counts(conn: Any, tenant_id: uuid.UUID) -> dict[str, int]:
    with scoped(conn, tenant_id):
        rows = conn.execute(
            "SELECT lexeme, chunks FROM knowledge_terms WHERE tenant_id = %s AND chunks > 0",
            (tenant_id,),
        ).fetchall()
    return {r["lexeme"]: r["chunks"] for r in rows}


def counted_from_chunks(conn: Any, tenant_id: uuid.UUID) -> dict[str, int]:
    with scoped(conn, tenant_id):
        rows = conn.execute(
            "SELECT u.lexeme, count(*) AS n FROM document_chunks c, unnest(c.search) u"
            " WHERE c.tenant_id = %s GROUP BY u.lexeme",
            (tenant_id,),
        ).fetchall()
    return {r["lexeme"]: r["n"] for r in rows}


def test_term_counts_follow_every_write_of_the_chunks(db: Any) -> None:
    rng = random.Random(6)
    me, other = tenant(db, "counts"), tenant(db, "other")
    first = add_document(
        db,
        me,
        [("Refunds within 30 days", random_vector(rng)), ("Refund a gift", random_vector(rng))],
    )
    second = add_document(db, me, [("Gift cards never expire", random_vector(rng))])
    add_document(db, other, [("Refunds are not offered", random_vector(rng))])
    assert term_counts(db, me)["refund"] == 2
    assert term_counts(db, me)["gift"] == 2
    assert term_counts(db, other) == counted_from_chunks(db, other)

    # A re-ingest replaces the chunks (delete, then insert, in one transaction).
    with scoped(db, me):
        documents.replace_chunks(
            db,
            tenant_id=me,
            document_id=first,
            chunks=[documents.NewChunk(0, "", "Exchanges only", 10, "x", random_vector(rng))],
            model=MODEL,
            dimension=DIM,
        )
    assert term_counts(db, me) == counted_from_chunks(db, me)
    assert "refund" not in term_counts(db, me)
    # Deleting a document removes its chunks by cascade; their words go with them.
    with scoped(db, me):
        assert documents.delete(db, second)
    assert term_counts(db, me) == counted_from_chunks(db, me) == {"exchang": 1}
    assert term_counts(db, other) == counted_from_chunks(db, other)


def test_full_text_picks_rows_by_the_questions_rare_words(db: Any) -> None:
    rng = random.Random(7)
    me = tenant(db, "rare")
    # "delivery" is in every chunk: too common to pick rows by; "xr-200" is in one.
    common = [(f"Delivery note {n}: parcels leave daily", random_vector(rng)) for n in range(600)]
    common.append(("Delivery of the XR-200 router takes two weeks", random_vector(rng)))
    add_document(db, me, common)

    hits = search(db, me, "XR-200 delivery", random_vector(rng), k=5)
    by_text = [h for h in hits if h.text_rank is not None]
    assert [h.body for h in by_text] == ["Delivery of the XR-200 router takes two weeks"]
    assert by_text[0].text_rank == 1
    # A question of common words only ranks by vector alone, still k results.
    hits = search(db, me, "delivery", random_vector(rng), k=5)
    assert len(hits) == 5
    assert all(h.text_rank is None and h.vector_rank is not None for h in hits)


@pytest.mark.parametrize(
    "query", ["it's O'Brien's", "C:\\temp\\refund", "'; DROP TABLE documents; --", "Ünïcödé ✓", ""]
)
def test_any_question_text_is_searched_safely(db: Any, query: str) -> None:
    rng = random.Random(8)
    me = tenant(db, "safe")
    add_document(db, me, [("O'Brien's refund, C:\\temp", random_vector(rng))])
    hits = search(db, me, query, random_vector(rng), k=3)
    assert len(hits) == 1


def test_each_search_function_runs_the_search_statement_word_for_word(db: Any) -> None:
    """Migration 0027 holds `documents.search_statement` in a function per dimension; a change
    to the statement in Python needs a migration that replaces the functions."""
    for dimension in documents.INDEXED_DIMENSIONS:
        source = db.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = %s", (f"flightdeck_search_{dimension}",)
        ).fetchone()["prosrc"]
        for graph in (True, False):
            statement = documents.search_statement(dimension, graph=graph).as_string(db).strip()
            assert re.sub(r"%\((\w+)\)s", r"p_\1", statement) in source, (dimension, graph)


@pytest.mark.parametrize("graph", [True, False])
def test_search_gives_the_caller_its_settings_back(
    db: Any, graph: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    me = tenant(db, "graph" if graph else "exact")
    add_document(db, me, [(f"chunk {n}", random_vector(rng)) for n in range(30)])
    # 30 chunks: above the threshold, read through the graph; at or below it, sorted exactly.
    monkeypatch.setattr(documents, "EXACT_SCAN_ROWS", 0 if graph else 30)
    for sort in ("on", "off"):
        with scoped(db, me):
            db.execute(f"SET LOCAL enable_sort = {sort}")
            hits = documents.search(
                db, me, query="chunk", embedding=random_vector(rng), model=MODEL, k=5
            )
            assert len(hits) == 5
            assert (hnsw_scans(db) > 0) is graph
            after = db.execute("SELECT current_setting('enable_sort') AS s").fetchone()["s"]
            assert after == sort
