-- Outcome rollups (0019, 0021): a read recomputes the hours it needs and rolls up nothing.
--
-- Under 0021 a read that found a mark of an ended hour recomputed that hour and then, when the
-- hour's day (or week) had ended too, rolled up the day (and the week) before answering. A run
-- of the last hour of a day that finishes after midnight, an approval decided the next day or
-- the first read of a new day each made the next read pay the day's roll-up (about 12 ms at the
-- largest tenant of `bench/million_runs.py`) and on Mondays the week's (about 20 ms): figures
-- read right after a write of the hour before took 29 ms p50 just after midnight UTC, 17 ms at
-- other hours (budget: 20 ms at p95).
--
-- Now a read passes `p_roll_up => false`: the marked hours that have ended are recomputed, and
-- their days and weeks are left in `rollup_pending` whether they have ended or not. The read
-- (`insights._pieces`) takes a pending day that has ended from its hours and a pending week
-- from its days (those pending from their hours), so its answers stay exact. The periodic
-- sweep (`flightdeck.engine.sweeper`, every minute), which already took the tenants with
-- pending days and weeks that have ended, rolls them up (`p_roll_up` true, the default).

DROP FUNCTION flightdeck_refresh_rollups(uuid, timestamptz);

-- The rollups of every hour a tenant's marks name that ended before `p_now`, recomputed from
-- the base tables. With `p_roll_up`: also the days and weeks those hours lie in that ended
-- before `p_now`, and the pending ones that have ended since, rolled up from the rows below;
-- days and weeks still under way are left pending. Without: every day and week of those hours
-- is left pending, and nothing is rolled up. Returns how many hours were recomputed. Works as
-- the caller, under row-level security, within the tenant the transaction is scoped to.
-- Transactions that refresh the same tenant wait for each other (advisory lock), so the rows a
-- later one writes are computed from everything the earlier one saw.
CREATE FUNCTION flightdeck_refresh_rollups(p_tenant uuid, p_now timestamptz DEFAULT now(),
                                           p_roll_up boolean DEFAULT true)
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
       AND (NOT p_roll_up
            OR NOT EXISTS (SELECT 1 FROM rollup_pending
                           WHERE tenant_id = p_tenant AND span = 'day' AND start < open_day)
               AND NOT EXISTS (SELECT 1 FROM rollup_pending
                               WHERE tenant_id = p_tenant AND span = 'week'
                                 AND start < open_week))
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
        WHERE NOT p_roll_up
           OR date_trunc(s.span, x, 'UTC') >= CASE s.span WHEN 'day' THEN open_day
                                                          ELSE open_week END
        ON CONFLICT DO NOTHING;
    END IF;
    IF NOT p_roll_up THEN
        RETURN cardinality(hours);
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
