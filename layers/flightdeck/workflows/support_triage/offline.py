"""Rules the offline provider answers this workflow's tasks with: keyword matching and simple
arithmetic, deterministic by construction. A real model replaces all of this by configuration."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from flightdeck.workflows.support_triage.state import Category, Classification, Draft, Score

_KEYWORDS: dict[Category, tuple[str, ...]] = {
    "billing": ("invoice", "charge", "charged", "bill", "payment", "refund", "price", "card"),
    "shipping": ("delivery", "shipping", "shipped", "package", "parcel", "tracking", "arrive"),
    "account": ("password", "login", "log in", "account", "email address", "sign in", "locked"),
    "technical": ("error", "bug", "crash", "broken", "not working", "app", "sync", "install"),
    "general": (),
}
_REFUND = re.compile(r"\b(refund|money back|reimburse|chargeback)\b", re.IGNORECASE)
_URGENT = re.compile(r"\b(urgent|asap|immediately|today|angry|unacceptable)\b", re.IGNORECASE)
_STOP = {"the", "and", "for", "with", "that", "this", "have", "was", "you", "your", "are", "but"}


def classify(v: Mapping[str, Any]) -> BaseModel:
    text = f"{v['subject']} {v['body']}".lower()
    counts = {c: sum(text.count(k) for k in words) for c, words in _KEYWORDS.items()}
    category: Category = max(counts, key=lambda c: (counts[c], c == "general"))
    if counts[category] == 0:
        category = "general"
    words = [w for w in re.findall(r"[a-z]{3,}", text) if w not in _STOP]
    query = " ".join(dict.fromkeys(words[:12]))
    return Classification(
        category=category,
        urgency="high" if _URGENT.search(text) else "normal",
        refund_requested=bool(_REFUND.search(text)),
        search_query=query or category,
    )


def draft(v: Mapping[str, Any]) -> BaseModel:
    context: list[str] = list(v["context"])
    if context:
        title, _, body = context[0].partition(": ")
        first = body.split(". ")[0].rstrip(".")
        reply = (
            f'Hello, thank you for contacting us about "{v["subject"]}". {first}. '
            f'You can read more in our guide "{title}". Reply to this message if anything '
            "is still unclear."
        )
        confidence = min(0.95, 0.6 + 0.12 * len(context))
    else:
        reply = (
            f'Hello, thank you for contacting us about "{v["subject"]}". A member of our team '
            "is looking into it and will get back to you shortly."
        )
        confidence = 0.4
    if v["refund_requested"]:
        confidence = min(confidence, 0.7)
    return Draft(reply=reply, confidence=round(confidence, 2))


def score(v: Mapping[str, Any]) -> BaseModel:
    if not v["sent"]:
        return Score(quality=0.3, notes="No reply was sent; a person must answer by hand.")
    quality = 0.5 + 0.4 * float(v["confidence"])
    if v["reviewed"]:
        quality += 0.1
    quality = round(min(quality, 1.0), 2)
    return Score(quality=quality, notes=f"Reply sent after decision '{v['decision']}'.")


RULES = {
    "support_triage.classify": classify,
    "support_triage.draft": draft,
    "support_triage.score": score,
}
