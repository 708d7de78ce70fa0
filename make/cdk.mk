# CDK targets, included by the main Makefile (which defines PY, VENV and $(VENV)/.installed).
#
#   make layers                         build the Lambda layers (pip, no Docker), print sizes
#   make synth [STAGE=dev PREFIX=alice] build the layers and synthesize every stack to cdk.out
#   make deploy [STAGE=... PREFIX=... CDK_ARGS='-c key=value']  cdk deploy --all (AWS credentials)
#   make localstack-deploy              cdklocal bootstrap + deploy (needs Docker + LocalStack)
#   make test-infra                     template assertions and cdk-nag (no AWS, no Docker)

STAGE ?= dev
PREFIX ?=
# CDK_ARGS: more context for cdk, e.g. CDK_ARGS='-c model_provider=bedrock'.
CDK_ARGS ?=
CDK_CONTEXT_ARGS := -c stage=$(STAGE) $(if $(PREFIX),-c prefix=$(PREFIX),) $(CDK_ARGS)
comma := ,
CDK_CONTEXT_JSON_VALUE := {"stage": "$(STAGE)"$(if $(PREFIX),$(comma) "prefix": "$(PREFIX)",)}
CDK := node_modules/.bin/cdk
CDKLOCAL := node_modules/.bin/cdklocal
LOCALSTACK_COMPOSE := localstack/docker-compose.yml

export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 1

.PHONY: layers synth deploy diff destroy localstack-up localstack-down localstack-deploy test-infra

$(VENV)/.cdk-installed: requirements/cdk.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements/cdk.txt
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

layers: $(VENV)/.installed
	$(PY) scripts/build_layers.py --sizes

# `python app.py` synthesizes exactly what `cdk synth` would (app.py reads cdk.json's context
# itself), without needing the node CLI.
synth: $(VENV)/.cdk-installed layers
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON='$(CDK_CONTEXT_JSON_VALUE)' $(PY) app.py
	@ls cdk.out/*.template.json

diff: $(VENV)/.cdk-installed node_modules/.installed layers
	$(CDK) diff --all $(CDK_CONTEXT_ARGS)

deploy: $(VENV)/.cdk-installed node_modules/.installed layers
	$(CDK) deploy --all $(CDK_CONTEXT_ARGS) --require-approval broadening

destroy: $(VENV)/.cdk-installed node_modules/.installed
	$(CDK) destroy --all $(CDK_CONTEXT_ARGS)

localstack-up:
	docker compose -f $(LOCALSTACK_COMPOSE) up -d --wait

localstack-down:
	docker compose -f $(LOCALSTACK_COMPOSE) down

localstack-deploy: $(VENV)/.cdk-installed node_modules/.installed layers
	$(CDKLOCAL) bootstrap $(CDK_CONTEXT_ARGS)
	$(CDKLOCAL) deploy --all $(CDK_CONTEXT_ARGS) --require-approval never

test-infra: $(VENV)/.cdk-installed
	$(PY) -m pytest tests/infra -q
