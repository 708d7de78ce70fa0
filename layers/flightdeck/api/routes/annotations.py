"""Annotations: comments, labels and scores on a run or one of its nodes; the export."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from flightdeck import privacy
from flightdeck.api.auth import Operator, ServicesDep, Viewer
from flightdeck.api.schemas import AnnotationOut
from flightdeck.engine.workflow import NAME_PATTERN
from flightdeck.errors import InvalidInputError, NotFoundError
from flightdeck.services import Services
from flightdeck.store import annotations as annotation_store
from flightdeck.store import runs
from flightdeck.store.annotations import BODY_MAX_CHARS, LABEL_PATTERN, Annotation, Kind

router = APIRouter(tags=["annotations"])

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
JSONL_MEDIA_TYPE = "application/x-ndjson"
EXPORT_PAGE_SIZE = 500
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection); such
# cells are written with a leading apostrophe, which spreadsheets show as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CHUNK_CHARS = 64 * 1024
# No NUL (Postgres text cannot hold it); a comment also needs one visible character.
_NODE_PATTERN = r"^[^\x00]+$"
_BODY_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


def _encodable(value: str) -> str:
    """Refuse lone surrogates: JSON can carry them, UTF-8 (and so Postgres) cannot."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


NodeName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=_NODE_PATTERN,
        description="a node of the run's workflow; leave out to annotate the whole run",
    ),
    AfterValidator(_encodable),
]
Label = Annotated[str, Field(pattern=LABEL_PATTERN, examples=["needs_review"])]


class _AnnotationBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: NodeName | None = None


class CommentIn(_AnnotationBase):
    kind: Literal["comment"]
    body: Annotated[
        str,
        Field(min_length=1, max_length=BODY_MAX_CHARS, pattern=_BODY_PATTERN),
        AfterValidator(_encodable),
    ]


class LabelIn(_AnnotationBase):
    kind: Literal["label"]
    label: Label


class ScoreIn(_AnnotationBase):
    kind: Literal["score"]
    score: float = Field(ge=0, le=1, allow_inf_nan=False)
    metric: Label | None = Field(default=None, description="what was scored, e.g. `tone`")


AnnotationIn = Annotated[CommentIn | LabelIn | ScoreIn, Body(discriminator="kind")]


EXPORT_FIELDS: tuple[str, ...] = tuple(AnnotationOut.model_fields)


@router.post(
    "/v1/runs/{run_id}/annotations",
    operation_id="createAnnotation",
    status_code=201,
    response_model=AnnotationOut,
    summary="Comment on, label or score a run or one of its nodes",
)
def create_annotation(
    run_id: uuid.UUID, body: AnnotationIn, principal: Operator, svc: ServicesDep
) -> AnnotationOut:
    with svc.tenant(principal.tenant_id) as conn:
        run = runs.get_run(conn, run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id}")
        if body.node is not None:
            _check_node(svc, run.workflow, body.node)
        created = annotation_store.create(
            conn,
            run_id,
            kind=body.kind,
            author=principal.actor,
            node=body.node,
            # A comment quoting a customer keeps the tokens, not the address or number.
            body=privacy.mask_text(body.body) if isinstance(body, CommentIn) else None,
            label=body.label if isinstance(body, LabelIn) else None,
            score=body.score if isinstance(body, ScoreIn) else None,
            metric=body.metric if isinstance(body, ScoreIn) else None,
        )
    if created is None:
        raise NotFoundError(f"no run {run_id}")
    return AnnotationOut.of(created)


def _check_node(svc: Services, workflow: str, node: str) -> None:
    nodes = list(svc.registry.get(workflow).graph.nodes) if workflow in svc.registry else []
    if node not in nodes:
        raise InvalidInputError(
            f"{node!r} is not a node of workflow {workflow!r} (its nodes: {', '.join(nodes)})",
            field="node",
        )


@router.get(
    "/v1/runs/{run_id}/annotations",
    operation_id="listRunAnnotations",
    response_model=list[AnnotationOut],
    summary="A run's annotations, oldest first",
)
def list_annotations(
    run_id: uuid.UUID,
    principal: Viewer,
    svc: ServicesDep,
    node: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=_NODE_PATTERN,
            description="only the annotations on this node",
        ),
    ] = None,
) -> list[AnnotationOut]:
    with svc.tenant(principal.tenant_id) as conn:
        if runs.get_run(conn, run_id) is None:
            raise NotFoundError(f"no run {run_id}")
        found = annotation_store.list_for_run(conn, run_id, node=node)
    return [AnnotationOut.of(a) for a in found]


