"""Keyset page cursors: the last row's creation time and id, opaque to clients."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from flightdeck.errors import InvalidInputError


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The sort key a cursor names; a 422 problem for one this API did not return."""
    try:
        created_at, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInputError("cursor is not one this API returned", field="cursor") from exc
