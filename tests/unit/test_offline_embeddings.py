"""The offline embedder: deterministic, normalised, lexically honest, batched."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from flightdeck.llm.base import estimate_tokens
from flightdeck.llm.offline_embeddings import MODEL, OfflineHashingEmbedder, stem, words

KNOWLEDGE = [
    "Refunds are issued within 14 days of receiving the returned item.",
    "Our support team is available Monday to Friday, 9am to 5pm.",
    "Shipping to Canada takes 5-7 business days.",
    "To reset your password, click 'Forgot password' on the sign-in page.",
]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def test_the_same_text_gives_the_same_vector_in_any_embedder() -> None:
    text = "Where is my parcel? It shipped last Tuesday."
    first = OfflineHashingEmbedder().embed([text], purpose="document").vectors[0]
    again = OfflineHashingEmbedder().embed([text, text], purpose="query").vectors

    assert again == [first, first]


def test_vectors_do_not_depend_on_pythons_hash_seed() -> None:
    # Given two interpreters with different string-hash salts
    script = (
        "from flightdeck.llm.offline_embeddings import OfflineHashingEmbedder;"
        "print(OfflineHashingEmbedder().vector('refund for a damaged kettle'))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    # Then they compute the same vector
    assert len(outputs) == 1


def test_the_recipe_is_pinned_to_its_model_id() -> None:
    # A change to the features, weights or hash changes every stored vector: it must come with
    # a new MODEL id (so tenants are re-embedded), and then these figures change with it.
    vector = OfflineHashingEmbedder().vector("Refunds are issued within 14 days.")

    assert MODEL == "offline-hashing-v1"
    assert [(i, round(x, 6)) for i, x in enumerate(vector) if x][:5] == [
        (3, -0.096759),
        (5, -0.068419),
        (6, 0.068419),
        (11, -0.074949),
        (13, -0.290277),
    ]
    assert sum(1 for x in vector if x) == 62


@pytest.mark.parametrize(
    "text",
    [
        "Refunds are issued within 14 days.",
        "",
        "   \n\t ",
        "the of and",  # only function words: kept rather than left empty
        "Größe, Übergröße — 東京の配送 🚚",
        "x" * 5000,
    ],
    ids=["sentence", "empty", "blank", "function-words", "unicode", "long-word"],
)
def test_every_vector_is_unit_length(text: str) -> None:
    (vector,) = OfflineHashingEmbedder().embed([text], purpose="document").vectors
    assert norm(vector) == pytest.approx(1.0, abs=1e-9)
    assert all(math.isfinite(x) for x in vector)


def test_dimension_is_384_by_default_and_configurable() -> None:
    default = OfflineHashingEmbedder().embed(["a refund"], purpose="document")
    small = OfflineHashingEmbedder(dimension=64).embed(["a refund"], purpose="document")

    assert (default.model, default.dimension, len(default.vectors[0])) == (MODEL, 384, 384)
    assert (small.dimension, len(small.vectors[0])) == (64, 64)
    with pytest.raises(ValueError, match="16 dimensions"):
        OfflineHashingEmbedder(dimension=8)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how do I get a refund for my return", 0),
        ("when is the support team open", 1),
        ("how long does shipping to canada take", 2),
        ("I forgot my password", 3),
        ("parcel shipped to Canada", 2),  # an inflection (shipped/shipping) still matches
    ],
)
def test_a_query_is_closest_to_the_text_sharing_its_words(query: str, expected: int) -> None:
    embedder = OfflineHashingEmbedder()
    documents = embedder.embed(KNOWLEDGE, purpose="document").vectors
    (question,) = embedder.embed([query], purpose="query").vectors

    scores = [cosine(question, d) for d in documents]

    best = max(range(len(scores)), key=scores.__getitem__)
    assert best == expected, scores
    runner_up = max(s for i, s in enumerate(scores) if i != expected)
    assert scores[expected] > runner_up + 0.1, scores


def test_similar_texts_are_closer_than_unrelated_ones() -> None:
    embedder = OfflineHashingEmbedder()
    a, b, c = embedder.embed(
        [
            "The kettle arrived damaged and I want a refund.",
            "My kettle was damaged on arrival; please refund me.",
            "Quarterly tax filing deadlines for contractors.",
        ],
        purpose="document",
    ).vectors

    assert cosine(a, b) > 0.4
    assert abs(cosine(a, c)) < 0.15
    assert cosine(a, a) == pytest.approx(1.0)


def test_batches_keep_order_and_count_tokens() -> None:
    texts = [f"order {n} was delayed by {n} days" for n in range(7)]

    batched = OfflineHashingEmbedder(batch_size=2).embed(texts, purpose="document")
    whole = OfflineHashingEmbedder(batch_size=100).embed(texts, purpose="document")

    assert batched.vectors == whole.vectors
    assert len(batched.vectors) == 7
    assert batched.vectors[0] != batched.vectors[1]
    assert batched.input_tokens == sum(estimate_tokens(t) for t in texts)
    assert OfflineHashingEmbedder().embed([], purpose="query").vectors == []


def test_words_drop_function_words_and_stems_meet() -> None:
    assert words("What is the Refund policy?") == ["refund", "policy"]
    assert words("the of") == ["the", "of"]
    assert {stem("refunds"), stem("refunded"), stem("refunding")} == {"refund"}
    assert stem("shipped") == stem("shipping")
    assert stem("address") == "address"
