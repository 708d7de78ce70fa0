-- Knowledge search in functions, one per indexed dimension, so each connection keeps their
-- plans.
--
-- `flightdeck.store.documents.search` sent its statement as text, and Postgres parsed and
-- planned it at every call: 0.6-1.3 ms of planning (and two more statements for the settings)
-- for a small tenant's search that then executes in about 0.1 ms. A PL/pgSQL function keeps the
-- plans of its statements for the connection, which RDS Proxy allows (server-side prepared
-- statements would pin the connection).
--
-- `flightdeck_search_<dimension>` settles what the search settings did: a tenant with more
-- ready chunks than `p_exact_rows` is read through its partition's HNSW graph (sorting off, so
-- the graph is the only way to order the vectors, with pgvector 0.8's iterative scan), a smaller
-- one by its rows and an exact sort (its statement orders by the distance on the untyped column,
-- which no index orders). Each path is its own statement with its own plan, planned once
-- (`plan_cache_mode = force_generic_plan`: the plans do not depend on the tenant, and
-- partitions are pruned when the statement starts); `enable_sort` is the caller's again when
-- the function returns.
--
-- The statement is `documents.search_statement` word for word, its parameters as the
-- function's arguments (`p_<name>`); `tests/integration/test_document_search.py` checks each
-- function's body against it, so a change to the Python statement fails there until a
-- migration replaces the functions. It runs as its caller: row-level security applies.
DO $do$
DECLARE
    dimension integer;
    statement text := $statement$
WITH
filtered_docs AS (
    SELECT d.id FROM documents d
    WHERE d.tenant_id = p_tenant AND d.status = 'ready'
      AND (cardinality(p_documents::uuid[]) = 0 OR d.id = ANY (p_documents::uuid[]))
      AND (cardinality(p_tags::text[]) = 0 OR d.tags && p_tags::text[])
),
terms AS (
    SELECT w.lexeme, coalesce(t.chunks, 0) AS chunks,
           chr(39) || replace(w.lexeme, chr(39), chr(39) || chr(39)) || chr(39) AS operand
    FROM unnest(tsvector_to_array(to_tsvector('english', p_query))) w (lexeme)
    LEFT JOIN knowledge_terms t ON t.tenant_id = p_tenant AND t.lexeme = w.lexeme
    WHERE strpos(w.lexeme, chr(92)) = 0
),
rare AS (
    SELECT operand FROM (
        SELECT operand, sum(chunks) OVER (ORDER BY chunks, lexeme) AS running
        FROM terms WHERE chunks > 0) r
    WHERE running <= p_text_rows
),
text_queries AS MATERIALIZED (
    SELECT (SELECT string_agg(operand, ' | ') FROM rare)::tsquery AS rare,
           (SELECT string_agg(operand, ' | ') FROM terms)::tsquery AS loose
),
nearest AS (
    SELECT c.id, @DISTANCE@ AS distance
    FROM document_chunks c
    WHERE c.tenant_id = p_tenant AND c.embedding_dimension = @DIM@
      AND c.embedding_model = p_model AND (c.document_id IN (SELECT id FROM filtered_docs)) IS TRUE
    ORDER BY distance
    LIMIT p_candidates
),
by_text AS (
    SELECT c.id, row_number() OVER (
               ORDER BY ts_rank_cd(c.search, (SELECT loose FROM text_queries)) DESC, c.id) AS rank
    FROM document_chunks c
    WHERE (SELECT rare FROM text_queries) IS NOT NULL AND c.tenant_id = p_tenant
      AND c.search @@ (SELECT rare FROM text_queries) AND (c.document_id IN (SELECT id FROM filtered_docs)) IS TRUE
    ORDER BY rank LIMIT p_candidates
),
by_vector AS (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM nearest
),
-- Materialized: otherwise the planner, guessing one document, re-runs both rankings for
-- every chunk of the tenant in the final join.
fused AS MATERIALIZED (
    SELECT coalesce(v.id, t.id) AS id, v.rank AS vector_rank, t.rank AS text_rank,
           coalesce(1.0 / (p_rrf + v.rank), 0) + coalesce(1.0 / (p_rrf + t.rank), 0) AS score
    FROM by_vector v FULL JOIN by_text t ON t.id = v.id
),
-- The k best before their rows are read: k primary-key look-ups, not a join over the tenant.
best AS (
    SELECT * FROM fused ORDER BY score DESC, vector_rank NULLS LAST, id LIMIT p_k
)

SELECT c.id AS chunk_id, c.document_id, d.filename, d.title, c.ordinal, c.heading, c.body,
       b.vector_rank, b.text_rank, b.score::float8 AS score
FROM best b JOIN document_chunks c ON c.tenant_id = p_tenant AND c.id = b.id
JOIN documents d ON d.id = c.document_id
ORDER BY b.score DESC, b.vector_rank NULLS LAST, c.id$statement$;
    template text := $template$
CREATE FUNCTION flightdeck_search_@DIM@(
    p_tenant uuid, p_query text, p_embedding vector, p_model text, p_documents uuid[],
    p_tags text[], p_k integer, p_candidates integer, p_text_rows integer, p_rrf integer,
    p_exact_rows bigint, p_max_scan_tuples text, p_ef_search text)
    RETURNS TABLE (chunk_id uuid, document_id uuid, filename text, title text,
                   ordinal integer, heading text, body text, vector_rank bigint,
                   text_rank bigint, score float8)
    LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan
    SET enable_sort = on
    AS $function$
#variable_conflict use_column
DECLARE
    graph boolean;
BEGIN
    SELECT coalesce(sum(chunk_count), 0) > p_exact_rows INTO graph FROM documents
    WHERE tenant_id = p_tenant AND status = 'ready' AND embedding_model = p_model;
    PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true),
            set_config('hnsw.max_scan_tuples', p_max_scan_tuples, true),
            set_config('hnsw.ef_search', p_ef_search, true);
    IF graph THEN
        PERFORM set_config('enable_sort', 'off', true);
        RETURN QUERY@GRAPH@;
    ELSE
        RETURN QUERY@EXACT@;
    END IF;
END
$function$;
GRANT EXECUTE ON FUNCTION flightdeck_search_@DIM@(uuid, text, vector, text, uuid[], text[],
    integer, integer, integer, integer, bigint, text, text) TO flightdeck_app;
$template$;
BEGIN
    FOREACH dimension IN ARRAY ARRAY[384, 1024, 1536] LOOP
        EXECUTE replace(replace(replace(template,
            '@GRAPH@', replace(statement, '@DISTANCE@',
                               'c.embedding::vector(@DIM@) <=> p_embedding::vector(@DIM@)')),
            '@EXACT@', replace(statement, '@DISTANCE@', 'c.embedding <=> p_embedding::vector(@DIM@)')),
            '@DIM@', dimension::text);
    END LOOP;
END
$do$;
