# Flightdeck: `make dev` runs the platform locally, `make test` runs lint and every test tier.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: dev install test lint format test-unit test-integration test-e2e test-frontend frontend \
	bench openapi clean reembed observe

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || "$$(scripts/pick-python.sh)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

dev: install ## run the platform and the dashboard on embedded Postgres and the AWS emulator
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory frontend; \
	else echo "flightdeck: Node.js 20+ with npm is not installed: serving the API without the dashboard"; fi
	$(PY) -m flightdeck.local.dev

observe: ## Prometheus (the distribution's package) scraping `make dev`; says how to install it
	@scripts/observe.sh

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

test: lint test-unit test-integration test-infra test-e2e test-frontend ## everything CI runs

reembed: install ## re-embed the knowledge of the running dev stack's demo tenant (see scripts/reembed.py)
	$(PY) scripts/reembed.py

openapi: install ## regenerate docs/openapi.json, the committed API contract, and its client
	$(PY) scripts/export_openapi.py
	@if [ -d frontend/node_modules ]; then cd frontend && npm run --silent gen:api; \
	else echo "flightdeck: run 'make frontend' once, then 'make openapi' again for the dashboard's client"; fi

bench: install ## every benchmark, then one table: figure, budget, same-run baseline, ratio
	$(PY) bench/summary.py $(BENCH)

clean:
	rm -rf $(VENV) .flightdeck build cdk.out .pytest_cache .mypy_cache .ruff_cache
	rm -rf frontend/node_modules frontend/.next frontend/out frontend/test-results

# The dashboard: a Next.js static export in frontend/out, served by `make dev` and deployed by
# the frontend stack. Rebuilt when its sources or the API contract change.
FRONTEND_SOURCES := $(shell find frontend/src frontend/public -type f 2>/dev/null) \
	frontend/next.config.mjs frontend/tsconfig.json frontend/package.json docs/openapi.json

frontend/node_modules/.installed: frontend/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "flightdeck: the dashboard needs Node.js 20+ with npm"; exit 1; }
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

frontend/out/index.html: frontend/node_modules/.installed $(FRONTEND_SOURCES)
	cd frontend && npm run build
	@touch $@

frontend: frontend/out/index.html ## build the dashboard (static export in frontend/out)

# Type check, unit tests (including the generated client against docs/openapi.json), the
# production build, then the dashboard in a real Chromium against the dev stack.
test-frontend: install frontend/node_modules/.installed
	cd frontend && npm run typecheck && npm test
	$(MAKE) --no-print-directory frontend
	CHROMIUM_PATH="$$(scripts/ensure-chromium.sh)" FLIGHTDECK_PYTHON="$(abspath $(PY))" \
		npm --prefix frontend run e2e

# CDK: layers, synth, deploy, LocalStack and the infrastructure test tier.
include make/cdk.mk
