-- Outcomes and technical health at a million runs: hourly, daily and weekly rollups, merged
-- per request.
--
-- The outcome figures, their trend and technical health describe the runs triggered in a window
-- (`created_at`). Read run by run, a 28-day window of a large tenant is ~56,000 runs and ~280,000
-- node events, and its percentiles alone cost half a second. These tables hold, per tenant,
-- workflow (and node) and UTC hour, day or ISO week of the runs' trigger, everything those
-- answers add up: counts and sums exactly (numeric), and each percentile's variable as a
-- mergeable log-bucketed sketch. A request merges the whole weeks of its window, the whole days
-- and whole hours towards its two ends and, read from the base tables by the same function that
-- fills the hour rows, the minutes before its first whole hour and after its last
-- (`flightdeck.store.insights`).
--
-- Exactness. Writers never touch a rollup row (a shared row per day would serialise a tenant's
-- webhooks). Every write that can change an answer (a run inserted, moved to another status or
-- deleted; a node event, an approval, an annotation or an outcome written or removed) leaves a
-- mark: (tenant, hour of the run's trigger, the writing transaction). Marks are plain inserts,
-- one per transaction and hour, so concurrent writers neither lock nor wait on one another. A
-- reader first takes the tenant's marks (under a per-tenant advisory lock), recomputes those
-- hours from the base tables and their days and weeks from the rows below, in its own
-- transaction, and then reads. A mark is only visible once its writer committed, so a write
-- still in flight keeps its mark for the next reader: no interleaving leaves a rollup behind
-- the rows it sums.
--
-- Sketch: bucket k holds the values x with gamma^(k-1) < x <= gamma^k, gamma = (1 + a)/(1 - a),
-- a = 2%; values at or below zero share one bucket (key -2147483648). Each bucket keeps its count
-- and the smallest and largest value it holds. A percentile taken as percentile_cont takes it
-- (interpolating between two order statistics), with each order statistic read as the
-- bucket's smallest value if it is the bucket's first, its largest if its last, and otherwise
-- 2 gamma^k / (gamma + 1) clamped to the bucket's range, is within 2% of the exact one
-- (relative), and exact wherever the buckets it reads hold one value each.

CREATE TYPE flightdeck_sketch AS (
    keys    integer[],
    counts  integer[],
    lows    double precision[],
    highs   double precision[]
);

-- The bucket of a value: ceil(log_gamma(x)), gamma = 1.02 / 0.98.
CREATE FUNCTION flightdeck_sketch_key(x double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN x > 0 THEN ceil(ln(x) / ln(1.02::float8 / 0.98::float8))::integer
                    ELSE -2147483648 END
    $$;

-- Per tenant, workflow and UTC hour (`span` 'hour'), day ('day') or ISO week ('week', from
-- Monday) of the runs' created_at.
CREATE TABLE run_rollups (
    tenant_id               uuid NOT NULL REFERENCES tenants (id),
    span                    text NOT NULL CHECK (span IN ('hour', 'day', 'week')),
    start                   timestamptz NOT NULL,
    workflow                text NOT NULL,
    runs                    integer NOT NULL,
    succeeded               integer NOT NULL,
    failed                  integer NOT NULL,
    cancelled               integer NOT NULL,
    in_progress             integer NOT NULL,
    succeeded_without_edit  integer NOT NULL,
    approvals_decided       integer NOT NULL,
    approvals_accepted      integer NOT NULL,
    measured_runs           integer NOT NULL,
    baseline_minutes        numeric NOT NULL,
    staff_minutes           numeric NOT NULL,
    minutes_saved           numeric NOT NULL,
    quality_score_sum       numeric NOT NULL,
    annotation_scores       integer NOT NULL,
    annotation_score_sum    numeric NOT NULL,
    cx_scores               integer NOT NULL,
    cx_score_sum            numeric NOT NULL,
    cx_labels               jsonb NOT NULL,   -- {"cx:happy": 3, ...}
    turnaround              flightdeck_sketch, -- succeeded runs: finished_at - created_at, s
    cx_turnaround           flightdeck_sketch, -- run_outcomes.turnaround_seconds
    PRIMARY KEY (tenant_id, span, start, workflow)
);

-- Per tenant, workflow, node and UTC hour, day or ISO week of the runs' created_at (node.*
-- events).
CREATE TABLE node_rollups (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    span         text NOT NULL CHECK (span IN ('hour', 'day', 'week')),
    start        timestamptz NOT NULL,
    workflow     text NOT NULL,
    node         text NOT NULL,
    executions   integer NOT NULL,
    failures     integer NOT NULL,
    retries      integer NOT NULL,
    first_event  bigint NOT NULL,    -- min(run_events.id): the nodes are listed in this order
    duration     flightdeck_sketch,  -- duration_ms of node.succeeded/interrupted/failed
    PRIMARY KEY (tenant_id, span, start, workflow, node)
);

-- Hours whose rollups a write may have changed, one row per writing transaction and hour.
CREATE TABLE rollup_marks (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    hour       timestamptz NOT NULL,
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (tenant_id, hour, xid)
);

SELECT flightdeck_isolate_tenants('run_rollups', 'node_rollups', 'rollup_marks');

-- The run figures of a tenant's runs triggered in [p_from, p_to), per UTC hour and workflow.
-- PL/pgSQL rather than SQL, so a caller's plan does not grow by its body; planned for the
-- tenant and range of each call (a generic plan cannot know that the range is an hour).
CREATE FUNCTION flightdeck_run_rollup(p_tenant uuid, p_from timestamptz, p_to timestamptz)
    RETURNS TABLE (start timestamptz, workflow text, runs integer, succeeded integer,
                   failed integer, cancelled integer, in_progress integer,
                   succeeded_without_edit integer, approvals_decided integer,
                   approvals_accepted integer, measured_runs integer, baseline_minutes numeric,
                   staff_minutes numeric, minutes_saved numeric, quality_score_sum numeric,
                   annotation_scores integer, annotation_score_sum numeric, cx_scores integer,
                   cx_score_sum numeric, cx_labels jsonb, turnaround flightdeck_sketch,
                   cx_turnaround flightdeck_sketch)
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode = force_custom_plan
    AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH scoped AS (
    SELECT r.id, date_trunc('hour', r.created_at, 'UTC') AS start, r.workflow, r.status,
           extract(epoch FROM r.finished_at - r.created_at)::float8 AS turnaround,
           o.baseline_minutes, o.staff_minutes, o.turnaround_seconds, o.quality_score
    FROM runs r LEFT JOIN run_outcomes o ON o.run_id = r.id
    WHERE r.tenant_id = p_tenant AND r.created_at >= p_from AND r.created_at < p_to
), decided AS (
    SELECT a.run_id,
           count(*) FILTER (WHERE a.status IN ('approved', 'edited', 'rejected')) AS decided,
           count(*) FILTER (WHERE a.status IN ('approved', 'edited')) AS accepted,
           bool_or(a.status = 'edited') AS edited
    FROM approvals a JOIN scoped s ON s.id = a.run_id
    GROUP BY a.run_id
), figures AS (
    SELECT s.start, s.workflow,
           count(*)::int AS runs,
           count(*) FILTER (WHERE s.status = 'succeeded')::int AS succeeded,
           count(*) FILTER (WHERE s.status = 'failed')::int AS failed,
           count(*) FILTER (WHERE s.status = 'cancelled')::int AS cancelled,
           count(*) FILTER (WHERE s.status IN ('queued', 'running', 'waiting_for_approval'))::int
               AS in_progress,
           count(*) FILTER (WHERE s.status = 'succeeded' AND NOT coalesce(d.edited, false))::int
               AS succeeded_without_edit,
           coalesce(sum(d.decided), 0)::int AS approvals_decided,
           coalesce(sum(d.accepted), 0)::int AS approvals_accepted,
           count(s.baseline_minutes)::int AS measured_runs,
           coalesce(sum(s.baseline_minutes::numeric), 0) AS baseline_minutes,
           coalesce(sum(s.staff_minutes::numeric), 0) AS staff_minutes,
           coalesce(sum(greatest(s.baseline_minutes - s.staff_minutes, 0)::numeric), 0)
               AS minutes_saved,
           coalesce(sum(s.quality_score::numeric), 0) AS quality_score_sum
    FROM scoped s LEFT JOIN decided d ON d.run_id = s.id
    GROUP BY s.start, s.workflow
), scores AS (
    SELECT s.start, s.workflow,
           count(*) FILTER (WHERE n.metric IS DISTINCT FROM 'cx')::int AS annotation_scores,
           coalesce(sum(n.score::numeric) FILTER (WHERE n.metric IS DISTINCT FROM 'cx'), 0)
               AS annotation_score_sum,
           count(*) FILTER (WHERE n.metric = 'cx')::int AS cx_scores,
           coalesce(sum(n.score::numeric) FILTER (WHERE n.metric = 'cx'), 0) AS cx_score_sum
    FROM annotations n JOIN scoped s ON s.id = n.run_id
    WHERE n.kind = 'score'
    GROUP BY s.start, s.workflow
), labels AS (
    SELECT l.start, l.workflow, jsonb_object_agg(l.label, l.n) AS cx_labels
    FROM (SELECT s.start, s.workflow, n.label, count(*) AS n
          FROM annotations n JOIN scoped s ON s.id = n.run_id
          WHERE n.kind = 'label' AND starts_with(n.label, 'cx:')
          GROUP BY 1, 2, 3) l
    GROUP BY l.start, l.workflow
), values AS (
    SELECT s.start, s.workflow, 't' AS measure, s.turnaround AS x
    FROM scoped s WHERE s.status = 'succeeded' AND s.turnaround IS NOT NULL
    UNION ALL
    SELECT s.start, s.workflow, 'c', s.turnaround_seconds
    FROM scoped s WHERE s.turnaround_seconds IS NOT NULL
), buckets AS (
    SELECT v.start, v.workflow, v.measure, flightdeck_sketch_key(v.x) AS k, count(*)::int AS n,
           min(v.x) AS lo, max(v.x) AS hi
    FROM values v GROUP BY 1, 2, 3, 4
), sketches AS (
    SELECT b.start, b.workflow, b.measure,
           ROW(array_agg(b.k ORDER BY b.k), array_agg(b.n ORDER BY b.k),
               array_agg(b.lo ORDER BY b.k), array_agg(b.hi ORDER BY b.k))::flightdeck_sketch
               AS sketch
    FROM buckets b GROUP BY 1, 2, 3
)
SELECT f.start, f.workflow, f.runs, f.succeeded, f.failed, f.cancelled, f.in_progress,
       f.succeeded_without_edit, f.approvals_decided, f.approvals_accepted, f.measured_runs,
       f.baseline_minutes, f.staff_minutes, f.minutes_saved, f.quality_score_sum,
       coalesce(c.annotation_scores, 0), coalesce(c.annotation_score_sum, 0),
       coalesce(c.cx_scores, 0), coalesce(c.cx_score_sum, 0),
       coalesce(l.cx_labels, '{}'::jsonb), t.sketch, x.sketch
FROM figures f
LEFT JOIN scores c ON c.start = f.start AND c.workflow = f.workflow
LEFT JOIN labels l ON l.start = f.start AND l.workflow = f.workflow
LEFT JOIN sketches t ON t.start = f.start AND t.workflow = f.workflow AND t.measure = 't'
LEFT JOIN sketches x ON x.start = f.start AND x.workflow = f.workflow AND x.measure = 'c';
END
$$;

-- The node figures of a tenant's runs triggered in [p_from, p_to), per UTC hour, workflow and
-- node: every `node.*` event that names a node counts for presence and order.
CREATE FUNCTION flightdeck_node_rollup(p_tenant uuid, p_from timestamptz, p_to timestamptz)
    RETURNS TABLE (start timestamptz, workflow text, node text, executions integer,
                   failures integer, retries integer, first_event bigint,
                   duration flightdeck_sketch)
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode = force_custom_plan
    AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH events AS (
    SELECT date_trunc('hour', r.created_at, 'UTC') AS start, r.workflow, e.node, e.id, e.type,
           e.duration_ms
    FROM run_events e JOIN runs r ON r.id = e.run_id
    WHERE r.tenant_id = p_tenant AND r.created_at >= p_from AND r.created_at < p_to
      AND e.node IS NOT NULL AND e.type LIKE 'node.%'
), counted AS (
    SELECT start, workflow, node,
           count(*) FILTER (WHERE type IN ('node.succeeded', 'node.interrupted', 'node.failed'))
               ::int AS executions,
           count(*) FILTER (WHERE type = 'node.failed')::int AS failures,
           count(*) FILTER (WHERE type = 'node.retried')::int AS retries,
           min(id) AS first_event
    FROM events GROUP BY 1, 2, 3
), buckets AS (
    SELECT start, workflow, node, flightdeck_sketch_key(duration_ms) AS k, count(*)::int AS n,
           min(duration_ms) AS lo, max(duration_ms) AS hi
    FROM events
    WHERE type IN ('node.succeeded', 'node.interrupted', 'node.failed')
      AND duration_ms IS NOT NULL
    GROUP BY 1, 2, 3, 4
), sketches AS (
    SELECT start, workflow, node,
           ROW(array_agg(k ORDER BY k), array_agg(n ORDER BY k), array_agg(lo ORDER BY k),
               array_agg(hi ORDER BY k))::flightdeck_sketch AS sketch
    FROM buckets GROUP BY 1, 2, 3
)
SELECT c.start, c.workflow, c.node, c.executions, c.failures, c.retries, c.first_event, s.sketch
FROM counted c
LEFT JOIN sketches s ON s.start = c.start AND s.workflow = c.workflow AND s.node = c.node;
END
$$;

-- The rows of span `p_span` ('day': midnights UTC, or 'week': ISO weeks' Mondays) starting at
-- `starts`, merged from the rows of the span below (hours, days).
CREATE FUNCTION flightdeck_roll_up(p_tenant uuid, p_span text, starts timestamptz[]) RETURNS void
    LANGUAGE plpgsql
    SET plan_cache_mode = force_custom_plan
    AS $$
DECLARE
    parts text := CASE p_span WHEN 'day' THEN 'hour' WHEN 'week' THEN 'day' END;
    span_length interval := CASE p_span WHEN 'day' THEN interval '1 day' ELSE interval '7 days' END;
    days timestamptz[] := starts;
BEGIN
    DELETE FROM run_rollups WHERE tenant_id = p_tenant AND span = p_span AND start = ANY (days);
    DELETE FROM node_rollups WHERE tenant_id = p_tenant AND span = p_span AND start = ANY (days);
    INSERT INTO run_rollups
    WITH parts AS MATERIALIZED (
        SELECT d.day, h.*
        FROM unnest(days) d(day)
        JOIN run_rollups h ON h.tenant_id = p_tenant AND h.span = parts
                          AND h.start >= d.day AND h.start < d.day + span_length
    ), labels AS (
        SELECT l.day, l.workflow, jsonb_object_agg(l.key, l.n) AS cx_labels
        FROM (SELECT h.day, h.workflow, j.key, sum(j.value::int) AS n
              FROM parts h, jsonb_each_text(h.cx_labels) j GROUP BY 1, 2, 3) l
        GROUP BY 1, 2
    ), buckets AS (
        SELECT h.day, h.workflow, m.measure, u.k, sum(u.n)::int AS n, min(u.lo) AS lo,
               max(u.hi) AS hi
        FROM parts h
        CROSS JOIN LATERAL (VALUES ('t', h.turnaround), ('c', h.cx_turnaround)) m(measure, s)
        CROSS JOIN LATERAL unnest((m.s).keys, (m.s).counts, (m.s).lows, (m.s).highs)
            AS u(k, n, lo, hi)
        GROUP BY 1, 2, 3, 4
    ), sketches AS (
        SELECT b.day, b.workflow, b.measure,
               ROW(array_agg(b.k ORDER BY b.k), array_agg(b.n ORDER BY b.k),
                   array_agg(b.lo ORDER BY b.k), array_agg(b.hi ORDER BY b.k))::flightdeck_sketch
                   AS sketch
        FROM buckets b GROUP BY 1, 2, 3
    ), counted AS (
        SELECT h.day, h.workflow,
               sum(h.runs) AS runs, sum(h.succeeded) AS succeeded, sum(h.failed) AS failed,
               sum(h.cancelled) AS cancelled, sum(h.in_progress) AS in_progress,
               sum(h.succeeded_without_edit) AS succeeded_without_edit,
               sum(h.approvals_decided) AS approvals_decided,
               sum(h.approvals_accepted) AS approvals_accepted,
               sum(h.measured_runs) AS measured_runs,
               sum(h.baseline_minutes) AS baseline_minutes,
               sum(h.staff_minutes) AS staff_minutes, sum(h.minutes_saved) AS minutes_saved,
               sum(h.quality_score_sum) AS quality_score_sum,
               sum(h.annotation_scores) AS annotation_scores,
               sum(h.annotation_score_sum) AS annotation_score_sum,
               sum(h.cx_scores) AS cx_scores, sum(h.cx_score_sum) AS cx_score_sum
        FROM parts h GROUP BY 1, 2
    )
    SELECT p_tenant, p_span, c.day, c.workflow, c.runs, c.succeeded, c.failed, c.cancelled,
           c.in_progress, c.succeeded_without_edit, c.approvals_decided, c.approvals_accepted,
           c.measured_runs, c.baseline_minutes, c.staff_minutes, c.minutes_saved,
           c.quality_score_sum, c.annotation_scores, c.annotation_score_sum, c.cx_scores,
           c.cx_score_sum, coalesce(l.cx_labels, '{}'::jsonb), t.sketch, x.sketch
    FROM counted c
    LEFT JOIN labels l ON l.day = c.day AND l.workflow = c.workflow
    LEFT JOIN sketches t ON t.day = c.day AND t.workflow = c.workflow AND t.measure = 't'
    LEFT JOIN sketches x ON x.day = c.day AND x.workflow = c.workflow AND x.measure = 'c';

    INSERT INTO node_rollups
    WITH parts AS MATERIALIZED (
        SELECT d.day, h.*
        FROM unnest(days) d(day)
        JOIN node_rollups h ON h.tenant_id = p_tenant AND h.span = parts
                           AND h.start >= d.day AND h.start < d.day + span_length
    ), buckets AS (
        SELECT h.day, h.workflow, h.node, u.k, sum(u.n)::int AS n, min(u.lo) AS lo,
               max(u.hi) AS hi
        FROM parts h
        CROSS JOIN LATERAL unnest((h.duration).keys, (h.duration).counts, (h.duration).lows,
                                  (h.duration).highs) AS u(k, n, lo, hi)
        GROUP BY 1, 2, 3, 4
    ), sketches AS (
        SELECT b.day, b.workflow, b.node,
               ROW(array_agg(b.k ORDER BY b.k), array_agg(b.n ORDER BY b.k),
                   array_agg(b.lo ORDER BY b.k), array_agg(b.hi ORDER BY b.k))::flightdeck_sketch
                   AS sketch
        FROM buckets b GROUP BY 1, 2, 3
    )
    SELECT p_tenant, p_span, h.day, h.workflow, h.node, sum(h.executions), sum(h.failures),
           sum(h.retries), min(h.first_event), s.sketch
    FROM parts h
    LEFT JOIN sketches s ON s.day = h.day AND s.workflow = h.workflow AND s.node = h.node
    GROUP BY h.day, h.workflow, h.node, s.sketch;
END
$$;

-- The rollups of every hour a tenant's marks name recomputed from the base tables, their days
-- from their hours and their weeks from their days; the marks taken are removed. Returns how many hours were recomputed.
-- Works as the caller, under row-level security, within the tenant the transaction is scoped
-- to. Transactions that refresh the same tenant wait for each other (advisory lock), so the
-- rows a later one writes are computed from everything the earlier one saw.
CREATE FUNCTION flightdeck_refresh_rollups(p_tenant uuid) RETURNS integer
    LANGUAGE plpgsql
    SET plan_cache_mode = force_custom_plan
    AS $$
DECLARE
    hours timestamptz[];
    h timestamptz;
    days timestamptz[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rollup_marks WHERE tenant_id = p_tenant) THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('flightdeck_refresh_rollups'),
                                  hashtext(p_tenant::text));
    WITH taken AS (DELETE FROM rollup_marks WHERE tenant_id = p_tenant RETURNING hour)
    SELECT array_agg(DISTINCT hour) INTO hours FROM taken;
    IF hours IS NULL THEN
        RETURN 0;  -- another transaction took them while this one waited
    END IF;
    SELECT array_agg(DISTINCT date_trunc('day', x, 'UTC')) INTO days FROM unnest(hours) x;

    DELETE FROM run_rollups WHERE tenant_id = p_tenant AND span = 'hour' AND start = ANY (hours);
    DELETE FROM node_rollups WHERE tenant_id = p_tenant AND span = 'hour' AND start = ANY (hours);
    FOREACH h IN ARRAY hours
    LOOP
        INSERT INTO run_rollups
        SELECT p_tenant, 'hour', f.*
        FROM flightdeck_run_rollup(p_tenant, h, h + interval '1 hour') f;
        INSERT INTO node_rollups
        SELECT p_tenant, 'hour', f.*
        FROM flightdeck_node_rollup(p_tenant, h, h + interval '1 hour') f;
    END LOOP;

    PERFORM flightdeck_roll_up(p_tenant, 'day', days);
    PERFORM flightdeck_roll_up(p_tenant, 'week', ARRAY(SELECT DISTINCT date_trunc('week', d, 'UTC')
                                                     FROM unnest(days) d));
    RETURN cardinality(hours);
END
$$;

-- --- marks ----------------------------------------------------------------------------------

-- Runs: inserted, deleted, or moved in what the rollups count (status, end, trigger time).
CREATE FUNCTION flightdeck_mark_run() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO rollup_marks (tenant_id, hour)
        VALUES (OLD.tenant_id, date_trunc('hour', OLD.created_at, 'UTC'))
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO rollup_marks (tenant_id, hour)
        VALUES (NEW.tenant_id, date_trunc('hour', NEW.created_at, 'UTC'))
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER runs_mark_rollups_insert AFTER INSERT OR DELETE ON runs
    FOR EACH ROW EXECUTE FUNCTION flightdeck_mark_run();
CREATE TRIGGER runs_mark_rollups_update AFTER UPDATE ON runs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.finished_at IS DISTINCT FROM NEW.finished_at
          OR OLD.created_at IS DISTINCT FROM NEW.created_at
          OR OLD.workflow IS DISTINCT FROM NEW.workflow
          OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION flightdeck_mark_run();

-- Rows about runs (node events, approvals, annotations, outcomes), written in batches: one
-- statement-level trigger per table and operation marks the hours of the runs they name. Each
-- run's hour is read by its primary key (a subquery per changed row, never a join the planner
-- could turn into a scan of the runs), and nothing is read when no row counts.
CREATE FUNCTION flightdeck_mark_runs_of() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO rollup_marks (tenant_id, hour)
        SELECT DISTINCT m.tenant_id, m.hour
        FROM (SELECT o.tenant_id, (SELECT date_trunc('hour', r.created_at, 'UTC')
                                     FROM runs r WHERE r.id = o.run_id) AS hour
              FROM changed_old o
             ) m
        WHERE m.hour IS NOT NULL
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO rollup_marks (tenant_id, hour)
        SELECT DISTINCT m.tenant_id, m.hour
        FROM (SELECT n.tenant_id, (SELECT date_trunc('hour', r.created_at, 'UTC')
                                     FROM runs r WHERE r.id = n.run_id) AS hour
              FROM changed_new n
             ) m
        WHERE m.hour IS NOT NULL
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

