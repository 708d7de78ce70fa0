-- The business id of a run's trigger (a ticket id, an order number) as a plain column, so the
-- run list's `trigger_id` search is an index lookup.
--
-- The search matched `trigger_payload @> {"<field>": "<id>"}` for every workflow's declared id
-- field. jsonb's operators are not leakproof, so under the tenant policy Postgres may not use
-- them as index conditions: for the application role every search read all the tenant's runs
-- (150 ms at 366,000 runs, `bench/million_runs.py`). Text equality is leakproof: the id is now
-- written with the run, from its workflow's `trigger_id_field` (`Workflow.trigger_id`), and
-- found through `runs_tenant_trigger_id`. A run whose workflow declares no id field has none;
-- the search still finds every run by its idempotency key.
ALTER TABLE runs ADD COLUMN trigger_id text;

-- Runs written before this migration: the id field the shipped workflows declare (only
-- support_triage names one, `ticket_id`). The field is never sealed (it is no personal data);
-- a trigger kept in S3 (`trigger_ref`) is not in this column, and such a run stays without an
-- id (its key still finds it). Runs written from now on get theirs from the engine.
UPDATE runs SET trigger_id = trigger_payload ->> 'ticket_id'
WHERE workflow = 'support_triage' AND trigger_payload ? 'ticket_id';

CREATE INDEX runs_tenant_trigger_id ON runs (tenant_id, trigger_id, created_at, id)
    WHERE trigger_id IS NOT NULL;

-- The webhook intake's function (0017) writes the id too.
DROP FUNCTION flightdeck_start_run(
    uuid, uuid, text, text, text, text, jsonb, text, bytea, text, uuid, boolean, jsonb, text, uuid);
CREATE FUNCTION flightdeck_start_run(
    p_id uuid, p_tenant uuid, p_workflow text, p_version text, p_key text, p_source text,
    p_payload jsonb, p_ref text, p_sha256 bytea, p_execution text, p_rerun_of uuid,
    p_sealed boolean, p_queued jsonb, p_slug text, p_secret uuid, p_trigger_id text)
    RETURNS TABLE (outcome text, run runs)
    LANGUAGE plpgsql
    AS $$
DECLARE
    r runs;
BEGIN
    PERFORM set_config('app.tenant_ids', p_tenant::text, true);
    IF p_secret IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM webhook_secrets s JOIN tenants t ON t.id = s.tenant_id
        WHERE s.id = p_secret AND s.tenant_id = p_tenant AND t.slug = p_slug
          AND (s.workflow IS NULL OR s.workflow = p_workflow)
          AND (s.expires_at IS NULL OR s.expires_at > now())
    ) THEN
        RETURN QUERY SELECT 'refused'::text, NULL::runs;
        RETURN;
    END IF;
    INSERT INTO runs (id, tenant_id, workflow, workflow_version, status, idempotency_key,
                      trigger_source, trigger_payload, trigger_ref, trigger_sha256,
                      execution_name, rerun_of, trigger_sealed, trigger_id)
        VALUES (p_id, p_tenant, p_workflow, p_version, 'queued', p_key, p_source, p_payload,
                p_ref, p_sha256, p_execution, p_rerun_of, p_sealed, p_trigger_id)
        ON CONFLICT DO NOTHING
        RETURNING * INTO r;
    IF FOUND THEN
        INSERT INTO run_events (run_id, tenant_id, type, data)
            VALUES (p_id, p_tenant, 'run.queued', p_queued);
        RETURN QUERY SELECT 'created'::text, r;
        RETURN;
    END IF;
    -- A concurrent insert of the same key waited for the winner to commit: read it.
    SELECT * INTO r FROM runs WHERE runs.tenant_id = p_tenant AND runs.idempotency_key = p_key;
    RETURN QUERY SELECT 'existing'::text, r;
END
$$;

GRANT EXECUTE ON FUNCTION flightdeck_start_run(
    uuid, uuid, text, text, text, text, jsonb, text, bytea, text, uuid, boolean, jsonb, text, uuid,
    text) TO flightdeck_app;
