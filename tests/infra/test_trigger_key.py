"""The trigger key: a KMS key of its own, rotated, named in the settings of the functions that
start runs or read triggers, and usable by those alone (the webhook API and the scheduled-run
function seal, the node runner and the API's re-run open, the migrator seals old rows)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flightdeck.settings import EnvVar
from tests.infra.conftest import Synthesized
from tests.infra.test_templates import function_by_handler, resources, role_statements

ENCRYPT = "kms:GenerateDataKey*"
DECRYPT = "kms:Decrypt"

USERS = (
    ("api", "functions.api.handler.handler", {ENCRYPT, DECRYPT}),
    ("workflow", "functions.node_runner.handler.handler", {ENCRYPT, DECRYPT}),
    ("data", "functions.migrate.handler.handler", {ENCRYPT}),
)
NON_USERS = (
    ("workflow", "functions.approval_request.handler.handler"),
    ("workflow", "functions.run_failed.handler.handler"),
    ("workflow", "functions.callback_dispatcher.handler.handler"),
    ("ingest", "functions.ingest.handler.handler"),
)


def trigger_key(template: Any) -> tuple[str, dict[str, Any]]:
    ((logical_id, key),) = [
        (k, v)
        for k, v in resources(template, "AWS::KMS::Key").items()
        if "personal fields" in v["Properties"].get("Description", "")
    ]
    return logical_id, key["Properties"]


def key_actions(template: Any, function: dict[str, Any], key_id: str) -> set[str]:
    """The KMS actions `function`'s role may take on the trigger key (imported by ARN)."""
    actions: set[str] = set()
    for statement in role_statements(template, function):
        if "TriggerKey" not in json.dumps(statement["Resource"]) and key_id not in json.dumps(
            statement["Resource"]
        ):
            continue
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_the_trigger_key_rotates(dev: Synthesized) -> None:
    _, key = trigger_key(dev.template("data"))

    assert key["EnableKeyRotation"] is True


@pytest.mark.parametrize(("part", "handler", "needed"), USERS)
def test_functions_that_seal_or_open_triggers_get_the_key(
    dev: Synthesized, part: str, handler: str, needed: set[str]
) -> None:
    key_id, _ = trigger_key(dev.template("data"))
    template = dev.template(part)
    _, function = function_by_handler(template, handler)

    assert str(EnvVar.TRIGGER_KEY_ID) in function["Environment"]["Variables"]
    actions = key_actions(template, function, key_id)
    assert needed <= actions
    if DECRYPT not in needed:
        assert DECRYPT not in actions


def test_the_scheduled_run_function_seals_but_cannot_open(tmp_path: Any) -> None:
    from flightdeck.engine.registry import discover
    from tests.conftest import TEST_WORKFLOW_PACKAGES
    from tests.infra.conftest import synthesize

    # Given a stage with a scheduled workflow (so the scheduled-run function exists)
    workflows = list(discover(tuple(TEST_WORKFLOW_PACKAGES.split(","))))
    synthesized = synthesize(tmp_path, {"stage": "dev", "prefix": "seal"}, workflows=workflows)
    key_id, _ = trigger_key(synthesized.template("data"))
    template = synthesized.template("workflow")

    _, function = function_by_handler(template, "functions.scheduled_run.handler.handler")

    assert str(EnvVar.TRIGGER_KEY_ID) in function["Environment"]["Variables"]
    actions = key_actions(template, function, key_id)
    assert ENCRYPT in actions
    assert DECRYPT not in actions


@pytest.mark.parametrize(("part", "handler"), NON_USERS)
def test_other_functions_cannot_use_the_key(dev: Synthesized, part: str, handler: str) -> None:
    key_id, _ = trigger_key(dev.template("data"))
    template = dev.template(part)
    _, function = function_by_handler(template, handler)

    assert key_actions(template, function, key_id) == set()
