-- Knowledge chunks partitioned by tenant, and per-tenant term counts for full-text ranking.
--
-- One HNSW graph over every tenant's chunks served a large tenant badly: its filtered search
-- walked other tenants' vectors, and at 100,000 chunks recall@10 stayed under 0.65 at any
-- usable ef_search. Hash partitions by tenant give each partition its own, denser graph (a
-- tenant's search walks its own partition, shared with few others). The offline embedder's
-- lexical vectors are hard for HNSW (many near-equal distances), so their graph gets more
-- links and a wider build (m = 32, ef_construction = 400); the providers' 1024- and 1536-d
-- embeddings keep pgvector's defaults. `docs/architecture.md` (Knowledge) has the figures.
--
-- Rows move in this transaction: nothing is re-embedded and nothing is lost.

CREATE TEMPORARY TABLE chunks_before_0010 ON COMMIT DROP AS SELECT * FROM document_chunks;
DROP TABLE document_chunks;

CREATE TABLE document_chunks (
    id                   uuid NOT NULL,
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    document_id          uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal              integer NOT NULL,
    heading              text NOT NULL DEFAULT '',
    body                 text NOT NULL,
    token_count          integer NOT NULL,
    -- sha256 of the chunk's text and heading: a re-upload re-embeds only chunks that changed.
    content_hash         text NOT NULL,
    embedding_model      text NOT NULL,
    embedding_dimension  integer NOT NULL,
    -- Untyped so several models' dimensions can live side by side; each dimension the
    -- providers use has its own HNSW index over a typed cast (below).
    embedding            vector NOT NULL,
    search               tsvector GENERATED ALWAYS AS (
                             setweight(to_tsvector('english', heading), 'A') ||
                             setweight(to_tsvector('english', body), 'B')) STORED,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chunks_dimension CHECK (vector_dims(embedding) = embedding_dimension),
    -- The partition key belongs to every unique key of a partitioned table.
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT chunks_ordinal UNIQUE (tenant_id, document_id, ordinal)
) PARTITION BY HASH (tenant_id);

DO $$
BEGIN
    FOR r IN 0..15 LOOP
        EXECUTE format(
            'CREATE TABLE document_chunks_p%s PARTITION OF document_chunks'
            ' FOR VALUES WITH (MODULUS 16, REMAINDER %s)', lpad(r::text, 2, '0'), r);
    END LOOP;
END
$$;

INSERT INTO document_chunks (id, tenant_id, document_id, ordinal, heading, body, token_count,
                             content_hash, embedding_model, embedding_dimension, embedding,
                             created_at)
SELECT id, tenant_id, document_id, ordinal, heading, body, token_count, content_hash,
       embedding_model, embedding_dimension, embedding, created_at
FROM chunks_before_0010;

CREATE INDEX document_chunks_document ON document_chunks (document_id);
CREATE INDEX document_chunks_tenant ON document_chunks (tenant_id, embedding_model);
CREATE INDEX document_chunks_search ON document_chunks USING gin (search);
-- Cosine HNSW per dimension (384 offline, 1024 Titan Text Embeddings v2, 1536 OpenAI), one
-- graph per partition.
CREATE INDEX document_chunks_hnsw_384 ON document_chunks
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WITH (m = 32, ef_construction = 400)
    WHERE embedding_dimension = 384;
CREATE INDEX document_chunks_hnsw_1024 ON document_chunks
    USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WHERE embedding_dimension = 1024;
CREATE INDEX document_chunks_hnsw_1536 ON document_chunks
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE embedding_dimension = 1536;

SELECT flightdeck_isolate_tenants('document_chunks');

-- How many of a tenant's chunks hold each lexeme: full-text ranking reads a question's rare
-- words first (a word in a third of the chunks says little about any of them), so it ranks a
-- few hundred rows rather than every chunk that shares a common word. Kept exact by the
-- triggers below, whatever writes the chunks (ingestion, a delete's cascade, a bulk COPY).
CREATE TABLE knowledge_terms (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    lexeme     text NOT NULL,
    chunks     integer NOT NULL CHECK (chunks >= 0),
    PRIMARY KEY (tenant_id, lexeme)
);
SELECT flightdeck_isolate_tenants('knowledge_terms');

-- Writers of one tenant's chunks take turns on a transaction-scoped advisory lock, so two
-- ingestions (each deleting, then inserting, in one transaction) never lock the same terms in
-- opposite orders.
CREATE FUNCTION knowledge_terms_lock(tenants uuid[]) RETURNS void
    LANGUAGE sql
    AS $$
        SELECT pg_advisory_xact_lock(hashtextextended('knowledge_terms:' || t::text, 0))
        FROM (SELECT DISTINCT t FROM unnest(tenants) t ORDER BY t) s
    $$;

-- Counts what a statement removed, then what it added (an UPDATE does both).
CREATE FUNCTION knowledge_terms_count() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM knowledge_terms_lock(ARRAY(SELECT DISTINCT tenant_id FROM removed));
        UPDATE knowledge_terms k SET chunks = k.chunks - r.n
        FROM (SELECT r.tenant_id, u.lexeme, count(*) AS n
              FROM removed r, unnest(r.search) u
              GROUP BY r.tenant_id, u.lexeme) r
        WHERE k.tenant_id = r.tenant_id AND k.lexeme = r.lexeme;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM knowledge_terms_lock(ARRAY(SELECT DISTINCT tenant_id FROM added));
        INSERT INTO knowledge_terms AS k (tenant_id, lexeme, chunks)
        SELECT a.tenant_id, u.lexeme, count(*)
        FROM added a, unnest(a.search) u
        GROUP BY a.tenant_id, u.lexeme
        ORDER BY a.tenant_id, u.lexeme
        ON CONFLICT (tenant_id, lexeme) DO UPDATE SET chunks = k.chunks + excluded.chunks;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER knowledge_terms_added AFTER INSERT ON document_chunks
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_terms_count();
CREATE TRIGGER knowledge_terms_changed AFTER UPDATE ON document_chunks
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_terms_count();
CREATE TRIGGER knowledge_terms_removed AFTER DELETE ON document_chunks
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_terms_count();

INSERT INTO knowledge_terms (tenant_id, lexeme, chunks)
SELECT c.tenant_id, u.lexeme, count(*)
FROM document_chunks c, unnest(c.search) u
GROUP BY c.tenant_id, u.lexeme;
