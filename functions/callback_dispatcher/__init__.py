"""Delivers due outbound callbacks (run.succeeded, run.failed, approval.requested)."""
