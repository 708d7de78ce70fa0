-- What the full API needs: admin grants across tenants, re-runs, cancelled approvals,
-- escalation, and filtering runs by trigger fields.

-- An admin token of `grantee_tenant_id` (the agency) may act on `tenant_id` (a client).
CREATE TABLE tenant_grants (
    grantee_tenant_id  uuid NOT NULL REFERENCES tenants (id),
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (grantee_tenant_id, tenant_id)
);

ALTER TABLE runs ADD COLUMN rerun_of uuid REFERENCES runs (id);
CREATE INDEX runs_trigger ON runs USING gin (trigger_payload jsonb_path_ops);
CREATE INDEX runs_tenant_workflow ON runs (tenant_id, workflow, created_at DESC);

ALTER TABLE approvals DROP CONSTRAINT approvals_status_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_status_check CHECK (status IN (
    'pending', 'escalated', 'approved', 'rejected', 'edited', 'timed_out', 'cancelled'));
ALTER TABLE approvals ADD COLUMN escalated_at timestamptz;

GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_grants TO flightdeck_app;
