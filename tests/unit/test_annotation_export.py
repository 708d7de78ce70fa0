"""The annotation export's encoders, without a database: CSV cells a spreadsheet would run are
guarded, large exports come in bounded chunks, and every record survives the round trip."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from flightdeck.api.routes.annotations import (
    EXPORT_FIELDS,
    csv_cell,
    csv_chunks,
    export_record,
    jsonl_chunks,
)
from flightdeck.store.annotations import Annotation


def annotation(i: int = 0, **changes: Any) -> Annotation:
    base = Annotation(
        id=uuid.UUID(int=i),
        run_id=uuid.UUID(int=10_000),
        workflow="support_triage",
        node=None,
        kind="comment",
        body=f"note {i}",
        label=None,
        score=None,
        metric=None,
        author="token:00000000-0000-0000-0000-000000000001",
        created_at=datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC) + timedelta(seconds=i),
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        ("plain", "plain"),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        (0.5, "0.5"),
        (0.0, "0.0"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_start_with_an_apostrophe(
    value: object, cell: str
) -> None:
    assert csv_cell(value) == cell


def test_an_empty_csv_export_is_its_header_row() -> None:
    assert b"".join(csv_chunks([])).decode() == ",".join(EXPORT_FIELDS) + "\r\n"


def test_an_empty_jsonl_export_is_empty() -> None:
    assert b"".join(jsonl_chunks([])) == b""


def test_large_exports_stream_in_bounded_chunks_that_parse_back() -> None:
    records = [annotation(i, body=f'line {i}, with "quotes"\nand a break') for i in range(3000)]

    csv_parts = list(csv_chunks(records))
    jsonl_parts = list(jsonl_chunks(records))

    assert len(csv_parts) > 1
    assert len(jsonl_parts) > 1
    assert all(len(part) < 80 * 1024 for part in csv_parts + jsonl_parts)
    rows = list(csv.DictReader(io.StringIO(b"".join(csv_parts).decode())))
    assert [r["body"] for r in rows] == [r.body for r in records]
    lines = b"".join(jsonl_parts).decode().splitlines()
    assert [json.loads(line) for line in lines] == [export_record(r) for r in records]


def test_records_carry_utc_times_and_plain_values() -> None:
    east = timezone(timedelta(hours=2))
    record = export_record(
        annotation(
            kind="score",
            body=None,
            score=0.25,
            metric="tone",
            node="act",
            created_at=datetime(2025, 1, 2, 5, 0, tzinfo=east),
        )
    )

    assert record == {
        "id": "00000000-0000-0000-0000-000000000000",
        "run_id": str(uuid.UUID(int=10_000)),
        "workflow": "support_triage",
        "node": "act",
        "kind": "score",
        "body": None,
        "label": None,
        "score": 0.25,
        "metric": "tone",
        "author": "token:00000000-0000-0000-0000-000000000001",
        "created_at": "2025-01-02T03:00:00Z",
    }
    assert tuple(record) == EXPORT_FIELDS
