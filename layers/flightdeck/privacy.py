"""Personal data: find it in text and structures, and mask it before it leaves the process.

What counts as personal:
- e-mail addresses;
- phone numbers: `+` and 8 to 15 digits, or the national shapes `(555) 123-4567`,
  `555-123-4567`, `020 7946 0958` (groups separated by a space, dot or dash);
- payment card numbers: 13 to 19 digits, bare or in groups of 4 (or Amex's 4-6-5) separated
  by one space or dash, and only when the Luhn check passes (a 16-digit order number that
  fails it stays readable);
- IBANs: country code, check digits and 11 to 30 letters or digits, bare or in groups of four,
  and only when the ISO 13616 mod-97 check passes;
- every field a workflow's input model marks as personal, whatever its value:

      customer_name: str = Field(json_schema_extra=PERSONAL)

  (`PERSONAL` is `{"personal": True}`; nested models are followed). Such a field is sealed
  whole in the stored trigger (`flightdeck.store.sealing`), and its name is registered when
  the workflow is defined, so a log line or span attribute under that key is masked whole
  too (except generic names such as `body`, whose text the detectors mask).

A masked value becomes a token such as `<email:3f2a9c1b04>`: the first 10 hex digits of an
HMAC-SHA256 of the normalised value under the process's masking key. The same address gives
the same token in every log line, span and callback (lines stay correlatable) and the value
cannot be read back from it. The key is `FLIGHTDECK_MASKING_KEY` when set; deployed, it is
the Secrets Manager secret `FLIGHTDECK_MASKING_KEY_SECRET` names (name or ARN) (one secret for every
function, read once per process, so tokens match across functions and the key is never in a
function's configuration); otherwise, or when that secret cannot be read, a random key per
process, whose tokens correlate within that process only (masking never stops for want of a
key).

Everything here is pure Python over precompiled patterns: cheap enough for every log record.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

# Mark a pydantic field as personal: `Field(json_schema_extra=PERSONAL)`.
PERSONAL: dict[str, Any] = {"personal": True}
# The same environment variable name as `flightdeck.settings.EnvVar.MASKING_KEY`; read here
# directly because logging is set up before any settings are validated.
MASKING_KEY_ENV = "FLIGHTDECK_MASKING_KEY"
MASKING_KEY_SECRET_ENV = "FLIGHTDECK_MASKING_KEY_SECRET"  # noqa: S105 - a name
TOKEN_HEX_DIGITS = 10

# Keys whose values are personal whatever they hold (lower case); workflows add theirs.
_DEFAULT_PERSONAL_KEYS = frozenset(
    {
        "email",
        "e_mail",
        "customer_email",
        "customer_name",
        "full_name",
        "first_name",
        "last_name",
        "phone",
        "phone_number",
        "iban",
        "card_number",
    }
)
_personal_keys: set[str] = set(_DEFAULT_PERSONAL_KEYS)
_key: bytes | None = None
_key_lock = threading.Lock()

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
# Consistent separators inside one number: "4111 1111 1111 1111", "4111-1111-1111-1111",
# Amex "3782 822463 10005", or a bare run of 13 to 19 digits.
_CARD = re.compile(
    r"(?<![\w-])(?:"
    r"\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"
    r"|\d{4}([ -])\d{6}\2\d{4,5}"
    r"|\d{13,19}"
    r")(?![\w-])"
)
_IBAN = re.compile(
    r"(?<![\w-])[A-Za-z]{2}\d{2}(?:(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?"
    r"|[A-Za-z0-9]{11,30})(?![\w-])"
)
_PHONE = re.compile(
    r"(?<![\w+-])(?:"
    # International: + country code, then digits in groups (8 to 15 digits in all).
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567.
    r"|\(\d{3}\) ?\d{3}[ .-]\d{4}"
    r"|\d{3}([ .-])\d{3}\1\d{4}"
    # National trunk prefix 0: 020 7946 0958, 06-1234-5678, 0612 345 678.
    r"|0\d{1,4}([ -])\d{3,4}\2?\d{3,4}"
    r")(?![\w-])"
)


def luhn_valid(digits: str) -> bool:
    """The Luhn check of a string of digits (payment card numbers pass it)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, mod 97 = 1."""
    iban = candidate.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34 or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def set_masking_key(key: bytes) -> None:
    """Use `key` for tokens from now on (tests, or a key fetched at cold start)."""
    global _key
    _key = key


def _masking_key() -> bytes:
    global _key
    if _key is None:
        with _key_lock:
            if _key is None:
                _key = _configured_key()
    return _key


def _configured_key() -> bytes:
    configured = os.environ.get(MASKING_KEY_ENV)
    if configured:
        return configured.encode()
    secret_arn = os.environ.get(MASKING_KEY_SECRET_ENV)
    if secret_arn:
        try:
            import boto3

            value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)
            return str(value["SecretString"]).encode()
        except Exception as exc:  # any failure: mask with a process key
            sys.stderr.write(
                f"flightdeck: the masking key secret cannot be read ({type(exc).__name__}); "
                "tokens correlate within this process only\n"
            )
    return secrets.token_bytes(32)


def token(kind: str, value: str) -> str:
    """The stable, non-reversible stand-in for `value`: `<kind:hex>`."""
    digest = hmac.new(_masking_key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"<{kind}:{digest[:TOKEN_HEX_DIGITS]}>"


def _card(match: re.Match[str]) -> str:
    digits = _digits(match.group(0))
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return token("card", digits)
    return match.group(0)


def _iban(match: re.Match[str]) -> str:
    text = match.group(0)
    if iban_valid(text):
        return token("iban", text.replace(" ", "").upper())
    return text


def _email(match: re.Match[str]) -> str:
    return token("email", match.group(0).lower())


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = _digits(text)
    if not 7 <= len(digits) <= 15:
        return text
    return token("phone", ("+" if text.startswith("+") else "") + digits)


_TOKEN = re.compile(rf"<[a-z]+:[0-9a-f]{{{TOKEN_HEX_DIGITS}}}>")
# Cards and IBANs first: their digit groups would otherwise look like phone numbers.
_DETECTORS = ((_CARD, _card), (_IBAN, _iban), (_EMAIL, _email), (_PHONE, _phone))


def mask_text(text: str) -> str:
    """`text` with every e-mail address, phone number, card number and IBAN replaced by its
    token; everything else unchanged."""
    if not any(ch.isdigit() or ch == "@" for ch in text):
        return text
    for pattern, replace in _DETECTORS:
        text = pattern.sub(replace, text)
    return text


def contains_personal_data(text: str) -> bool:
    """Whether `mask_text` would change `text`."""
    return mask_text(text) != text


def _whole_value_token(value: Any) -> str:
    """A personal field's token: the detector's when the value is exactly one e-mail, phone,
    card or IBAN (so it matches the same value seen in free text), else `<personal:…>`."""
    text = str(value)
    if _TOKEN.fullmatch(text):
        return text  # masked already: masking twice gives the same value
    masked = mask_text(text.strip())
    if masked.startswith("<") and masked.endswith(">") and masked.count("<") == 1:
        return masked
    return token("personal", text)


def is_personal_key(key: str) -> bool:
    return key.lower() in _personal_keys


def mask_value(value: Any, personal_keys: Iterable[str] = ()) -> Any:
    """A copy of a JSON-like value with personal data masked: strings through `mask_text`,
    and the values under personal keys (registered ones and `personal_keys`) replaced whole."""
    extra = frozenset(k.lower() for k in personal_keys)
    return _mask(value, extra, 0)


def _mask(value: Any, extra: frozenset[str], depth: int) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if depth > 32 or value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            key = str(k).lower()
            if v is not None and (key in _personal_keys or key in extra):
                out[k] = _mask_whole(v)
            else:
                out[k] = _mask(v, extra, depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(v, extra, depth + 1) for v in value]
    if isinstance(value, BaseModel):
        return _mask(value.model_dump(mode="json"), extra, depth + 1)
    return mask_text(str(value))


def _mask_whole(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_whole_value_token(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _whole_value_token(v) for k, v in value.items()}
    return _whole_value_token(value)


def mask_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Span (or metric, or log) attributes with personal data masked; keys are kept.

    OpenTelemetry attribute values are str, bool, int, float or sequences of them; strings are
    masked, values under personal keys replaced whole, other values kept as they are."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None or isinstance(value, bool | int | float):
            out[key] = value
        elif is_personal_key(key.rsplit(".", 1)[-1]):
            out[key] = _mask_whole(value)
        elif isinstance(value, str):
            out[key] = mask_text(value)
        elif isinstance(value, list | tuple):
            out[key] = [mask_text(v) if isinstance(v, str) else v for v in value]
        else:
            out[key] = _mask(value, frozenset(), 0)
    return out


# Personal fields of input models ---------------------------------------------------------------


def personal_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The dotted paths of the fields `model` marks personal (nested models followed)."""
    return tuple(_personal_paths(model, "", 0))


def _personal_paths(model: type[BaseModel], prefix: str, depth: int) -> Iterable[str]:
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        path = f"{prefix}{info.alias or name}"
        if isinstance(extra, dict) and extra.get("personal") is True:
            yield path
            continue
        annotation = info.annotation
        if depth < 8 and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _personal_paths(annotation, f"{path}.", depth + 1)


# Names too common to mask whole wherever they appear ("body" is also an annotation's
# comment, a callback's...): personal free text under these names is masked by the detectors
# in logs and callbacks, and sealed whole only in the stored trigger.
_GENERIC_KEYS = frozenset(
    {"body", "text", "message", "subject", "content", "description", "notes", "comment"}
)


def register_personal_model(model: type[BaseModel]) -> tuple[str, ...]:
    """Remember the names of `model`'s personal fields (but generic ones such as `body`):
    values under those keys are masked whole wherever they appear (logs, spans, callbacks).
    Returns the dotted paths of all its personal fields."""
    paths = personal_fields(model)
    names = {p.rsplit(".", 1)[-1].lower() for p in paths}
    _personal_keys.update(names - _GENERIC_KEYS)
    return paths
