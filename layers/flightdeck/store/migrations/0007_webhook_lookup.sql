-- One round trip from a webhook's tenant slug to the secrets that may have signed it.
--
-- Verifying a signature comes before anything else the request may do, so this is the one
-- place a lookup starts from a slug rather than a tenant id; the function names the tenant for
-- the rest of its own (single-statement) transaction, so row-level security still applies.

CREATE FUNCTION flightdeck_webhook_secrets(p_slug text, p_workflow text)
    RETURNS TABLE (tenant_id uuid, secrets text[])
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
        SELECT found, coalesce(array_agg(s.secret ORDER BY s.created_at DESC), '{}'::text[])
        FROM webhook_secrets s
        WHERE s.tenant_id = found
          AND (s.workflow IS NULL OR s.workflow = p_workflow)
          AND (s.expires_at IS NULL OR s.expires_at > now());
END
$$;

GRANT EXECUTE ON FUNCTION flightdeck_webhook_secrets(text, text) TO flightdeck_app;
