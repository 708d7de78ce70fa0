-- Outcome rollups (0019) only for hours, days and weeks that have ended.
--
-- Under 0019 a read right after a write recomputed the written hour, its day and its week,
-- although the hour was still filling up and a window ending now never reads the row of the day
-- or week it ends in (it reads that day's hours and the minutes of its last hour instead). A
-- live tenant writes into the current hour all the time, so most reads paid for rows nobody
-- read, and paid again after the next write.
--
-- Now a span's rows are built once it has ended, as of the moment `p_now` the reader passes
-- (the transaction's start by default):
-- - a mark of an hour that has not ended stays until it has; the first read after that
--   recomputes the hour (writes never wait for a read: a mark is still a plain insert);
-- - an hour recomputed while its day (or week) is still open leaves the day (and week) in
--   `rollup_pending`; the first read after the day (week) has ended rolls it up from its hours
--   (days), which are all closed by then and recomputed in the same call;
-- - hours, days and weeks that had ended before the write are recomputed at once, as before.
-- A reader reads rows only of spans that ended before its `p_now` (`insights.Scope.params`):
-- whole hours up to the current hour, then the minutes from the base rows; whole days and weeks
-- inside those. The rows 0019 built for the day and week under way are removed here and the
-- span left pending, so every row left is one of a span that has ended, or of the current hour
-- (never read before it ends, recomputed then if a write marked it).
--
-- Also for the reads: the base-row functions take two ranges, so a window's minutes at both
-- ends are one call (and one plan); the node one groups once by node and bucket; a roll-up
-- reads only the rows of its span. Answers are unchanged.

-- Days and weeks whose rows must be rolled up (again) once they have ended.
CREATE TABLE rollup_pending (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    span       text NOT NULL CHECK (span IN ('day', 'week')),
    start      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, span, start)
);

SELECT flightdeck_isolate_tenants('rollup_pending');

-- --- the functions that read the base rows ----------------------------------------------------

-- The run figures of a tenant's runs triggered in [p_from, p_to) or [p_from2, p_to2), per UTC
-- hour and workflow: 0019's `flightdeck_run_rollup` over two ranges, so that a window's minutes
-- at both ends cost one call and one plan, not two (planning is most of an edge's cost).
CREATE FUNCTION flightdeck_run_rollup(p_tenant uuid, p_from timestamptz, p_to timestamptz,
                                      p_from2 timestamptz, p_to2 timestamptz)
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
    FROM (SELECT r.id, r.created_at, r.workflow, r.status, r.finished_at FROM runs r
          WHERE r.tenant_id = p_tenant AND r.created_at >= p_from AND r.created_at < p_to
          UNION ALL
          SELECT r.id, r.created_at, r.workflow, r.status, r.finished_at FROM runs r
          WHERE r.tenant_id = p_tenant AND r.created_at >= p_from2 AND r.created_at < p_to2
         ) r
    LEFT JOIN run_outcomes o ON o.run_id = r.id
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

-- The node figures of a tenant's runs triggered in [p_from, p_to) or [p_from2, p_to2), per UTC
-- hour, workflow and node: every `node.*` event that names a node counts for presence and
-- order. One grouping by node and sketch bucket, then by node (0019 joined the counts to the
-- sketches, and a misestimate made that join a nested loop that rebuilt the sketches once per
-- node: twice the time).
CREATE FUNCTION flightdeck_node_rollup(p_tenant uuid, p_from timestamptz, p_to timestamptz,
                                       p_from2 timestamptz, p_to2 timestamptz)
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
           e.duration_ms,
           e.type IN ('node.succeeded', 'node.interrupted', 'node.failed') AS executed
    FROM (SELECT r.id, r.created_at, r.workflow FROM runs r
          WHERE r.tenant_id = p_tenant AND r.created_at >= p_from AND r.created_at < p_to
          UNION ALL
          SELECT r.id, r.created_at, r.workflow FROM runs r
          WHERE r.tenant_id = p_tenant AND r.created_at >= p_from2 AND r.created_at < p_to2
         ) r
    JOIN run_events e ON e.run_id = r.id
    WHERE e.node IS NOT NULL AND e.type LIKE 'node.%'
), buckets AS (
    -- One row per node and sketch bucket of the executions' durations, and one (k NULL) for
    -- the node's other events: the counts add up over both.
    SELECT start, workflow, node,
           CASE WHEN executed AND duration_ms IS NOT NULL
                THEN flightdeck_sketch_key(duration_ms) END AS k,
           count(*) FILTER (WHERE executed)::int AS executions,
           count(*) FILTER (WHERE type = 'node.failed')::int AS failures,
           count(*) FILTER (WHERE type = 'node.retried')::int AS retries,
           min(id) AS first_event, count(*)::int AS n, min(duration_ms) AS lo,
           max(duration_ms) AS hi
    FROM events GROUP BY 1, 2, 3, 4
)
SELECT b.start, b.workflow, b.node, sum(b.executions)::int, sum(b.failures)::int,
       sum(b.retries)::int, min(b.first_event),
       CASE WHEN count(b.k) > 0
            THEN ROW(array_agg(b.k ORDER BY b.k) FILTER (WHERE b.k IS NOT NULL),
                     array_agg(b.n ORDER BY b.k) FILTER (WHERE b.k IS NOT NULL),
                     array_agg(b.lo ORDER BY b.k) FILTER (WHERE b.k IS NOT NULL),
                     array_agg(b.hi ORDER BY b.k) FILTER (WHERE b.k IS NOT NULL)
                    )::flightdeck_sketch END
FROM buckets b
GROUP BY b.start, b.workflow, b.node;
END
$$;

-- One range: the hour rows' function, as 0019 named it; its second range is empty.
CREATE OR REPLACE FUNCTION flightdeck_run_rollup(p_tenant uuid, p_from timestamptz,
                                                 p_to timestamptz)
    RETURNS TABLE (start timestamptz, workflow text, runs integer, succeeded integer,
                   failed integer, cancelled integer, in_progress integer,
                   succeeded_without_edit integer, approvals_decided integer,
                   approvals_accepted integer, measured_runs integer, baseline_minutes numeric,
                   staff_minutes numeric, minutes_saved numeric, quality_score_sum numeric,
                   annotation_scores integer, annotation_score_sum numeric, cx_scores integer,
                   cx_score_sum numeric, cx_labels jsonb, turnaround flightdeck_sketch,
                   cx_turnaround flightdeck_sketch)
    LANGUAGE sql STABLE
    AS $$ SELECT * FROM flightdeck_run_rollup(p_tenant, p_from, p_to, p_to, p_to) $$;

CREATE OR REPLACE FUNCTION flightdeck_node_rollup(p_tenant uuid, p_from timestamptz,
                                                  p_to timestamptz)
    RETURNS TABLE (start timestamptz, workflow text, node text, executions integer,
                   failures integer, retries integer, first_event bigint,
                   duration flightdeck_sketch)
    LANGUAGE sql STABLE
    AS $$ SELECT * FROM flightdeck_node_rollup(p_tenant, p_from, p_to, p_to, p_to) $$;

-- 0019's roll-up, with each span's end computed before the join: `h.start < d.day +
-- span_length` was no index condition, so rolling up a day read every hour row of the tenant
-- from that day to now (a day ten days back: 4,500 rows for 430).
CREATE OR REPLACE FUNCTION flightdeck_roll_up(p_tenant uuid, p_span text, starts timestamptz[]) RETURNS void
    LANGUAGE plpgsql
    SET plan_cache_mode = force_custom_plan
    AS $$
DECLARE
    parts text := CASE p_span WHEN 'day' THEN 'hour' WHEN 'week' THEN 'day' END;
    span_length interval := CASE p_span WHEN 'day' THEN interval '1 day' ELSE interval '7 days' END;
    days timestamptz[] := starts;
    ends timestamptz[] := ARRAY(SELECT s + span_length FROM unnest(starts) WITH ORDINALITY u(s, i)
                                ORDER BY i);
BEGIN
    DELETE FROM run_rollups WHERE tenant_id = p_tenant AND span = p_span AND start = ANY (days);
    DELETE FROM node_rollups WHERE tenant_id = p_tenant AND span = p_span AND start = ANY (days);
    INSERT INTO run_rollups
    WITH parts AS MATERIALIZED (
        SELECT d.day, h.*
        FROM unnest(days, ends) d(day, day_end)
        JOIN run_rollups h ON h.tenant_id = p_tenant AND h.span = parts
                          AND h.start >= d.day AND h.start < d.day_end
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
        FROM unnest(days, ends) d(day, day_end)
        JOIN node_rollups h ON h.tenant_id = p_tenant AND h.span = parts
                           AND h.start >= d.day AND h.start < d.day_end
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

DROP FUNCTION flightdeck_refresh_rollups(uuid);

-- The rollups of every hour a tenant's marks name that ended before `p_now`, recomputed from
-- the base tables; of the days and weeks those hours lie in that ended before `p_now`, and of
-- the pending ones that have ended since, rolled up from the rows below. Days and weeks of
-- those hours still under way are left pending. Returns how many hours were recomputed.
-- Works as the caller, under row-level security, within the tenant the transaction is scoped
-- to. Transactions that refresh the same tenant wait for each other (advisory lock), so the
-- rows a later one writes are computed from everything the earlier one saw. Its own statements
-- keep their plans from call to call (0019 planned each anew: about half a millisecond of a
-- one-hour refresh): they are index lookups whatever the values, and the functions they call
-- plan their own queries per call.
CREATE FUNCTION flightdeck_refresh_rollups(p_tenant uuid, p_now timestamptz DEFAULT now())
    RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    open_hour timestamptz := date_trunc('hour', p_now, 'UTC');
    open_day timestamptz := date_trunc('day', p_now, 'UTC');
    open_week timestamptz := date_trunc('week', p_now, 'UTC');
    hours timestamptz[];
    h timestamptz;
    days timestamptz[];
    weeks timestamptz[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rollup_marks WHERE tenant_id = p_tenant AND hour < open_hour)
       AND NOT EXISTS (SELECT 1 FROM rollup_pending
                       WHERE tenant_id = p_tenant AND span = 'day' AND start < open_day)
       AND NOT EXISTS (SELECT 1 FROM rollup_pending
                       WHERE tenant_id = p_tenant AND span = 'week' AND start < open_week)
    THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('flightdeck_refresh_rollups'),
                                  hashtext(p_tenant::text));
    WITH taken AS (
        DELETE FROM rollup_marks WHERE tenant_id = p_tenant AND hour < open_hour RETURNING hour
    )
    SELECT coalesce(array_agg(DISTINCT hour), '{}') INTO hours FROM taken;

    IF cardinality(hours) > 0 THEN
        DELETE FROM run_rollups
        WHERE tenant_id = p_tenant AND span = 'hour' AND start = ANY (hours);
        DELETE FROM node_rollups
        WHERE tenant_id = p_tenant AND span = 'hour' AND start = ANY (hours);
        FOREACH h IN ARRAY hours
        LOOP
            INSERT INTO run_rollups
            SELECT p_tenant, 'hour', f.*
            FROM flightdeck_run_rollup(p_tenant, h, h + interval '1 hour') f;
            INSERT INTO node_rollups
            SELECT p_tenant, 'hour', f.*
            FROM flightdeck_node_rollup(p_tenant, h, h + interval '1 hour') f;
        END LOOP;
        INSERT INTO rollup_pending (tenant_id, span, start)
        SELECT DISTINCT p_tenant, s.span, date_trunc(s.span, x, 'UTC')
        FROM unnest(hours) x, (VALUES ('day'), ('week')) s(span)
        WHERE date_trunc(s.span, x, 'UTC') >= CASE s.span WHEN 'day' THEN open_day
                                                          ELSE open_week END
        ON CONFLICT DO NOTHING;
    END IF;

    -- Days first: a week is rolled up from its days.
    WITH due AS (
        DELETE FROM rollup_pending
        WHERE tenant_id = p_tenant AND span = 'day' AND start < open_day
        RETURNING start
    )
    SELECT coalesce(array_agg(d), '{}') INTO days
    FROM (SELECT start FROM due
          UNION
          SELECT date_trunc('day', x, 'UTC') FROM unnest(hours) x
          WHERE date_trunc('day', x, 'UTC') < open_day) s(d);
    IF cardinality(days) > 0 THEN
        PERFORM flightdeck_roll_up(p_tenant, 'day', days);
    END IF;

    WITH due AS (
        DELETE FROM rollup_pending
        WHERE tenant_id = p_tenant AND span = 'week' AND start < open_week
        RETURNING start
    )
    SELECT coalesce(array_agg(w), '{}') INTO weeks
    FROM (SELECT start FROM due
          UNION
          SELECT date_trunc('week', x, 'UTC') FROM unnest(hours) x
          WHERE date_trunc('week', x, 'UTC') < open_week) s(w);
    IF cardinality(weeks) > 0 THEN
        PERFORM flightdeck_roll_up(p_tenant, 'week', weeks);
    END IF;
    RETURN cardinality(hours);
END
$$;

-- The day and week under way: their rows go, the spans wait until they have ended. As every
-- tenant at once (row-level security applies to the owner too where it is not a superuser).
DO $$
DECLARE
    open_day timestamptz := date_trunc('day', now(), 'UTC');
    open_week timestamptz := date_trunc('week', now(), 'UTC');
BEGIN
    PERFORM set_config('app.tenant_ids', (SELECT coalesce(string_agg(id::text, ','), '')
                                          FROM tenants), true);
    INSERT INTO rollup_pending (tenant_id, span, start)
    SELECT DISTINCT tenant_id, span, start FROM run_rollups
    WHERE span = 'day' AND start >= open_day OR span = 'week' AND start >= open_week
    UNION
    SELECT DISTINCT tenant_id, span, start FROM node_rollups
    WHERE span = 'day' AND start >= open_day OR span = 'week' AND start >= open_week;
    DELETE FROM run_rollups
    WHERE span = 'day' AND start >= open_day OR span = 'week' AND start >= open_week;
    DELETE FROM node_rollups
    WHERE span = 'day' AND start >= open_day OR span = 'week' AND start >= open_week;
    PERFORM set_config('app.tenant_ids', '', true);
END
$$;
