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

-- Days and weeks whose rows must be rolled up (again) once they have ended.
CREATE TABLE rollup_pending (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    span       text NOT NULL CHECK (span IN ('day', 'week')),
    start      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, span, start)
);

SELECT flightdeck_isolate_tenants('rollup_pending');

DROP FUNCTION flightdeck_refresh_rollups(uuid);

-- The rollups of every hour a tenant's marks name that ended before `p_now`, recomputed from
-- the base tables; of the days and weeks those hours lie in that ended before `p_now`, and of
-- the pending ones that have ended since, rolled up from the rows below. Days and weeks of
-- those hours still under way are left pending. Returns how many hours were recomputed.
-- Works as the caller, under row-level security, within the tenant the transaction is scoped
-- to. Transactions that refresh the same tenant wait for each other (advisory lock), so the
-- rows a later one writes are computed from everything the earlier one saw.
CREATE FUNCTION flightdeck_refresh_rollups(p_tenant uuid, p_now timestamptz DEFAULT now())
    RETURNS integer
    LANGUAGE plpgsql
    SET plan_cache_mode = force_custom_plan
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
