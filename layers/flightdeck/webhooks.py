"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`, HMAC-SHA256 with the
base64-decoded secret (after its `whsec_` prefix); `webhook-signature` holds one or more
space-separated `v1,<base64>` entries so senders can rotate secrets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from typing import TypeVar

TOLERANCE_SECONDS = 5 * 60
K = TypeVar("K")
SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret


class WebhookVerificationError(Exception):
    """The delivery is not authentic; the message says why, without secrets."""


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of one delivery."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


def verify(
    secrets: Iterable[str],
    request_headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a delivery against every valid secret; returns its `webhook-id`.

    `request_headers` must be case-insensitive or lower-cased, as HTTP frameworks provide.
    """
    return verify_keyed(
        ((None, s) for s in secrets), request_headers, body, now=now, tolerance=tolerance
    )[0]


def verify_keyed(
    keys: Iterable[tuple[K, str]],
    request_headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> tuple[str, K]:
    """`verify` with each secret named by a key (its version id): returns the `webhook-id`
    and the key of the first secret that matches, so the caller can check that this very
    secret is still valid when it acts on the delivery."""
    msg_id = request_headers.get("webhook-id")
    timestamp = request_headers.get("webhook-timestamp")
    signatures = request_headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature header"
        )
    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the allowed window")
    offered = []
    for entry in signatures.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and value:
            offered.append(value.encode())
    if not offered:
        raise WebhookVerificationError("webhook-signature has no v1 signature")
    content = f"{msg_id}.{ts}.".encode() + body
    for key, secret in keys:
        digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
        expected = base64.b64encode(digest)
        # Compare against every offered signature, without stopping early.
        matched = False
        for candidate in offered:
            matched |= hmac.compare_digest(expected, candidate)
        if matched:
            return msg_id, key
    raise WebhookVerificationError("no signature matches")
