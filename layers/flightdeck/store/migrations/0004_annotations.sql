-- Annotations: comments, labels and scores that people put on a run or on one node of it.
--
-- Append-only from the API. `author` names the caller (`token:<api token id>`). The shape of
-- each kind is checked here as well as in the API, so no path can store a label with a score.

CREATE TABLE annotations (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    run_id      uuid NOT NULL REFERENCES runs (id),
    -- NULL: the annotation is on the whole run; else a node of the run's workflow graph.
    node        text,
    kind        text NOT NULL CHECK (kind IN ('comment', 'label', 'score')),
    body        text CHECK (char_length(body) BETWEEN 1 AND 4000),
    label       text CHECK (label ~ '^[a-z0-9][a-z0-9_:-]{0,63}$'),
    -- Scores live on [0, 1]; `metric` optionally names what was scored (e.g. `tone`).
    score       double precision CHECK (score >= 0 AND score <= 1),
    metric      text CHECK (metric ~ '^[a-z0-9][a-z0-9_:-]{0,63}$'),
    author      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT annotations_shape CHECK (
        (kind = 'comment' AND body IS NOT NULL
            AND label IS NULL AND score IS NULL AND metric IS NULL)
        OR (kind = 'label' AND label IS NOT NULL
            AND body IS NULL AND score IS NULL AND metric IS NULL)
        OR (kind = 'score' AND score IS NOT NULL
            AND body IS NULL AND label IS NULL)
    )
);
-- A run's annotations in order (run detail, `GET /v1/runs/{id}/annotations`).
CREATE INDEX annotations_run ON annotations (run_id, created_at, id);
-- The export: a tenant's annotations by time, read in keyset pages.
CREATE INDEX annotations_tenant_created ON annotations (tenant_id, created_at, id);

SELECT flightdeck_isolate_tenants('annotations');
