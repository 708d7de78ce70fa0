-- Telemetry kept beside the runs it describes: the span store (the local exporter of the
-- OpenTelemetry traces, one trace per run) and the cost ledger (one row per priced execution:
-- a node's Lambda invocation, or the API request that started a run).

CREATE TABLE run_spans (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    run_id          uuid NOT NULL REFERENCES runs (id),
    trace_id        text NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    span_id         text NOT NULL CHECK (span_id ~ '^[0-9a-f]{16}$'),
    parent_span_id  text CHECK (parent_span_id ~ '^[0-9a-f]{16}$'),
    name            text NOT NULL,
    -- What the span stands for: the API request, a Step Functions execution, a node, a model call.
    kind            text NOT NULL CHECK (kind IN ('api', 'execution', 'node', 'model', 'other')),
    started_at      timestamptz NOT NULL,
    -- NULL while it lasts (an execution span is written when the execution starts).
    ended_at        timestamptz,
    status          text NOT NULL DEFAULT 'unset' CHECK (status IN ('unset', 'ok', 'error')),
    attributes      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX run_spans_run ON run_spans (run_id, started_at);

CREATE TABLE cost_entries (
    id                  bigserial PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    run_id              uuid NOT NULL REFERENCES runs (id),
    workflow            text NOT NULL,
    -- NULL for the API request that started the run.
    node                text,
    attempt             integer,
    occurred_at         timestamptz NOT NULL DEFAULT now(),
    input_tokens        bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens       bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    -- Tokens of models the price table does not list: counted, not priced.
    unpriced_tokens     bigint NOT NULL DEFAULT 0 CHECK (unpriced_tokens >= 0),
    model_usd           numeric(18, 10) NOT NULL DEFAULT 0,
    lambda_requests     integer NOT NULL DEFAULT 0,
    lambda_gb_seconds   numeric(18, 6) NOT NULL DEFAULT 0,
    lambda_usd          numeric(18, 10) NOT NULL DEFAULT 0,
    state_transitions   integer NOT NULL DEFAULT 0,
    stepfunctions_usd   numeric(18, 10) NOT NULL DEFAULT 0,
    api_requests        integer NOT NULL DEFAULT 0,
    api_usd             numeric(18, 10) NOT NULL DEFAULT 0,
    -- The price table's date: which prices made these figures.
    prices_as_of        date NOT NULL
);
CREATE INDEX cost_entries_month ON cost_entries (tenant_id, occurred_at);
CREATE INDEX cost_entries_run ON cost_entries (run_id);

SELECT flightdeck_isolate_tenants('run_spans', 'cost_entries');
