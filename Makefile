# Flightdeck: `make dev` runs the platform locally, `make test` runs lint and every test tier.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: dev install test lint format test-unit test-integration test-e2e bench openapi clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || "$$(scripts/pick-python.sh)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

dev: install ## run the platform on embedded Postgres and the AWS emulator
	$(PY) -m flightdeck.local.dev

lint: install ## ruff (lint and format check) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test-unit: install
	$(PYTEST) tests/unit

test-integration: install
	$(PYTEST) tests/integration

test-e2e: install
	$(PYTEST) tests/e2e

test: lint test-unit test-integration test-infra test-e2e ## everything CI runs

openapi: install ## regenerate docs/openapi.json, the committed API contract
	$(PY) scripts/export_openapi.py

bench: install ## speed figures beside a baseline measured in the same run
	$(PY) bench/run.py
	$(PY) bench/webhooks.py

clean:
	rm -rf $(VENV) .flightdeck build cdk.out .pytest_cache .mypy_cache .ruff_cache

# CDK: layers, synth, deploy, LocalStack and the infrastructure test tier.
include make/cdk.mk
