"""Webhook and callback signing secrets: the functions that use them may read and write the
secrets under this stage's tenant prefix and nothing else in Secrets Manager; the others may
not touch them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flightdeck.settings import EnvVar
from stacks.runtime import TENANT_SECRETS_ACTIONS, tenant_secrets_prefix
from tests.infra.conftest import Synthesized
from tests.infra.test_templates import function_by_handler, role_statements

USERS = (
    ("api", "functions.api.handler.handler"),
    ("workflow", "functions.callback_dispatcher.handler.handler"),
    ("data", "functions.migrate.handler.handler"),
)


def tenant_secret_statements(template: Any, function: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for s in role_statements(template, function)
        if "secretsmanager:CreateSecret" in json.dumps(s["Action"])
        or "/tenants/" in json.dumps(s["Resource"])
    ]


@pytest.mark.parametrize(("part", "handler"), USERS)
def test_functions_that_use_signing_secrets_get_the_tenant_prefix_only(
    dev: Synthesized, part: str, handler: str
) -> None:
    template = dev.template(part)
    _, function = function_by_handler(template, handler)
    prefix = tenant_secrets_prefix(dev.config)
    assert prefix == "flightdeck-dev-ci/tenants/"
    assert function["Environment"]["Variables"][str(EnvVar.SECRETS_PREFIX)] == prefix

    (statement,) = tenant_secret_statements(template, function)

    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == sorted(TENANT_SECRETS_ACTIONS)
    assert "secretsmanager:DeleteSecret" not in statement["Action"]
    resource = json.dumps(statement["Resource"])
    assert f":secret:{prefix}*" in resource
    assert ":secret:*" not in resource


def test_functions_that_do_not_sign_get_no_signing_secrets(dev: Synthesized) -> None:
    template = dev.template("workflow")
    for handler in (
        "functions.node_runner.handler.handler",
        "functions.approval_request.handler.handler",
        "functions.run_failed.handler.handler",
    ):
        _, function = function_by_handler(template, handler)
        assert tenant_secret_statements(template, function) == [], handler
