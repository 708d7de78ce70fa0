-- Signing secrets move to AWS Secrets Manager (`flightdeck.store.secrets`); Postgres keeps their
-- metadata: which Secrets Manager secret holds them, their version ids, created and expiry
-- times, and a short prefix for lists.
--
-- SQL cannot call AWS, so this migration only adds the metadata columns and lets the plaintext
-- columns be empty. The move itself (`flightdeck.store.secrets_move.move_secrets`, run after
-- the migrations by the deploy-time migrator and by `make dev`) copies each plaintext secret
-- into Secrets Manager, reads it back, and only then clears the column. Until a row is moved
-- its plaintext keeps verifying and signing, so no secret stops working at any point.
--
-- Code deployed before this migration keeps working against it until its own update: it
-- writes plaintext rows without the new columns (hence `secret_prefix` may be empty, and
-- readers fall back to the plaintext's first characters), which the next move picks up.

-- Every tenant's rows, for the backfills below (row-level security is forced on the owner too).
SELECT set_config('app.tenant_ids', coalesce((SELECT string_agg(id::text, ',') FROM tenants), ''),
                  true);

-- Webhook secrets: one row per version; `secret_name` is the Secrets Manager secret holding
-- it (by tenant and workflow scope), the row's id its version id there.
ALTER TABLE webhook_secrets
    ALTER COLUMN secret DROP NOT NULL,
    ADD COLUMN secret_name text,
    ADD COLUMN secret_prefix text;
UPDATE webhook_secrets SET secret_prefix = left(secret, 10) WHERE secret IS NOT NULL;
ALTER TABLE webhook_secrets
    ADD CONSTRAINT webhook_secrets_stored CHECK (secret IS NOT NULL OR secret_name IS NOT NULL);

-- Callback secrets: the current and the previous (rotated-out, still signing until
-- `previous_secret_expires_at`) version ids within the Secrets Manager secret `secret_name`.
ALTER TABLE callback_endpoints
    ALTER COLUMN secret DROP NOT NULL,
    ADD COLUMN secret_name text,
    ADD COLUMN secret_prefix text,
    ADD COLUMN secret_version uuid,
    ADD COLUMN previous_version uuid;
UPDATE callback_endpoints SET secret_prefix = left(secret, 10) WHERE secret IS NOT NULL;
ALTER TABLE callback_endpoints
    ADD CONSTRAINT callback_endpoints_stored CHECK (
        secret IS NOT NULL OR (secret_name IS NOT NULL AND secret_version IS NOT NULL));

ALTER TABLE callback_secrets
    ALTER COLUMN secret DROP NOT NULL,
    ADD COLUMN secret_name text,
    ADD COLUMN secret_prefix text,
    ADD COLUMN secret_version uuid,
    ADD COLUMN previous_version uuid;
UPDATE callback_secrets SET secret_prefix = left(secret, 10) WHERE secret IS NOT NULL;
ALTER TABLE callback_secrets
    ADD CONSTRAINT callback_secrets_stored CHECK (
        secret IS NOT NULL OR (secret_name IS NOT NULL AND secret_version IS NOT NULL));

-- The webhook lookup (0007) now answers, in the same one round trip, the plaintext of rows not
-- moved yet and the (secret name, version id) of moved ones; the caller takes their material
-- from its Secrets Manager cache.
DROP FUNCTION flightdeck_webhook_secrets(text, text);
CREATE FUNCTION flightdeck_webhook_secrets(p_slug text, p_workflow text)
    RETURNS TABLE (tenant_id uuid, secrets text[], secret_names text[], secret_ids uuid[])
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
                        FILTER (WHERE s.secret IS NULL), '{}'::uuid[])
        FROM webhook_secrets s
        WHERE s.tenant_id = found
          AND (s.workflow IS NULL OR s.workflow = p_workflow)
          AND (s.expires_at IS NULL OR s.expires_at > now());
END
$$;

GRANT EXECUTE ON FUNCTION flightdeck_webhook_secrets(text, text) TO flightdeck_app;
