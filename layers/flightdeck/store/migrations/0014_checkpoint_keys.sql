-- Data keys that encrypt a tenant's LangGraph checkpoints (`flightdeck.engine.checkpoint_keys`):
-- AES-256 keys made by KMS under the trigger key, kept here only as KMS ciphertext (the tenant
-- and the purpose in the encryption context). A newer generation encrypts what is written from
-- then on; older ones stay to open what they encrypted. Checkpoints written before this version
-- stay readable as they are.
CREATE TABLE tenant_data_keys (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    purpose        text NOT NULL CHECK (purpose IN ('checkpoints')),
    generation     integer NOT NULL DEFAULT 1 CHECK (generation >= 1),
    encrypted_key  bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_data_keys_generation UNIQUE (tenant_id, purpose, generation)
);

SELECT flightdeck_isolate_tenants('tenant_data_keys');
