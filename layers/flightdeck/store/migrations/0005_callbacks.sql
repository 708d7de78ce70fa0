-- Outbound callbacks: where each tenant wants to hear about its runs, and every delivery made.
--
-- A delivery is addressed to (tenant, workflow); the URL and secret are resolved when it is
-- sent, so fixing a wrong URL also fixes the deliveries still waiting for their retry. `url`
-- keeps where it was last sent, for the run's delivery log.

-- One callback URL per tenant and workflow, set through the admin API. `secret` signs the
-- deliveries (Standard Webhooks, `whsec_...`); after a rotation the previous secret signs too
-- until `previous_secret_expires_at`, so receivers can switch without losing a delivery.
CREATE TABLE callback_endpoints (
    id                          uuid PRIMARY KEY,
    tenant_id                   uuid NOT NULL REFERENCES tenants (id),
    workflow                    text NOT NULL,
    url                         text NOT NULL CHECK (url ~ '^https?://'),
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT callback_endpoints_one_per_workflow UNIQUE (tenant_id, workflow)
);

-- The tenant's default signing secret, for workflows whose manifest names a callback URL and
-- that the tenant has not configured an endpoint for. Created on first need.
CREATE TABLE callback_secrets (
    tenant_id                   uuid PRIMARY KEY REFERENCES tenants (id),
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- The delivery log. `id` is the Standard Webhooks `webhook-id`: the same on every retry, so
-- receivers deduplicate. `event_key` makes enqueueing idempotent (one `run.succeeded` per run,
-- one `approval.requested` per approval, one `run.failed` per execution).
CREATE TABLE callback_deliveries (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    run_id            uuid NOT NULL REFERENCES runs (id),
    workflow          text NOT NULL,
    event_type        text NOT NULL CHECK (event_type IN (
                          'run.succeeded', 'run.failed', 'approval.requested')),
    event_key         text NOT NULL,
    payload           jsonb NOT NULL,
    url               text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When a pending delivery is due; while an attempt is in flight, the end of its lease.
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_status_code  integer,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at      timestamptz,
    CONSTRAINT callback_deliveries_once UNIQUE (run_id, event_key)
);
CREATE INDEX callback_deliveries_due ON callback_deliveries (tenant_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX callback_deliveries_run ON callback_deliveries (run_id, created_at);

SELECT flightdeck_isolate_tenants(
    'callback_endpoints', 'callback_secrets', 'callback_deliveries');
