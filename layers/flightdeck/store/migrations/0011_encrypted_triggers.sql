-- Trigger payloads stored encrypted field by field (`flightdeck.store.sealing`).
--
-- From this version on, a run's trigger (`trigger_payload`, or the S3 object `trigger_ref`
-- points to when it is large) keeps its personal fields as envelopes
-- {"$sealed": "esdk-kms/1", "ciphertext": "..."}: AWS Encryption SDK messages under the
-- trigger KMS key. Nothing is rewritten here: a payload stored before this version stays as it
-- was and stays readable (a value without the envelope marker is read as it is), and
-- `trigger_sealed` says which rows still hold plaintext. `python -m flightdeck.engine.seal_triggers`
-- (docs/architecture.md, "Personal data") encrypts them in place, batch by batch, and sets it.
ALTER TABLE runs ADD COLUMN trigger_sealed boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN runs.trigger_sealed IS
    'true when the trigger''s personal fields are KMS-encrypted envelopes (inline or in S3)';

-- What the sealing command looks for: the rows still in plaintext, oldest first.
CREATE INDEX runs_plaintext_triggers ON runs (tenant_id, created_at, id) WHERE NOT trigger_sealed;
