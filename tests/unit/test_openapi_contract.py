"""The committed OpenAPI document is the contract: the app must not drift from it."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.export_openapi import TARGET, document, render

# Operation ids are what generated clients call: renaming or removing one breaks them.
STABLE_OPERATION_IDS = {
    "health",
    "triggerWebhook",
    "createRun",
    "listRuns",
    "getRun",
    "cancelRun",
    "redriveRun",
    "rerunRun",
    "bulkRuns",
    "listApprovals",
    "getApproval",
    "decideApproval",
    "createAnnotation",
    "listRunAnnotations",
    "exportAnnotations",
    "listTenants",
    "createTenant",
    "listTokens",
    "issueToken",
    "revokeToken",
    "listWebhookSecrets",
    "createWebhookSecret",
    "expireWebhookSecret",
    "setCallback",
    "getCallback",
    "deleteCallback",
    "getOutcomes",
    "getOutcomeSeries",
    "getTechnicalHealth",
    "getMe",
    "createSignInLink",
    "signIn",
    "signOut",
    "uploadDocument",
    "createDocumentUpload",
    "listDocuments",
    "getDocument",
    "deleteDocument",
    "reingestDocument",
    "searchKnowledge",
    "reembedKnowledge",
}


def operation_ids(doc: dict) -> list[str]:  # type: ignore[type-arg]
    return [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]


def test_app_matches_the_committed_document() -> None:
    committed = Path(TARGET).read_text()
    assert render(document()) == committed, "the API changed: run `make openapi` and commit"


def test_operation_ids_are_unique_and_stable() -> None:
    ids = operation_ids(json.loads(Path(TARGET).read_text()))
    assert len(ids) == len(set(ids))
    assert set(ids) >= STABLE_OPERATION_IDS


def test_every_operation_documents_problem_responses() -> None:
    doc = document()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path == "/healthz":
                continue
            assert {"401", "422"} <= set(op["responses"]), f"{method} {path}"
            problem = op["responses"]["422"]["content"]
            assert "application/problem+json" in problem, f"{method} {path}"
