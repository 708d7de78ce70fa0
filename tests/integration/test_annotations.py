"""Annotations over the API (in process): operators comment on, label and score a finished run or
one of its nodes; viewers read them; every tenant exports only its own, as CSV or JSON Lines."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from flightdeck.api.app import create_app
from flightdeck.api.routes import annotations as annotation_routes
from flightdeck.store import annotations as annotation_store
from flightdeck.store import tenants
from flightdeck.store.db import connect, scoped
from flightdeck.store.migrate import APP_ROLE
from tests.conftest import Platform, load_event


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: platform.services)) as test_client:
        yield test_client


@pytest.fixture
def run_id(platform: Platform) -> uuid.UUID:
    """A finished `support_triage` run of the demo tenant."""
    started = platform.start("support_triage", load_event("password_ticket"))
    platform.wait_status(started, "succeeded")
    return started


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def annotate(client: TestClient, token: str, run_id: uuid.UUID | str, body: Any) -> Any:
    return client.post(f"/v1/runs/{run_id}/annotations", json=body, headers=auth(token))


def export(client: TestClient, token: str, **params: str) -> Any:
    return client.get("/v1/annotations/export", params=params, headers=auth(token))


def other_tenant_token(platform: Platform, role: tenants.Role = "operator") -> str:
    with platform.services.tenant(platform.tenant_id) as c:
        other = tenants.create_tenant(c, f"other-{uuid.uuid4().hex[:8]}", "Other Ltd")
        return tenants.issue_token(c, other.id, role).token


def parse_csv(text: str) -> list[dict[str, Any]]:
    """CSV rows back as API records: empty cells are missing values, scores are numbers."""
    rows = list(csv.DictReader(io.StringIO(text)))
    return [
        {
            name: (None if value == "" else float(value) if name == "score" else value)
            for name, value in row.items()
        }
        for row in rows
    ]


def parse_jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_an_operator_annotates_a_run_and_its_nodes_with_each_kind(
    client: TestClient, platform: Platform, run_id: uuid.UUID
) -> None:
    token = platform.api_token
    comment = annotate(client, token, run_id, {"kind": "comment", "body": "Good answer."})
    label = annotate(client, token, run_id, {"kind": "label", "label": "kb:gap", "node": "decide"})
    score = annotate(
        client, token, run_id, {"kind": "score", "score": 0.8, "metric": "tone", "node": "act"}
    )
    run_score = annotate(client, token, run_id, {"kind": "score", "score": 1})
    node_comment = annotate(
        client, token, run_id, {"kind": "comment", "body": "Search missed.", "node": "retrieve"}
    )

    for response in (comment, label, score, run_score, node_comment):
        assert response.status_code == 201, response.text
    assert comment.json() | {"id": None, "created_at": None, "author": None} == {
        "id": None,
        "run_id": str(run_id),
        "workflow": "support_triage",
        "node": None,
        "kind": "comment",
        "body": "Good answer.",
        "label": None,
        "score": None,
        "metric": None,
        "author": None,
        "created_at": None,
    }
    assert comment.json()["author"].startswith("token:")
    assert (label.json()["node"], label.json()["label"]) == ("decide", "kb:gap")
    assert (score.json()["score"], score.json()["metric"]) == (0.8, "tone")
    assert (run_score.json()["score"], run_score.json()["metric"]) == (1.0, None)

    listed = client.get(f"/v1/runs/{run_id}/annotations", headers=auth(token))
    assert listed.status_code == 200
    assert listed.json() == [r.json() for r in (comment, label, score, run_score, node_comment)], (
        "oldest first"
    )
    on_decide = client.get(
        f"/v1/runs/{run_id}/annotations", params={"node": "decide"}, headers=auth(token)
    )
    assert on_decide.json() == [label.json()]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "comment", "body": "x", "node": "review"}, "node"),
        ({"kind": "comment", "body": "x", "node": "__start__"}, "node"),
        ({"kind": "comment", "body": "   "}, "comment.body"),
        ({"kind": "comment", "body": "a\u0000b"}, "comment.body"),
        ({"kind": "comment", "body": "x" * 4001}, "comment.body"),
        ({"kind": "comment"}, "comment.body"),
        ({"kind": "label", "label": "Needs Review"}, "label.label"),
        ({"kind": "label", "label": "x" * 65}, "label.label"),
        ({"kind": "score", "score": 1.5}, "score.score"),
        ({"kind": "score", "score": -0.1}, "score.score"),
        ({"kind": "score", "score": "high"}, "score.score"),
        ({"kind": "score", "score": 0.5, "metric": "=cmd"}, "score.metric"),
        ({"kind": "score", "score": 0.5, "label": "extra"}, "score.label"),
        ({"kind": "rating", "score": 0.5}, "body"),
        ({"body": "no kind"}, "body"),
    ],
)
def test_bad_annotations_are_refused_naming_the_field(
    client: TestClient, platform: Platform, run_id: uuid.UUID, body: Any, field: str
) -> None:
    response = annotate(client, platform.api_token, run_id, body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field
    listed = client.get(f"/v1/runs/{run_id}/annotations", headers=auth(platform.api_token))
    assert listed.json() == []


def test_input_json_cannot_store_cannot_cause_a_server_error(
    client: TestClient, platform: Platform, run_id: uuid.UUID
) -> None:
    # A lone surrogate is valid JSON but not UTF-8 text: refused, not a 500.
    response = client.post(
        f"/v1/runs/{run_id}/annotations",
        content=b'{"kind": "comment", "body": "half \\ud800 a pair"}',
        headers={**auth(platform.api_token), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "comment.body"

    not_json = client.post(
        f"/v1/runs/{run_id}/annotations",
        content=b"{kind: comment",
        headers={**auth(platform.api_token), "content-type": "application/json"},
    )
    assert not_json.status_code == 422

    bad_filters = {
        "missing format": ({}, "format"),
        "unknown format": ({"format": "xlsx"}, "format"),
        "bad time": ({"format": "csv", "since": "yesterday"}, "since"),
        "bad workflow": ({"format": "csv", "workflow": "a\u0000"}, "workflow"),
        "bad kind": ({"format": "csv", "kind": "vote"}, "kind"),
    }
    for name, (params, field) in bad_filters.items():
        refused = export(client, platform.api_token, **params)
        assert refused.status_code == 422, name
        assert refused.json()["errors"][0]["field"] == field, name
    nul_node = client.get(
        f"/v1/runs/{run_id}/annotations",
        params={"node": "\u0000"},
        headers=auth(platform.api_token),
    )
    assert nul_node.status_code == 422


def test_an_unknown_run_is_not_found(client: TestClient, platform: Platform) -> None:
    missing = uuid.uuid4()
    created = annotate(client, platform.api_token, missing, {"kind": "label", "label": "x"})
    listed = client.get(f"/v1/runs/{missing}/annotations", headers=auth(platform.api_token))

    for response in (created, listed):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    bad_id = annotate(client, platform.api_token, "not-a-run", {"kind": "label", "label": "x"})
    assert bad_id.status_code == 422


def test_a_viewer_reads_and_exports_but_cannot_annotate(
    client: TestClient, platform: Platform, run_id: uuid.UUID
) -> None:
    with platform.services.tenant(platform.tenant_id) as c:
        viewer = tenants.issue_token(c, platform.tenant_id, "viewer").token
    made = annotate(client, platform.api_token, run_id, {"kind": "label", "label": "ok"})
    assert made.status_code == 201

    refused = annotate(client, viewer, run_id, {"kind": "label", "label": "mine"})
    listed = client.get(f"/v1/runs/{run_id}/annotations", headers=auth(viewer))
    exported = export(client, viewer, format="jsonl")

    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert listed.json() == [made.json()]
    assert parse_jsonl(exported.text) == [made.json()]
    assert client.get(f"/v1/runs/{run_id}/annotations").status_code == 401
    assert client.get("/v1/annotations/export", params={"format": "csv"}).status_code == 401


def test_another_tenant_neither_sees_nor_annotates_the_run(
    client: TestClient, platform: Platform, run_id: uuid.UUID
) -> None:
    made = annotate(client, platform.api_token, run_id, {"kind": "comment", "body": "private"})
    assert made.status_code == 201
    other = other_tenant_token(platform)

    created = annotate(client, other, run_id, {"kind": "comment", "body": "intruding"})
    listed = client.get(f"/v1/runs/{run_id}/annotations", headers=auth(other))
    as_csv = export(client, other, format="csv")
    as_jsonl = export(client, other, format="jsonl")

    assert created.status_code == 404
    assert listed.status_code == 404
    assert as_csv.status_code == 200
    assert parse_csv(as_csv.text) == []
    assert as_csv.text.splitlines() == [",".join(annotation_routes.EXPORT_FIELDS)]
    assert as_jsonl.status_code == 200
    assert as_jsonl.text == ""
    # The intruder's attempt stored nothing anywhere.
    with platform.services.tenant(platform.tenant_id) as c:
        assert c.execute("SELECT count(*) AS n FROM annotations").fetchone()["n"] == 1


def test_row_level_security_holds_annotations_to_their_tenant(
    client: TestClient, platform: Platform, run_id: uuid.UUID, database_url: str
) -> None:
    made = annotate(client, platform.api_token, run_id, {"kind": "label", "label": "mine"})
    assert made.status_code == 201
    with platform.services.connection() as conn, conn.transaction():
        other = tenants.create_tenant(conn, "elsewhere", "Elsewhere Ltd")

    with connect(database_url, role=APP_ROLE) as conn:
        # No tenant named: no rows.
        assert conn.execute("SELECT count(*) AS n FROM annotations").fetchone()["n"] == 0
        with scoped(conn, other.id):
            assert conn.execute("SELECT count(*) AS n FROM annotations").fetchone()["n"] == 0
            # The store cannot annotate a run the tenant cannot see ...
            assert (
                annotation_store.create(conn, run_id, kind="label", label="x", author="t") is None
            )
        # ... nor can raw SQL write a row for a tenant the transaction does not name.
        with pytest.raises(psycopg.errors.InsufficientPrivilege), scoped(conn, other.id):
            conn.execute(
                "INSERT INTO annotations (id, tenant_id, run_id, kind, label, author)"
                " VALUES (%s, %s, %s, 'label', 'x', 't')",
                (uuid.uuid4(), platform.tenant_id, run_id),
            )
        with scoped(conn, platform.tenant_id):
            rows = annotation_store.list_for_run(conn, run_id)
        assert [str(a.id) for a in rows] == [made.json()["id"]]


def test_csv_and_jsonl_exports_parse_back_to_the_same_records(
    client: TestClient, platform: Platform, run_id: uuid.UUID
) -> None:
    token = platform.api_token
    bodies = [
        {"kind": "comment", "body": 'Said "thanks", then\nasked again; café ✓'},
        {"kind": "label", "label": "resolved", "node": "act"},
        {"kind": "score", "score": 0.125, "metric": "accuracy", "node": "decide"},
        {"kind": "score", "score": 0},
    ]
    made = [annotate(client, token, run_id, b).json() for b in bodies]

    as_csv = export(client, token, format="csv")
    as_jsonl = export(client, token, format="jsonl")

    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.headers["content-disposition"].startswith('attachment; filename="annotations-')
    assert as_csv.headers["content-disposition"].endswith('.csv"')
    assert as_jsonl.status_code == 200
    assert as_jsonl.headers["content-type"] == "application/x-ndjson"
    assert as_jsonl.headers["content-disposition"].endswith('.jsonl"')
    assert as_csv.text.splitlines()[0] == ",".join(annotation_routes.EXPORT_FIELDS)
    assert parse_jsonl(as_jsonl.text) == made
    assert parse_csv(as_csv.text) == made


def test_exports_filter_by_kind_workflow_and_time(
    client: TestClient, platform: Platform, run_id: uuid.UUID
) -> None:
    token = platform.api_token
    before = datetime.now(UTC) - timedelta(minutes=1)
    comment = annotate(client, token, run_id, {"kind": "comment", "body": "fine"}).json()
    score = annotate(client, token, run_id, {"kind": "score", "score": 0.5}).json()
    after = datetime.now(UTC) + timedelta(minutes=1)

    def records(**params: str) -> list[dict[str, Any]]:
        response = export(client, token, format="jsonl", **params)
        assert response.status_code == 200, response.text
        return parse_jsonl(response.text)

    assert records(kind="score") == [score]
    assert records(workflow="support_triage") == [comment, score]
    assert records(workflow="nightly_digest") == []
    assert records(since=before.isoformat(), until=after.isoformat()) == [comment, score]
    assert records(since=after.isoformat()) == []
    assert records(until=before.isoformat()) == []
    # A time without an offset is UTC.
    naive = after.replace(tzinfo=None).isoformat()
    assert records(until=naive) == [comment, score]
    # `since` is inclusive and `until` exclusive: windows split at a record never lose it.
    split = score["created_at"]
    assert records(until=split) == [comment]
    assert records(since=split) == [score]


def test_a_long_export_reads_every_page_once(
    client: TestClient, platform: Platform, run_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(annotation_routes, "EXPORT_PAGE_SIZE", 2)
    made = [
        annotate(client, platform.api_token, run_id, {"kind": "label", "label": f"l{i}"}).json()
        for i in range(5)
    ]

    assert parse_jsonl(export(client, platform.api_token, format="jsonl").text) == made
    assert parse_csv(export(client, platform.api_token, format="csv").text) == made


def test_csv_export_guards_text_a_spreadsheet_would_run(
    client: TestClient, platform: Platform, run_id: uuid.UUID
) -> None:
    risky = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB"]
    for text in risky:
        made = annotate(client, platform.api_token, run_id, {"kind": "comment", "body": text})
        assert made.status_code == 201, made.text
    annotate(client, platform.api_token, run_id, {"kind": "comment", "body": "plain = fine"})

    csv_bodies = [
        r["body"] for r in parse_csv(export(client, platform.api_token, format="csv").text)
    ]
    jsonl_bodies = [
        r["body"] for r in parse_jsonl(export(client, platform.api_token, format="jsonl").text)
    ]

    assert csv_bodies == [f"'{text}" for text in risky] + ["plain = fine"]
    # JSON Lines is not opened by spreadsheets: it keeps the text exactly.
    assert jsonl_bodies == [*risky, "plain = fine"]
