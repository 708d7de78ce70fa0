-- Webhook intake in one round trip: the run, its `run.queued` event and the check that the
-- secret which verified the delivery is still valid, in one statement
-- (`flightdeck.store.runs.start_run`).
--
-- The API keeps the tenant and the secrets a webhook may be verified with in a per-process
-- cache (`flightdeck.store.tenants.webhook_keyring`); Postgres stays the authority on validity
-- because the insert itself checks, under the same snapshot, that the tenant still has this
-- slug and that the secret version that matched is still valid for the workflow. A secret
-- expired or revoked a moment ago therefore refuses at once in every process, as before.

-- The webhook lookup now also names the version ids of secrets not moved to Secrets Manager
-- yet, so the secret that verified a delivery is known by its id whichever way it is stored.
DROP FUNCTION flightdeck_webhook_secrets(text, text);
CREATE FUNCTION flightdeck_webhook_secrets(p_slug text, p_workflow text)
    RETURNS TABLE (tenant_id uuid, secrets text[], secret_names text[], secret_ids uuid[],
                   plain_ids uuid[])
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    found uuid;
BEGIN
    SELECT t.id INTO found FROM tenants t WHERE t.slug = p_slug;
    IF found IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('app.tenant_ids', found::text, true);
    RETURN QUERY
        SELECT found,
               coalesce(array_agg(s.secret ORDER BY s.created_at DESC)
                        FILTER (WHERE s.secret IS NOT NULL), '{}'::text[]),
               coalesce(array_agg(s.secret_name ORDER BY s.created_at DESC)
                        FILTER (WHERE s.secret IS NULL), '{}'::text[]),
               coalesce(array_agg(s.id ORDER BY s.created_at DESC)
                        FILTER (WHERE s.secret IS NULL), '{}'::uuid[]),
               coalesce(array_agg(s.id ORDER BY s.created_at DESC)
                        FILTER (WHERE s.secret IS NOT NULL), '{}'::uuid[])
        FROM webhook_secrets s
        WHERE s.tenant_id = found
          AND (s.workflow IS NULL OR s.workflow = p_workflow)
          AND (s.expires_at IS NULL OR s.expires_at > now());
END
$$;

GRANT EXECUTE ON FUNCTION flightdeck_webhook_secrets(text, text) TO flightdeck_app;

-- A queued run and its `run.queued` event, or the run that already holds the idempotency key.
-- Works as the caller (row-level security applies) within the tenant `p_tenant`, which it sets
-- for the rest of the transaction as `flightdeck.store.db.scoped` does. With `p_secret`, the
-- run is inserted only while that webhook secret version of the tenant named `p_slug` is valid
-- for `p_workflow`; otherwise nothing is written and the outcome is 'refused'.
-- Outcome: 'created', 'existing' (the run holding the key, whatever its payload) or 'refused'.
CREATE FUNCTION flightdeck_start_run(
    p_id uuid, p_tenant uuid, p_workflow text, p_version text, p_key text, p_source text,
    p_payload jsonb, p_ref text, p_sha256 bytea, p_execution text, p_rerun_of uuid,
    p_sealed boolean, p_queued jsonb, p_slug text, p_secret uuid)
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
                      execution_name, rerun_of, trigger_sealed)
        VALUES (p_id, p_tenant, p_workflow, p_version, 'queued', p_key, p_source, p_payload,
                p_ref, p_sha256, p_execution, p_rerun_of, p_sealed)
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
    uuid, uuid, text, text, text, text, jsonb, text, bytea, text, uuid, boolean, jsonb, text, uuid)
    TO flightdeck_app;
