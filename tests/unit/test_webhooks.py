"""Standard Webhooks signing and verification."""

from __future__ import annotations

import json

import pytest

from flightdeck import webhooks
from flightdeck.store.tenants import new_webhook_secret

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b'{"ticket_id":"T-1","subject":"hi"}'
NOW = 1_700_000_000


def test_known_vector() -> None:
    # The example from the Standard Webhooks specification.
    signature = webhooks.sign(
        SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_valid_signature_is_accepted() -> None:
    headers = webhooks.headers(SECRET, "msg_1", BODY, timestamp=NOW)
    assert webhooks.verify([SECRET], headers, BODY, now=NOW) == "msg_1"


def test_rotation_accepts_either_secret_and_several_signatures() -> None:
    new = new_webhook_secret()
    old_sig = webhooks.sign(SECRET, "msg_1", NOW, BODY)
    new_sig = webhooks.sign(new, "msg_1", NOW, BODY)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": f"{new_sig} {old_sig}",
    }
    assert webhooks.verify([SECRET], headers, BODY, now=NOW) == "msg_1"
    assert webhooks.verify([new, SECRET], headers, BODY, now=NOW) == "msg_1"


@pytest.mark.parametrize(
    "case", ["tampered", "wrong_secret", "too_old", "too_new", "missing", "reserialized", "v2"]
)
def test_invalid_deliveries_are_refused(case: str) -> None:
    headers = webhooks.headers(SECRET, "msg_1", BODY, timestamp=NOW)
    body, now = BODY, float(NOW)
    if case == "tampered":
        body = BODY.replace(b"hi", b"ho")
    elif case == "wrong_secret":
        headers = webhooks.headers(new_webhook_secret(), "msg_1", BODY, timestamp=NOW)
    elif case == "too_old":
        now = NOW + 6 * 60
    elif case == "too_new":
        now = NOW - 6 * 60
    elif case == "missing":
        del headers["webhook-signature"]
    elif case == "reserialized":
        body = json.dumps(json.loads(BODY), indent=1).encode()
    elif case == "v2":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")

    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify([SECRET], headers, body, now=now)
