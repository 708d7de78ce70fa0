-- Knowledge: a tenant's documents (the files live in S3 under the tenant's prefix), their
-- chunks with an embedding and a full-text vector, searched by hybrid retrieval.

-- Databases made before pgvector 0.8 was embedded get its iterative index scans now.
ALTER EXTENSION vector UPDATE;

CREATE TABLE documents (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    filename             text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
    content_type         text NOT NULL,
    size_bytes           bigint NOT NULL CHECK (size_bytes >= 0),
    -- The object: s3://<artifact bucket>/<s3_key>, under tenants/<tenant id>/knowledge/.
    s3_key               text NOT NULL,
    sha256               bytea,
    title                text,
    tags                 text[] NOT NULL DEFAULT '{}',
    status               text NOT NULL CHECK (status IN ('queued', 'ingesting', 'ready', 'failed')),
    error                text,
    chunk_count          integer NOT NULL DEFAULT 0,
    -- What the chunks were embedded with; a tenant whose model changed is re-embedded whole.
    embedding_model      text,
    embedding_dimension  integer,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    ingested_at          timestamptz,
    CONSTRAINT documents_key UNIQUE (s3_key)
);
CREATE INDEX documents_tenant ON documents (tenant_id, created_at DESC);

CREATE TABLE document_chunks (
    id                   uuid PRIMARY KEY,
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
    CONSTRAINT chunks_ordinal UNIQUE (document_id, ordinal)
);
CREATE INDEX document_chunks_document ON document_chunks (document_id);
CREATE INDEX document_chunks_tenant ON document_chunks (tenant_id, embedding_model);
CREATE INDEX document_chunks_search ON document_chunks USING gin (search);
-- Cosine HNSW per dimension: 384 (offline), 1024 (Titan Text Embeddings v2), 1536 (OpenAI).
CREATE INDEX document_chunks_hnsw_384 ON document_chunks
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE embedding_dimension = 384;
CREATE INDEX document_chunks_hnsw_1024 ON document_chunks
    USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WHERE embedding_dimension = 1024;
CREATE INDEX document_chunks_hnsw_1536 ON document_chunks
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE embedding_dimension = 1536;

SELECT flightdeck_isolate_tenants('documents', 'document_chunks');
