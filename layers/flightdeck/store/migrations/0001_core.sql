-- Tenants, tokens, runs, run events, approvals, outbox, outcomes and seeded knowledge.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Tokens are shown once; only a SHA-256 of the secret part is kept. `prefix` identifies a token
-- in lists and logs without revealing it.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    prefix        text NOT NULL UNIQUE,
    secret_hash   bytea NOT NULL,
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    name          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

-- Standard Webhooks secrets; several may be valid at once so senders can rotate.
-- `workflow` NULL means the secret is valid for every workflow of the tenant.
CREATE TABLE webhook_secrets (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    workflow    text,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);
CREATE INDEX webhook_secrets_tenant ON webhook_secrets (tenant_id, workflow);

CREATE TABLE runs (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    workflow          text NOT NULL,
    workflow_version  text NOT NULL,
    status            text NOT NULL CHECK (status IN (
                          'queued', 'running', 'waiting_for_approval',
                          'succeeded', 'failed', 'cancelled')),
    idempotency_key   text NOT NULL,
    trigger_source    text NOT NULL CHECK (trigger_source IN ('webhook', 'api', 'schedule')),
    -- The trigger body: inline when small, else a pointer to S3 (s3://bucket/key).
    trigger_payload   jsonb,
    trigger_ref       text,
    trigger_sha256    bytea NOT NULL,
    execution_name    text NOT NULL,
    current_node      text,
    error_type        text,
    error_message     text,
    failed_node       text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT runs_idempotency UNIQUE (tenant_id, idempotency_key),
    CONSTRAINT runs_trigger_present CHECK (trigger_payload IS NOT NULL OR trigger_ref IS NOT NULL)
);
CREATE INDEX runs_tenant_created ON runs (tenant_id, created_at DESC, id DESC);
CREATE INDEX runs_tenant_status ON runs (tenant_id, status, created_at DESC);

CREATE TABLE run_events (
    id             bigserial PRIMARY KEY,
    run_id         uuid NOT NULL REFERENCES runs (id),
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    type           text NOT NULL,
    node           text,
    attempt        integer,
    duration_ms    double precision,
    error_type     text,
    error_message  text,
    -- For node.succeeded / node.interrupted: the Step Functions state entry that produced it,
    -- so a retried invocation of the same entry is answered without running the node again.
    invocation     text,
    data           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX run_events_run ON run_events (run_id, id);
CREATE UNIQUE INDEX run_events_invocation ON run_events (run_id, invocation)
    WHERE invocation IS NOT NULL;

CREATE TABLE approvals (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    run_id          uuid NOT NULL REFERENCES runs (id),
    node            text NOT NULL,
    interrupt_id    text NOT NULL,
    request         jsonb NOT NULL,
    status          text NOT NULL CHECK (status IN (
                        'pending', 'approved', 'rejected', 'edited', 'timed_out')),
    -- Never returned by the API: whoever holds it can complete the run's wait state.
    task_token      text,
    decision        jsonb,
    decided_by      text,
    decided_at      timestamptz,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT approvals_one_per_interrupt UNIQUE (run_id, interrupt_id)
);
CREATE INDEX approvals_tenant_status ON approvals (tenant_id, status, created_at);

-- Side effects of `act` nodes. The key makes a retried node find its effect instead of
-- repeating it.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    run_id        uuid NOT NULL REFERENCES runs (id),
    node          text NOT NULL,
    key           text NOT NULL,
    kind          text NOT NULL,
    payload       jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz,
    CONSTRAINT outbox_key UNIQUE (run_id, key)
);
CREATE INDEX outbox_pending ON outbox (status, created_at) WHERE status = 'pending';

-- The before/after snapshot of a run, for the business-outcome view.
CREATE TABLE run_outcomes (
    run_id              uuid PRIMARY KEY REFERENCES runs (id),
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    workflow            text NOT NULL,
    baseline_minutes    double precision NOT NULL,
    staff_minutes       double precision NOT NULL,
    turnaround_seconds  double precision NOT NULL,
    quality_score       double precision NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    data                jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE knowledge_articles (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    title       text NOT NULL,
    body        text NOT NULL,
    tags        text[] NOT NULL DEFAULT '{}',
    search      tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', title), 'A') ||
                    setweight(to_tsvector('english', body), 'B')) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT knowledge_title UNIQUE (tenant_id, title)
);
CREATE INDEX knowledge_search ON knowledge_articles USING gin (search);