@router.get(
    "/v1/annotations/export",
    operation_id="exportAnnotations",
    response_class=StreamingResponse,
    summary="Download the tenant's annotations as CSV or JSON Lines",
    responses={
        200: {
            "description": "one record per annotation, oldest first; CSV starts with a header"
            " row and writes cells that look like formulas with a leading apostrophe",
            "content": {
                CSV_MEDIA_TYPE: {"schema": {"type": "string"}},
                JSONL_MEDIA_TYPE: {"schema": {"type": "string"}},
            },
        }
    },
)
def export_annotations(
    principal: Viewer,
    svc: ServicesDep,
    format_: Annotated[Literal["csv", "jsonl"], Query(alias="format")],
    workflow: Annotated[str | None, Query(pattern=NAME_PATTERN.pattern)] = None,
    kind: Kind | None = None,
    since: Annotated[
        datetime | None,
        Query(description="from this time, inclusive (UTC when no offset is given)"),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(description="before this time, exclusive (UTC when no offset is given)"),
    ] = None,
) -> StreamingResponse:
    """Filters combine; `since` is inclusive and `until` exclusive, so consecutive windows
    neither overlap nor leave gaps."""
    tenant_id = principal.tenant_id

    # Keyset pages, each in its own short transaction: a slow download holds no connection.

    def page(after: tuple[datetime, uuid.UUID] | None) -> list[Annotation]:
        with svc.tenant(tenant_id) as conn:
            return annotation_store.export_page(
                conn,
                tenant_id,
                after=after,
                workflow=workflow,
                kind=kind,
                since=_utc(since),
                until=_utc(until),
                limit=EXPORT_PAGE_SIZE,
            )

    # The first page is read before answering, so a failure is an error status, not a cut body.
    records = _paged(page, page(None))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if format_ == "csv":
        chunks, media_type, suffix = csv_chunks(records), CSV_MEDIA_TYPE, "csv"
    else:
        chunks, media_type, suffix = jsonl_chunks(records), JSONL_MEDIA_TYPE, "jsonl"
    return StreamingResponse(
        chunks,
        media_type=media_type,
        headers={"content-disposition": f'attachment; filename="annotations-{stamp}.{suffix}"'},
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _paged(
    fetch: Callable[[tuple[datetime, uuid.UUID] | None], list[Annotation]],
    first: list[Annotation],
) -> Iterator[Annotation]:
    page = first
    while True:
        yield from page
        if len(page) < EXPORT_PAGE_SIZE:
            return
        page = fetch((page[-1].created_at, page[-1].id))


def export_record(a: Annotation) -> dict[str, Any]:
    """An annotation as JSON-ready values, the same shape the API answers with, personal data
    masked (`flightdeck.privacy`): an export leaves the platform, a comment may quote the
    customer."""
    masked: dict[str, Any] = privacy.mask_value(AnnotationOut.of(a).model_dump(mode="json"))
    return masked


def csv_cell(value: Any) -> str:
    """A cell's text: empty for a missing value; guarded when a spreadsheet would run it."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_chunks(records: Iterable[Annotation]) -> Iterator[bytes]:
    """UTF-8 CSV (RFC 4180 quoting) with a header row of `EXPORT_FIELDS`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    for a in records:
        row = export_record(a)
        writer.writerow([csv_cell(row[name]) for name in EXPORT_FIELDS])
        if buffer.tell() >= _CHUNK_CHARS:
            yield _drain(buffer)
    yield _drain(buffer)


def jsonl_chunks(records: Iterable[Annotation]) -> Iterator[bytes]:
    """JSON Lines: one object per annotation, one per line."""
    buffer = io.StringIO()
    for a in records:
        buffer.write(json.dumps(export_record(a), ensure_ascii=False))
        buffer.write("\n")
        if buffer.tell() >= _CHUNK_CHARS:
            yield _drain(buffer)
    tail = _drain(buffer)
    if tail:
        yield tail


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")
