-- Tenant isolation enforced by Postgres underneath every query.
--
-- The application works as the non-owner role `flightdeck_app` (the pool runs SET ROLE on each
-- new connection); migrations run as the owner. Each transaction names its tenant(s) with
-- SET LOCAL app.tenant_ids = '<uuid>[,<uuid>...]'; with none set, no tenant row is visible.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flightdeck_app') THEN
        CREATE ROLE flightdeck_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;
GRANT flightdeck_app TO CURRENT_USER;

CREATE FUNCTION flightdeck_current_tenants() RETURNS uuid[]
    LANGUAGE sql STABLE
    AS $$
        SELECT coalesce(
            string_to_array(nullif(current_setting('app.tenant_ids', true), ''), ',')::uuid[],
            '{}'::uuid[])
    $$;

-- Every tenant table (one with a tenant_id column) is isolated the same way; later migrations
-- call this for the tables they add.
CREATE FUNCTION flightdeck_isolate_tenants(VARIADIC tables text[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY tables
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I'
            ' USING (tenant_id = ANY (flightdeck_current_tenants()))'
            ' WITH CHECK (tenant_id = ANY (flightdeck_current_tenants()))', t);
        EXECUTE format(
            'GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO flightdeck_app', t);
    END LOOP;
END
$$;

SELECT flightdeck_isolate_tenants('webhook_secrets', 'runs', 'run_events', 'approvals',
                                  'outbox', 'run_outcomes', 'knowledge_articles');

GRANT USAGE ON SCHEMA public TO flightdeck_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO flightdeck_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO flightdeck_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO flightdeck_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO flightdeck_app;
