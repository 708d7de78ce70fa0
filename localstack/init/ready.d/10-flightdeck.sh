#!/usr/bin/env bash
# Runs inside the LocalStack container once its services are ready.
# Prepares what `cdklocal deploy` expects to exist before the stacks: the model API key secret
# placeholder (deployed functions fall back to the offline model) and a readiness marker.
set -euo pipefail

awslocal secretsmanager describe-secret --secret-id flightdeck/model-api-key >/dev/null 2>&1 \
  || awslocal secretsmanager create-secret --name flightdeck/model-api-key \
       --description "OpenAI-compatible API key (unused by the offline model)" \
       --secret-string "unused-offline" >/dev/null

awslocal ssm put-parameter --name /flightdeck/localstack/ready --type String \
  --value "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --overwrite >/dev/null
echo "flightdeck: LocalStack init done"
