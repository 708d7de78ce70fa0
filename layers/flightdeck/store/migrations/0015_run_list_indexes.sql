-- The run list at a million runs, and time to benefit without reading every outcome.
--
-- `GET /v1/runs` reads one keyset page ordered by (created_at, id), newest first, with any of
-- the dashboard's filters. Each filter that narrows the tenant's runs to a small share gets an
-- index that yields its rows already in that order, so a page (first or deep, through the
-- cursor) reads about fifty index entries whatever the tenant's size:
--   no filter, time range, deep page      runs_tenant_created_covering
--   status                                runs_tenant_status_created
--   workflow                              runs_tenant_workflow_created
--   source                                runs_tenant_source_created
--   trigger fields / trigger id           none the application role can use: jsonb's @> is not
--                                         leakproof, so under row-level security runs_trigger
--                                         (0006) cannot serve it (docs/architecture.md)
-- The status and workflow indexes of 0001 and 0006 ended at created_at: the keyset's id was a
-- filter and ties needed a sort. These replace them, and 0001's runs_tenant_created, with the
-- same leading columns, so every query that used the old ones can use the new ones.
--
-- Built in this transaction, so writes to runs wait meanwhile; on a large table they can be
-- built beforehand with CREATE INDEX CONCURRENTLY under these names (docs/architecture.md).

-- The tenant's runs by time also carry their status and workflow, so the counts per day of
-- technical health (`insights.runs_per_day`) read the window from the index alone.
DROP INDEX IF EXISTS runs_tenant_created;
CREATE INDEX IF NOT EXISTS runs_tenant_created_covering
    ON runs (tenant_id, created_at DESC, id DESC) INCLUDE (status, workflow);

DROP INDEX IF EXISTS runs_tenant_status;
CREATE INDEX IF NOT EXISTS runs_tenant_status_created ON runs (tenant_id, status, created_at, id);

DROP INDEX IF EXISTS runs_tenant_workflow;
CREATE INDEX IF NOT EXISTS runs_tenant_workflow_created
    ON runs (tenant_id, workflow, created_at, id);

CREATE INDEX IF NOT EXISTS runs_tenant_source_created
    ON runs (tenant_id, trigger_source, created_at, id);

-- Minutes saved per run's UTC trigger day: time to benefit (`insights.benefit`) adds these up
-- instead of every outcome the tenant ever recorded. Kept by a trigger on run_outcomes, so every
-- writer (the engine, the demo history, a manual fix) keeps it exact: a snapshot recorded,
-- replaced or deleted moves its run's day by the difference. The day and workflow are the
-- run's, which never change. numeric, so adding and taking away leaves no rounding behind.
CREATE TABLE run_outcome_days (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    workflow       text NOT NULL,
    day            timestamptz NOT NULL,  -- midnight UTC of the runs' created_at
    outcomes       integer NOT NULL,
    minutes_saved  numeric NOT NULL,
    PRIMARY KEY (tenant_id, workflow, day)
);

SELECT flightdeck_isolate_tenants('run_outcome_days');

CREATE FUNCTION flightdeck_roll_up_outcome() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT tenant_id, workflow, date_trunc('day', created_at, 'UTC') AS day INTO r
            FROM runs WHERE id = OLD.run_id;
        UPDATE run_outcome_days SET outcomes = outcomes - 1,
               minutes_saved = minutes_saved
                   - greatest(OLD.baseline_minutes - OLD.staff_minutes, 0)::numeric
         WHERE tenant_id = r.tenant_id AND workflow = r.workflow AND day = r.day;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT tenant_id, workflow, date_trunc('day', created_at, 'UTC') AS day INTO r
            FROM runs WHERE id = NEW.run_id;
        INSERT INTO run_outcome_days AS d (tenant_id, workflow, day, outcomes, minutes_saved)
        VALUES (r.tenant_id, r.workflow, r.day, 1,
                greatest(NEW.baseline_minutes - NEW.staff_minutes, 0)::numeric)
        ON CONFLICT (tenant_id, workflow, day) DO UPDATE
            SET outcomes = d.outcomes + 1,
                minutes_saved = d.minutes_saved + EXCLUDED.minutes_saved;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER run_outcomes_roll_up
    AFTER INSERT OR DELETE OR UPDATE OF run_id, baseline_minutes, staff_minutes ON run_outcomes
    FOR EACH ROW EXECUTE FUNCTION flightdeck_roll_up_outcome();

INSERT INTO run_outcome_days (tenant_id, workflow, day, outcomes, minutes_saved)
SELECT r.tenant_id, r.workflow, date_trunc('day', r.created_at, 'UTC'), count(*),
       sum(greatest(o.baseline_minutes - o.staff_minutes, 0)::numeric)
FROM run_outcomes o JOIN runs r ON r.id = o.run_id
GROUP BY 1, 2, 3;