-- Node events only: the run-level events (queued, started, ...) leave the rollups as they are.
CREATE FUNCTION flightdeck_mark_node_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO rollup_marks (tenant_id, hour)
        SELECT DISTINCT m.tenant_id, m.hour
        FROM (SELECT o.tenant_id, (SELECT date_trunc('hour', r.created_at, 'UTC')
                                     FROM runs r WHERE r.id = o.run_id) AS hour
              FROM changed_old o
              WHERE o.node IS NOT NULL AND o.type LIKE 'node.%'
             ) m
        WHERE m.hour IS NOT NULL
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO rollup_marks (tenant_id, hour)
        SELECT DISTINCT m.tenant_id, m.hour
        FROM (SELECT n.tenant_id, (SELECT date_trunc('hour', r.created_at, 'UTC')
                                     FROM runs r WHERE r.id = n.run_id) AS hour
              FROM changed_new n
              WHERE n.node IS NOT NULL AND n.type LIKE 'node.%'
             ) m
        WHERE m.hour IS NOT NULL
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER run_events_mark_rollups_insert AFTER INSERT ON run_events
    REFERENCING NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION flightdeck_mark_node_events();
CREATE TRIGGER run_events_mark_rollups_update AFTER UPDATE ON run_events
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION flightdeck_mark_node_events();
CREATE TRIGGER run_events_mark_rollups_delete AFTER DELETE ON run_events
    REFERENCING OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION flightdeck_mark_node_events();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['approvals', 'annotations', 'run_outcomes']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS changed_new'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION flightdeck_mark_runs_of()',
                       t || '_mark_rollups_insert', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I'
                       ' REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION flightdeck_mark_runs_of()',
                       t || '_mark_rollups_update', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS changed_old'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION flightdeck_mark_runs_of()',
                       t || '_mark_rollups_delete', t);
    END LOOP;
END
$$;

-- --- backfill -------------------------------------------------------------------------------

-- Every tenant's history, hour by hour, then day by day and week by week; as each tenant
-- (row-level security applies to the owner too where it is not a superuser).
DO $$
DECLARE
    t uuid;
BEGIN
    FOR t IN SELECT id FROM tenants
    LOOP
        PERFORM set_config('app.tenant_ids', t::text, true);
        INSERT INTO run_rollups
        SELECT t, 'hour', f.* FROM flightdeck_run_rollup(t, '-infinity', 'infinity') f;
        INSERT INTO node_rollups
        SELECT t, 'hour', f.* FROM flightdeck_node_rollup(t, '-infinity', 'infinity') f;
        PERFORM flightdeck_roll_up(
            t, 'day', ARRAY(SELECT DISTINCT date_trunc('day', h.start, 'UTC') FROM run_rollups h
                            WHERE h.tenant_id = t AND h.span = 'hour'));
        PERFORM flightdeck_roll_up(
            t, 'week', ARRAY(SELECT DISTINCT date_trunc('week', h.start, 'UTC') FROM run_rollups h
                             WHERE h.tenant_id = t AND h.span = 'day'));
    END LOOP;
    PERFORM set_config('app.tenant_ids', '', true);
END
$$;
