"""Knowledge documents through the API and the emulator: upload → S3 object-created event
(EventBridge) → the ingest function → `ready` → hybrid search finds what was planted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from flightdeck.errors import TransientError
from flightdeck.llm.base import EmbeddingProvider, EmbeddingResult
from flightdeck.store import tenants
from functions.ingest.handler import handler as ingest_handler
from tests.conftest import Platform, lambda_context, load_event, wait_for
from tests.integration.api_client import Api, api_for

FAQ = b"""# Bakery FAQ

## Sourdough returns

Unopened sourdough hampers can be returned within 30 days of delivery for a full refund.

## Sourdough counter hours

The sourdough counter is open Monday to Saturday from 7am to 6pm, and closed on Sundays.
"""


class CountingEmbeddings:
    """The configured provider, counting the texts of the test's own document (they all say
    "sourdough") it is asked to embed; the demo documents ingest in the background."""

    def __init__(self, inner: EmbeddingProvider) -> None:
        self.inner = inner
        self.name, self.model, self.dimension = inner.name, inner.model, inner.dimension
        self.documents = 0

    def embed(self, texts: Sequence[str], *, purpose: Any) -> EmbeddingResult:
        if purpose == "document":
            self.documents += sum(1 for t in texts if "sourdough" in t.lower())
        return self.inner.embed(texts, purpose=purpose)


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as a:
        yield a


@pytest.fixture
def counting(platform: Platform) -> CountingEmbeddings:
    svc = platform.services
    wrapper = CountingEmbeddings(svc.embeddings)
    svc.__dict__["embeddings"] = wrapper
    return wrapper


def upload(api: Api, name: str, data: bytes, content_type: str, token: str | None = None) -> Any:
    return api.client.post(
        "/v1/documents",
        headers=api.headers(token or api.operator),
        files={"file": (name, data, content_type)},
        data={"tags": ["faq"]},
    )


def settled(api: Api, document_id: str, token: str | None = None) -> Any:
    return wait_for(
        lambda: (
            (d := api.get(f"/v1/documents/{document_id}", token).json())
            and d["status"] in ("ready", "failed")
            and d
        ),
        timeout=60,
    )


def test_an_uploaded_document_is_ingested_and_found(api: Api, counting: CountingEmbeddings) -> None:
    answer = upload(api, "bakery-faq.md", FAQ, "text/markdown")
    assert answer.status_code == 202, answer.text
    document = answer.json()
    assert document["status"] in ("queued", "ingesting", "ready")
    assert document["tags"] == ["faq"]

    ready = settled(api, document["id"])
    assert ready["status"] == "ready", ready
    assert ready["chunk_count"] >= 2
    assert ready["title"] == "Bakery FAQ"
    assert ready["embedding_model"] == counting.model

    found = api.post(
        "/v1/knowledge/search", api.viewer, json={"query": "can I return a sourdough hamper?"}
    )
    assert found.status_code == 200, found.text
    top = found.json()["hits"][0]
    assert "30 days" in top["text"]
    assert top["filename"] == "bakery-faq.md"
    assert top["vector_rank"] is not None
    assert top["text_rank"] is not None
    assert document["id"] in [d["id"] for d in api.get("/v1/documents").json()]


def test_a_changed_file_reembeds_only_what_changed(
    api: Api, platform: Platform, counting: CountingEmbeddings
) -> None:
    document = upload(api, "bakery-faq.md", FAQ, "text/markdown").json()
    first = settled(api, document["id"])
    embedded_first = counting.documents
    assert embedded_first == first["chunk_count"]

    changed = FAQ.replace(b"closed on Sundays", b"open on Sundays from 9am to noon")
    key = _key(platform, document["id"])
    platform.services.client("s3").put_object(
        Bucket=platform.services.settings.artifact_bucket, Key=key, Body=changed
    )
    wait_for(
        lambda: (
            "noon" in api.post("/v1/knowledge/search", json={"query": "Sunday opening hours"}).text
        ),
        timeout=60,
    )
    assert counting.documents - embedded_first < first["chunk_count"]
    assert counting.documents - embedded_first >= 1


def test_a_duplicate_event_ingests_once(
    api: Api, platform: Platform, counting: CountingEmbeddings
) -> None:
    document = upload(api, "bakery-faq.md", FAQ, "text/markdown").json()
    settled(api, document["id"])
    before = counting.documents
    event = {
        "id": str(uuid.uuid4()),
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {
            "bucket": {"name": platform.services.settings.artifact_bucket},
            "object": {"key": _key(platform, document["id"])},
        },
    }
    for _ in range(2):
        result = ingest_handler(event, lambda_context("ingest"))
        assert result["documents"][0]["status"] == "ready"
    assert counting.documents == before


def test_delete_removes_the_object_and_every_chunk(api: Api, platform: Platform) -> None:
    document = upload(api, "bakery-faq.md", FAQ, "text/markdown").json()
    settled(api, document["id"])
    key = _key(platform, document["id"])
    assert (
        api.client.delete(
            f"/v1/documents/{document['id']}", headers=api.headers(api.viewer)
        ).status_code
        == 403
    )
    gone = api.client.delete(f"/v1/documents/{document['id']}", headers=api.headers(api.operator))
    assert gone.status_code == 204
    assert api.get(f"/v1/documents/{document['id']}").status_code == 404
    hits = api.post("/v1/knowledge/search", json={"query": "sourdough hamper"}).json()["hits"]
    assert all(h["document_id"] != document["id"] for h in hits)
    s3 = platform.services.client("s3")
    listed = s3.list_objects_v2(Bucket=platform.services.settings.artifact_bucket, Prefix=key)
    assert listed.get("KeyCount", 0) == 0
    with platform.services.tenant(platform.tenant_id) as conn:
        left = conn.execute(
            "SELECT count(*) AS n FROM document_chunks WHERE document_id = %s", (document["id"],)
        ).fetchone()
    assert left["n"] == 0


def test_a_corrupt_pdf_fails_with_a_reason_and_nothing_else_changes(api: Api) -> None:
    good = upload(api, "bakery-faq.md", FAQ, "text/markdown").json()
    settled(api, good["id"])
    bad = upload(api, "policy.pdf", b"%PDF-1.7\nthis is not really a pdf", "application/pdf")
    assert bad.status_code == 202, bad.text
    failed = settled(api, bad.json()["id"])
    assert failed["status"] == "failed"
    assert "PDF" in failed["error"]
    empty = settled(api, upload(api, "empty.txt", b"   \n", "text/plain").json()["id"])
    assert (empty["status"], empty["error"]) == ("failed", "the file is empty")
    assert api.get(f"/v1/documents/{good['id']}").json()["status"] == "ready"
    assert api.post("/v1/knowledge/search", json={"query": "refund"}).json()["hits"]


def test_bad_uploads_get_problem_details(api: Api) -> None:
    unsupported = upload(api, "photo.png", b"\x89PNG\r\n", "image/png")
    assert unsupported.status_code == 415, unsupported.text
    assert "cannot be read" in unsupported.json()["detail"]
    big = upload(api, "big.txt", b"a" * (5 * 1024 * 1024 + 1), "text/plain")
    assert big.status_code == 413
    assert upload(api, "bakery-faq.md", FAQ, "text/markdown", api.viewer).status_code == 403
    too_large = api.post(
        "/v1/documents/uploads",
        json={"filename": "huge.pdf", "size_bytes": 60 * 1024 * 1024},
    )
    assert too_large.status_code == 413
    no_file = api.client.post("/v1/documents", headers=api.headers(api.operator))
    assert no_file.status_code == 422


def test_a_presigned_upload_ends_in_the_same_ingestion(api: Api) -> None:
    created = api.post(
        "/v1/documents/uploads",
        json={"filename": "hours.csv", "content_type": "text/csv", "size_bytes": 80},
    )
    assert created.status_code == 201, created.text
    upload_ = created.json()
    assert upload_["document"]["status"] == "queued"
    put = httpx.put(
        upload_["url"],
        content=b"day,opens,closes\nMonday,7am,6pm\nSunday,closed,closed\n",
        headers=upload_["headers"],
    )
    assert put.status_code == 200, put.text
    ready = settled(api, upload_["document"]["id"])
    assert ready["status"] == "ready", ready
    hits = api.post("/v1/knowledge/search", json={"query": "Monday opening"}).json()["hits"]
    assert "Monday" in hits[0]["text"]


def test_tenants_never_see_each_others_documents(api: Api, platform: Platform) -> None:
    mine = upload(api, "bakery-faq.md", FAQ, "text/markdown").json()
    settled(api, mine["id"])
    with platform.services.connection() as conn, conn.transaction():
        others = [tenants.create_tenant(conn, f"client-{n}", f"Client {n}") for n in range(2)]
        tokens = [tenants.issue_token(conn, t.id, "operator").token for t in others]
    secret = b"# Internal\n\nThe staff discount code is CRUMB-42.\n"
    theirs = upload(api, "internal.md", secret, "text/markdown", tokens[0]).json()
    settled(api, theirs["id"], tokens[0])

    listed = [d["id"] for d in api.get("/v1/documents").json()]
    assert mine["id"] in listed
    assert theirs["id"] not in listed
    assert api.get(f"/v1/documents/{theirs['id']}").status_code == 404
    mine_hits = api.post("/v1/knowledge/search", json={"query": "staff discount code"}).json()
    assert all("CRUMB" not in h["text"] for h in mine_hits["hits"])
    third = api.post(
        "/v1/knowledge/search", tokens[1], json={"query": "staff discount code refund"}
    ).json()
    assert third["hits"] == []
    assert (
        api.client.delete(
            f"/v1/documents/{theirs['id']}", headers=api.headers(api.operator)
        ).status_code
        == 404
    )


def _key(platform: Platform, document_id: str) -> str:
    with platform.services.tenant(platform.tenant_id) as conn:
        row = conn.execute("SELECT s3_key FROM documents WHERE id = %s", (document_id,)).fetchone()
    return str(row["s3_key"])


def test_a_run_cites_the_chunks_it_retrieved(api: Api, platform: Platform) -> None:
    run_id = platform.start("support_triage", load_event("password_ticket"))
    platform.wait_status(run_id, "succeeded")
    run = api.get(f"/v1/runs/{run_id}").json()
    (cited,) = [e for e in run["events"] if e["type"] == "knowledge.cited"]
    assert cited["node"] == "retrieve"
    chunks = cited["data"]["chunks"]
    assert chunks
    # The ticket: forgot the password, account locked after failed logins.
    assert chunks[0]["filename"] == "faq.md"
    assert any("password" in c["heading"].lower() for c in chunks)
    documents = {d["id"] for d in api.get("/v1/documents").json()}
    assert all(c["document_id"] in documents for c in chunks)


def test_reingest_runs_the_same_ingestion_again(api: Api) -> None:
    bad = upload(api, "broken.pdf", b"%PDF-1.7\nnot a pdf", "application/pdf").json()
    assert settled(api, bad["id"])["status"] == "failed"
    again = api.post(f"/v1/documents/{bad['id']}/reingest")
    assert again.status_code == 202, again.text
    assert again.json()["status"] in ("queued", "ingesting", "failed")  # the event runs at once
    assert settled(api, bad["id"])["status"] == "failed"
    assert api.post(f"/v1/documents/{bad['id']}/reingest", api.viewer).status_code == 403


def test_every_model_call_records_its_tokens_per_node(api: Api, platform: Platform) -> None:
    run_id = platform.start("support_triage", load_event("password_ticket"))
    platform.wait_status(run_id, "succeeded")
    used = [e for e in api.get(f"/v1/runs/{run_id}").json()["events"] if e["type"] == "model.used"]
    by_node = {(e["node"], e["data"]["kind"], e["data"]["task"]) for e in used}
    assert by_node == {
        ("plan", "chat", "support_triage.classify"),
        ("retrieve", "embedding", "knowledge.search"),
        ("decide", "chat", "support_triage.draft"),
        ("reflect", "chat", "support_triage.score"),
    }
    assert all(e["data"]["input_tokens"] > 0 for e in used)
    assert all(e["data"]["model"] for e in used)


class FailingEmbeddings(CountingEmbeddings):
    def embed(self, texts: Sequence[str], *, purpose: Any) -> EmbeddingResult:
        if purpose == "document" and any("sourdough" in t.lower() for t in texts):
            raise TransientError("the embedding service is throttling")
        return self.inner.embed(texts, purpose=purpose)


def test_an_embedding_failure_leaves_the_document_failed_with_the_reason(
    api: Api, platform: Platform
) -> None:
    svc = platform.services
    svc.__dict__["embeddings"] = FailingEmbeddings(svc.embeddings)
    document = upload(api, "bakery-faq.md", FAQ, "text/markdown").json()
    failed = settled(api, document["id"])
    assert failed["status"] == "failed"
    assert "throttling" in failed["error"]
    # The provider recovers; a re-ingest (or the event's retry) finishes the job.
    svc.__dict__["embeddings"] = svc.embeddings.inner
    assert api.post(f"/v1/documents/{document['id']}/reingest").status_code == 202
    assert settled(api, document["id"])["status"] == "ready"


def test_an_event_for_a_deleted_document_is_skipped(api: Api, platform: Platform) -> None:
    document = upload(api, "bakery-faq.md", FAQ, "text/markdown").json()
    settled(api, document["id"])
    key = _key(platform, document["id"])
    api.client.delete(f"/v1/documents/{document['id']}", headers=api.headers(api.operator))
    event = {
        "detail": {
            "bucket": {"name": platform.services.settings.artifact_bucket},
            "object": {"key": key},
        }
    }
    assert ingest_handler(event, lambda_context("ingest")) == {
        "documents": [{"key": key, "status": "skipped"}]
    }
