"""A tenant's knowledge: documents uploaded to S3 and ingested, and retrieval over them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile

from flightdeck.api.auth import Admin, Operator, ServicesDep, Viewer
from flightdeck.api.schemas import (
    DocumentOut,
    SearchHit,
    SearchIn,
    SearchOut,
    Tag,
    UploadIn,
    UploadOut,
)
from flightdeck.errors import InvalidInputError, PayloadTooLargeError
from flightdeck.store.documents import MAX_DIRECT_BYTES, Document

router = APIRouter(tags=["knowledge"])


def out(document: Document) -> DocumentOut:
    return DocumentOut(
        id=document.id,
        filename=document.filename,
        title=document.title,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        tags=document.tags,
        status=document.status,
        error=document.error,
        chunk_count=document.chunk_count,
        embedding_model=document.embedding_model,
        embedding_dimension=document.embedding_dimension,
        created_at=document.created_at,
        updated_at=document.updated_at,
        ingested_at=document.ingested_at,
    )


@router.post(
    "/v1/documents", operation_id="uploadDocument", status_code=202, response_model=DocumentOut
)
def upload_document(
    principal: Operator,
    svc: ServicesDep,
    file: Annotated[UploadFile, File(description="txt, md, html, csv or pdf; at most 5 MiB")],
    tags: Annotated[list[Tag] | None, Form(description="repeatable")] = None,
) -> DocumentOut:
    """Upload a small file (multipart); it is ingested after it lands (`queued` →
    `ingesting` → `ready` or `failed`). Larger files: `POST /v1/documents/uploads`."""
    data = file.file.read(MAX_DIRECT_BYTES + 1)
    if len(data) > MAX_DIRECT_BYTES:
        raise PayloadTooLargeError(
            f"files over {MAX_DIRECT_BYTES} bytes go through POST /v1/documents/uploads"
        )
    if not file.filename:
        raise InvalidInputError("the file part needs a filename", field="file")
    document = svc.knowledge.upload(
        principal.tenant_id,
        filename=file.filename,
        content_type=file.content_type,
        data=data,
        tags=tags or [],
    )
    return out(document)


@router.post(
    "/v1/documents/uploads",
    operation_id="createDocumentUpload",
    status_code=201,
    response_model=UploadOut,
)
def create_upload(body: UploadIn, principal: Operator, svc: ServicesDep) -> UploadOut:
    """A document and a presigned S3 PUT for a large file; ingestion follows the PUT."""
    upload = svc.knowledge.presign(
        principal.tenant_id,
        filename=body.filename,
        content_type=body.content_type,
        size_bytes=body.size_bytes,
        tags=body.tags,
    )
    return UploadOut(
        document=out(upload.document),
        url=upload.url,
        headers=upload.headers,
        expires_in=upload.expires_in,
    )


@router.get("/v1/documents", operation_id="listDocuments", response_model=list[DocumentOut])
def list_documents(principal: Viewer, svc: ServicesDep) -> list[DocumentOut]:
    return [out(d) for d in svc.knowledge.documents(principal.tenant_id)]


@router.get("/v1/documents/{document_id}", operation_id="getDocument", response_model=DocumentOut)
def get_document(document_id: uuid.UUID, principal: Viewer, svc: ServicesDep) -> DocumentOut:
    return out(svc.knowledge.get(principal.tenant_id, document_id))


@router.delete("/v1/documents/{document_id}", operation_id="deleteDocument", status_code=204)
def delete_document(document_id: uuid.UUID, principal: Operator, svc: ServicesDep) -> Response:
    """Remove the S3 object and the document with every chunk."""
    svc.knowledge.delete(principal.tenant_id, document_id)
    return Response(status_code=204)


@router.post(
    "/v1/documents/{document_id}/reingest",
    operation_id="reingestDocument",
    status_code=202,
    response_model=DocumentOut,
)
def reingest_document(document_id: uuid.UUID, principal: Operator, svc: ServicesDep) -> DocumentOut:
    """Ingest the stored file again (after a failure, or with the current embedding model)."""
    return out(svc.knowledge.reingest(principal.tenant_id, document_id))


@router.post("/v1/knowledge/search", operation_id="searchKnowledge", response_model=SearchOut)
def search_knowledge(body: SearchIn, principal: Viewer, svc: ServicesDep) -> SearchOut:
    """Hybrid retrieval, exactly as workflows use it: vector and full-text ranks fused."""
    hits = svc.knowledge.search(
        principal.tenant_id,
        body.query,
        k=body.k,
        document_ids=body.document_ids,
        tags=body.tags,
    )
    return SearchOut(
        query=body.query,
        embedding_model=svc.embeddings.model,
        hits=[
            SearchHit(
                chunk_id=h.chunk_id,
                document_id=h.document_id,
                filename=h.filename,
                title=h.title,
                ordinal=h.ordinal,
                heading=h.heading,
                text=h.body,
                vector_rank=h.vector_rank,
                text_rank=h.text_rank,
                score=h.score,
            )
            for h in hits
        ],
    )


@router.post(
    "/v1/knowledge/reembed",
    operation_id="reembedKnowledge",
    status_code=200,
    response_model=list[DocumentOut],
)
def reembed_knowledge(principal: Admin, svc: ServicesDep) -> list[DocumentOut]:
    """Ingest every document of the tenant again with the configured embedding model."""
    return [out(d) for d in svc.knowledge.reembed(principal.tenant_id)]
