"""Workflow packages. Each subpackage exports `WORKFLOW`; adding one registers it."""
