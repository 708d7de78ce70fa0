-- The dashboard's sign-in: one-time codes (sent as links) exchanged for short-lived session
-- tokens. Neither table is tenant-isolated: both are looked up by a secret's hash before any
-- tenant is known, like api_tokens.

ALTER TABLE api_tokens ADD COLUMN kind text NOT NULL DEFAULT 'api'
    CHECK (kind IN ('api', 'session'));
-- NULL: the token works until revoked (API tokens); session tokens always expire.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_session_expires
    CHECK (kind = 'api' OR expires_at IS NOT NULL);

CREATE TABLE sign_in_codes (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    -- Only a SHA-256 of the code is kept; the code itself is shown once.
    code_hash    bytea NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('viewer', 'operator')),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    -- The session token the code was exchanged for.
    token_id     uuid REFERENCES api_tokens (id)
);
CREATE INDEX sign_in_codes_tenant ON sign_in_codes (tenant_id, created_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON sign_in_codes TO flightdeck_app;
