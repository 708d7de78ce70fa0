"""A tenant's knowledge: documents in S3, ingested into chunks and vectors, searched hybrid.

Upload writes the object under the tenant's prefix and a `queued` row; the object-created event
(EventBridge on AWS, the emulator's copy of it locally) runs `ingest`: extract → chunk → embed
what changed → write all chunks in one transaction. `ingest` is idempotent: an event for an
object already ingested at that content is a no-op, and a re-upload re-embeds only the chunks
whose content hash changed.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote_plus

from flightdeck.errors import NotFoundError, PayloadTooLargeError
from flightdeck.knowledge.chunking import Chunk, chunk
from flightdeck.knowledge.extract import (
    UnreadableDocumentError,
    UnsupportedDocumentError,
    detect_content_type,
    extract,
)
from flightdeck.llm.base import EmbeddingProvider
from flightdeck.observability import logger
from flightdeck.store import documents
from flightdeck.store.db import Connection, scoped
from flightdeck.store.documents import MAX_DIRECT_BYTES, MAX_DOCUMENT_BYTES, Document, Hit

PRESIGNED_SECONDS = 900
_KEY = re.compile(r"^tenants/(?P<tenant>[0-9a-f-]{36})/knowledge/(?P<document>[0-9a-f-]{36})/")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Upload:
    document: Document
    url: str
    headers: dict[str, str]
    expires_in: int


def object_key(tenant_id: uuid.UUID, document_id: uuid.UUID, filename: str) -> str:
    safe = _SAFE_NAME.sub("-", filename).strip("-.") or "document"
    return f"{documents.tenant_prefix(tenant_id)}{document_id}/{safe[:120]}"


class KnowledgeService:
    def __init__(
        self,
        connection: Callable[[], AbstractContextManager[Connection]],
        s3: Any,
        bucket: str,
        embeddings: Callable[[], EmbeddingProvider],
    ) -> None:
        self._connection = connection
        self._s3 = s3
        self._bucket = bucket
        self._embeddings = embeddings

    @property
    def bucket(self) -> str:
        return self._bucket

    # --- upload ----------------------------------------------------------------------------

    def upload(
        self,
        tenant_id: uuid.UUID,
        *,
        filename: str,
        content_type: str | None,
        data: bytes,
        tags: Sequence[str] = (),
    ) -> Document:
        """Store the file under the tenant's prefix and queue it; the object-created event
        ingests it."""
        if len(data) > MAX_DIRECT_BYTES:
            raise PayloadTooLargeError(
                f"{filename} is {len(data)} bytes; upload files over {MAX_DIRECT_BYTES} bytes"
                " with POST /v1/documents/uploads (a presigned S3 PUT)"
            )
        kind = detect_content_type(filename, content_type, data)
        document = self._queue(tenant_id, filename, kind, len(data), tags)
        self._s3.put_object(Bucket=self._bucket, Key=document.s3_key, Body=data, ContentType=kind)
        return self.get(tenant_id, document.id)

    def presign(
        self,
        tenant_id: uuid.UUID,
        *,
        filename: str,
        content_type: str | None,
        size_bytes: int,
        tags: Sequence[str] = (),
    ) -> Upload:
        """A `queued` document and a presigned PUT for its object; the same ingestion follows
        the upload."""
        if size_bytes > MAX_DOCUMENT_BYTES:
            raise PayloadTooLargeError(
                f"{filename} is {size_bytes} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes"
            )
        kind = detect_content_type(filename, content_type)
        document = self._queue(tenant_id, filename, kind, size_bytes, tags)
        url = self._s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self._bucket, "Key": document.s3_key, "ContentType": kind},
            ExpiresIn=PRESIGNED_SECONDS,
        )
        return Upload(document, url, {"content-type": kind}, PRESIGNED_SECONDS)

    def _queue(
        self,
        tenant_id: uuid.UUID,
        filename: str,
        content_type: str,
        size_bytes: int,
        tags: Sequence[str],
    ) -> Document:
        """A `queued` document row with the key its object will have."""
        document_id = uuid.uuid4()
        with self._connection() as conn, scoped(conn, tenant_id):
            return documents.create(
                conn,
                tenant_id=tenant_id,
                document_id=document_id,
                filename=filename,
                content_type=content_type,
                size_bytes=size_bytes,
                s3_key=object_key(tenant_id, document_id, filename),
                tags=tags,
            )

    # --- reading and removing --------------------------------------------------------------

    def documents(self, tenant_id: uuid.UUID) -> list[Document]:
        with self._connection() as conn, scoped(conn, tenant_id):
            return documents.list_for_tenant(conn, tenant_id)

    def get(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> Document:
        with self._connection() as conn, scoped(conn, tenant_id):
            found = documents.get(conn, document_id)
        if found is None or found.tenant_id != tenant_id:
            raise NotFoundError(f"no document {document_id}")
        return found

    def delete(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
        """Remove the object and the document with every chunk."""
        document = self.get(tenant_id, document_id)
        self._s3.delete_object(Bucket=self._bucket, Key=document.s3_key)
        with self._connection() as conn, scoped(conn, tenant_id):
            documents.delete(conn, document_id)

    def reingest(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> Document:
        """Ingest the stored file again (after a failure, or with the current embedding model):
        the object is copied onto itself, and its object-created event runs the ingestion, as
        for an upload (a large PDF would outlast an API request)."""
        document = self.get(tenant_id, document_id)
        # A failed or differently embedded document is ingested again; one already in with
        # this content and model stays as it is (its event finds nothing to do).
        stale = document.status == "failed" or document.embedding_model != self._embeddings().model
        with self._connection() as conn, scoped(conn, tenant_id):
            documents.set_status(conn, document.id, "queued")
            if stale:
                conn.execute(
                    "UPDATE documents SET ingested_at = NULL WHERE id = %s", (document.id,)
                )
        self._s3.copy_object(
            Bucket=self._bucket,
            Key=document.s3_key,
            CopySource={"Bucket": self._bucket, "Key": document.s3_key},
            MetadataDirective="REPLACE",
            ContentType=document.content_type,
        )
        return self.get(tenant_id, document_id)

    # --- ingestion -------------------------------------------------------------------------

    def ingest(self, bucket: str, key: str, *, force: bool = False) -> Document:
        """Ingest the object at `key` (an object-created event). A file that cannot be read
        leaves the document `failed` with the reason; nothing else changes.

        Concurrent events for one object serialise on the document's row: the second finds
        the content already ingested with the current model and does nothing.
        """
        key = unquote_plus(key)
        match = _KEY.match(key)
        if bucket != self._bucket or match is None:
            raise NotFoundError(f"s3://{bucket}/{key} is not a knowledge document")
        tenant_id = uuid.UUID(match["tenant"])
        with self._connection() as conn, scoped(conn, tenant_id):
            document = documents.by_key(conn, key, for_update=True)
            if document is None:
                raise NotFoundError(f"no document for s3://{bucket}/{key}")
            if document.status != "ready" or force:
                documents.set_status(conn, document.id, "ingesting")
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey as exc:
            raise NotFoundError(f"s3://{bucket}/{key} is gone") from exc
        digest = hashlib.sha256(body).digest()
        provider = self._embeddings()
        try:
            with self._connection() as conn, scoped(conn, tenant_id):
                current = documents.by_key(conn, key, for_update=True)
                if current is None:
                    raise NotFoundError(f"document for s3://{bucket}/{key} was deleted")
                if (
                    not force
                    and current.sha256 == digest
                    and current.embedding_model == provider.model
                    and current.ingested_at is not None
                    and current.error is None
                ):
                    # This content is in already, with this model: a duplicate event.
                    documents.set_status(conn, current.id, "ready")
                    return replace(current, status="ready")
                self._ingest_locked(conn, tenant_id, current, body, digest, provider)
        except NotFoundError:
            raise
        except Exception as exc:
            # The step rolled back; say why on the document, then let the event's retry (or a
            # re-ingest) try again.
            with self._connection() as conn, scoped(conn, tenant_id):
                documents.set_status(
                    conn,
                    document.id,
                    "failed",
                    error=f"ingestion failed: {type(exc).__name__}: {exc}"[:2000],
                )
            raise
        return self.get(tenant_id, document.id)

    def _ingest_locked(
        self,
        conn: Connection,
        tenant_id: uuid.UUID,
        document: Document,
        body: bytes,
        digest: bytes,
        provider: EmbeddingProvider,
    ) -> None:
        try:
            extracted = extract(
                body, filename=document.filename, content_type=document.content_type
            )
            pieces = chunk(extracted.text)
            if not pieces:
                raise UnreadableDocumentError("the file holds no text")
        except (UnreadableDocumentError, UnsupportedDocumentError) as exc:
            documents.set_status(
                conn, document.id, "failed", error=str(exc), sha256=digest, size_bytes=len(body)
            )
            logger.info("document failed", extra={"document_id": str(document.id)})
            return
        stored = {
            c.content_hash
            for c in documents.stored_chunks(conn, document.id)
            if c.embedding_model == provider.model
        }
        fresh = list({p.content_hash: p for p in pieces if p.content_hash not in stored}.values())
        embedded = (
            provider.embed([_embedded_text(p) for p in fresh], purpose="document").vectors
            if fresh
            else []
        )
        vectors = dict(zip([p.content_hash for p in fresh], embedded, strict=True))
        documents.set_status(
            conn,
            document.id,
            "ingesting",
            sha256=digest,
            size_bytes=len(body),
            title=extracted.title,
        )
        documents.replace_chunks(
            conn,
            tenant_id=tenant_id,
            document_id=document.id,
            chunks=[
                documents.NewChunk(
                    ordinal=n,
                    heading=p.heading,
                    body=p.text,
                    token_count=p.token_count,
                    content_hash=p.content_hash,
                    embedding=vectors.get(p.content_hash),
                )
                for n, p in enumerate(pieces)
            ],
            model=provider.model,
            dimension=provider.dimension,
        )
        logger.info(
            "document ingested",
            extra={"document_id": str(document.id), "chunks": len(pieces), "embedded": len(fresh)},
        )

    # --- search ----------------------------------------------------------------------------

    def search(
        self,
        tenant_id: uuid.UUID,
        query: str,
        *,
        k: int = 5,
        document_ids: Sequence[uuid.UUID] = (),
        tags: Sequence[str] = (),
    ) -> list[Hit]:
        provider = self._embeddings()
        vector = provider.embed([query], purpose="query").vectors[0]
        with self._connection() as conn, scoped(conn, tenant_id):
            return documents.search(
                conn,
                tenant_id,
                query=query,
                embedding=vector,
                model=provider.model,
                k=k,
                document_ids=document_ids,
                tags=tags,
            )

    def reembed(self, tenant_id: uuid.UUID) -> list[Document]:
        """Queue every document of the tenant embedded with another model than the current one
        for ingestion again (`make reembed`, `POST /v1/knowledge/reembed`)."""
        model = self._embeddings().model
        return [
            self.reingest(tenant_id, d.id)
            for d in self.documents(tenant_id)
            if d.embedding_model != model or d.status == "failed"
        ]


def _embedded_text(piece: Chunk) -> str:
    """What is embedded: the chunk's text, which starts with its heading path."""
    return piece.text
