"""Data access: Postgres (runs, events, approvals, outbox, checkpoints) and S3 payloads.

Only this package talks to psycopg and boto3's S3; the engine and the API are handed a
connection or a store and never build one themselves.
"""
