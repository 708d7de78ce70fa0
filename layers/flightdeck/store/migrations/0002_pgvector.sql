-- pgvector is enabled now so later vector steps can rely on it.
CREATE EXTENSION IF NOT EXISTS vector;
