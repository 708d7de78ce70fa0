"""The chunker: structure kept, budgets held, overlap carried, hashes that change only where the
text did."""

from __future__ import annotations

import hashlib
import random
import unicodedata
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flightdeck.knowledge.chunking import Chunk, chunk, content_hash, estimate_tokens

WORDS = [
    "refund",
    "order",
    "delivery",
    "parcel",
    "invoice",
    "account",
    "password",
    "warehouse",
    "carrier",
    "photo",
    "replacement",
    "customer",
    "payment",
    "method",
    "business",
    "days",
    "approval",
    "manager",
    "tracking",
    "email",
    "support",
    "team",
    "app",
    "device",
    "sync",
    "settings",
    "billing",
    "address",
    "charge",
    "card",
    "authorisation",
    "reset",
    "link",
    "spam",
    "folder",
]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _paragraph(rng: random.Random, index: int) -> str:
    # a numbered marker keeps every paragraph distinct, so its text can be traced into chunks
    sentences = [_sentence(rng, rng.randint(5, 18)) for _ in range(rng.randint(1, 5))]
    return f"P{index}: " + " ".join(sentences)


def _long_document(seed: int = 7, paragraphs: int = 60) -> list[str]:
    rng = random.Random(seed)
    return [_paragraph(rng, i) for i in range(paragraphs)]


def _body(c: Chunk) -> str:
    return c.text[len(c.heading) + 2 :] if c.heading else c.text


def _shared(previous: str, following: str) -> str:
    """The longest start of `following` that is also the end of `previous`."""
    for size in range(min(len(previous), len(following)), 0, -1):
        if previous.endswith(following[:size]):
            return following[:size]
    return ""


# --- structure ----------------------------------------------------------------------------


def test_each_chunk_carries_its_heading_path_and_starts_with_it() -> None:
    text = (
        "Intro before any heading.\n\n"
        "# Returns\n\nHow returns work.\n\n"
        "## Refund window\n\nThirty days from delivery.\n\n"
        "### Exceptions\n\nSale items are final.\n\n"
        "## Damaged items ##\n\nSend a photo within 7 days.\n\n"
        "# Shipping\n\nTwo to four business days."
    )
    chunks = chunk(text)
    assert [(c.heading, _body(c)) for c in chunks] == [
        ("", "Intro before any heading."),
        ("Returns", "How returns work."),
        ("Returns > Refund window", "Thirty days from delivery."),
        ("Returns > Refund window > Exceptions", "Sale items are final."),
        ("Returns > Damaged items", "Send a photo within 7 days."),  # sibling resets depth
        ("Shipping", "Two to four business days."),
    ]
    for c in chunks:
        if c.heading:
            assert c.text.startswith(c.heading + "\n\n")
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_a_hash_line_inside_a_code_fence_is_text_not_a_heading() -> None:
    text = "# Setup\n\nRun this:\n\n```bash\n# install the app\nmake dev\n```\n\nThen sign in."
    chunks = chunk(text)
    assert {c.heading for c in chunks} == {"Setup"}
    assert "# install the app" in chunks[0].text


def test_hashtags_and_headings_without_body_make_no_chunks_of_their_own() -> None:
    text = "#1 priority is speed.\n\n# Empty section\n\n## Filled\n\nSome text."
    chunks = chunk(text)
    assert [(c.heading, _body(c)) for c in chunks] == [
        ("", "#1 priority is speed."),
        ("Empty section > Filled", "Some text."),
    ]


def test_no_empty_chunks_and_nothing_for_blank_text() -> None:
    assert chunk("") == []
    assert chunk("  \n\n \t\n") == []
    chunks = chunk("# Only\n\n\n\n## Headings")
    assert chunks  # headings alone are the text
    assert all(_body(c).strip() for c in chunks)


def test_a_long_paragraph_is_cut_at_sentences_before_words() -> None:
    rng = random.Random(1)
    sentences = [_sentence(rng, 12) for _ in range(30)]
    chunks = chunk(" ".join(sentences), max_tokens=80, overlap_tokens=0)
    assert len(chunks) > 3
    for c in chunks:
        assert c.text.endswith(".")  # every cut fell at a sentence end
        assert c.token_count <= 80


def test_a_sentence_longer_than_the_budget_is_cut_at_words_and_a_huge_word_at_characters() -> None:
    words = [f"word{i}" for i in range(200)]
    token = "x" * 1000  # a URL or a base64 blob
    chunks = chunk(" ".join(words) + " " + token, max_tokens=40, overlap_tokens=5)
    assert all(c.token_count <= 40 for c in chunks)
    text = " ".join(_body(c) for c in chunks)
    assert all(word in text.split() for word in words)  # words cut nowhere but between
    assert sum(_body(c).count("x") for c in chunks) >= 1000


# --- budget and overlap -------------------------------------------------------------------


def test_estimate_tokens_is_documented_per_word() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("the refunded.") == 1 + 3
    assert estimate_tokens("退款政策") == 4  # CJK: a token a character
    assert estimate_tokens("a\n\nb  c") == 3


@pytest.mark.parametrize(("max_tokens", "overlap"), [(300, 40), (120, 30), (40, 10), (16, 4)])
def test_chunks_stay_within_the_budget_heading_and_overlap_included(
    max_tokens: int, overlap: int
) -> None:
    paragraphs = _long_document()
    text = "# Returns and refunds policy\n\n## A rather long section heading for the budget\n\n"
    text += "\n\n".join(paragraphs)
    chunks = chunk(text, max_tokens=max_tokens, overlap_tokens=overlap)
    assert len(chunks) > 1
    for c in chunks:
        assert c.token_count == estimate_tokens(c.text)
        assert 0 < c.token_count <= max_tokens


def test_each_chunk_opens_with_the_tail_of_the_one_before() -> None:
    text = "# Policy\n\n" + "\n\n".join(_long_document(paragraphs=20))
    chunks = chunk(text, max_tokens=120, overlap_tokens=30)
    assert len(chunks) > 4
    for previous, following in pairwise(chunks):
        carried = _shared(_body(previous), _body(following))
        assert carried.strip(), (previous.text, following.text)
        assert 0 < estimate_tokens(carried) <= 30
        before = _body(previous)[: -len(carried)]
        assert not before or before[-1].isspace()  # cut between words

    # and none at all when asked for none
    plain = chunk(text, max_tokens=120, overlap_tokens=0)
    for previous, following in pairwise(plain):
        assert not _shared(_body(previous), _body(following)).strip()


def test_the_overlap_is_whole_sentences_when_the_last_ones_fit() -> None:
    sentences = [f"Sentence number {i} says one short thing." for i in range(60)]
    chunks = chunk(" ".join(sentences), max_tokens=100, overlap_tokens=30)
    assert len(chunks) > 3
    for previous, following in pairwise(chunks):
        carried = _shared(previous.text, following.text)
        assert carried.startswith("Sentence number")
        assert carried.endswith(".")
        assert estimate_tokens(carried) <= 30 < estimate_tokens(carried) + 12


def test_overlap_never_crosses_into_another_section() -> None:
    one = " ".join(f"Alpha sentence {i} ends here." for i in range(40))
    two = " ".join(f"Beta sentence {i} ends here." for i in range(40))
    chunks = chunk(f"# One\n\n{one}\n\n# Two\n\n{two}", max_tokens=60, overlap_tokens=20)
    for c in chunks:
        assert ("Alpha" in c.text) != ("Beta" in c.text)
        assert ("Alpha" in c.text) == (c.heading == "One")


def test_rows_fitting_the_budget_are_never_split() -> None:
    rows = [
        f"item: Product {i}; price (EUR): {i}.90; delivery: 2 to 4 business days" for i in range(50)
    ]
    chunks = chunk("\n\n".join(rows), max_tokens=100, overlap_tokens=30)
    for c in chunks:
        for line in _body(c).split("\n\n"):
            assert line in rows


def test_bad_budgets_are_refused() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        chunk("text", max_tokens=4)
    with pytest.raises(ValueError, match="overlap_tokens"):
        chunk("text", max_tokens=100, overlap_tokens=100)


@settings(max_examples=60, deadline=None)
@given(
    blocks=st.lists(
        st.one_of(
            st.builds(lambda n, t: "#" * n + " " + t, st.integers(1, 6), st.sampled_from(WORDS)),
            st.lists(
                st.sampled_from([*WORDS, "end.", "stop!", "why?"]), min_size=1, max_size=90
            ).map(" ".join),
        ),
        min_size=1,
        max_size=25,
    ),
    max_tokens=st.integers(8, 200),
    overlap_ratio=st.floats(0, 0.9),
)
def test_any_text_is_covered_in_budget_without_empty_chunks(
    blocks: list[str], max_tokens: int, overlap_ratio: float
) -> None:
    text = "\n\n".join(blocks)
    overlap = int(max_tokens * overlap_ratio)
    chunks = chunk(text, max_tokens=max_tokens, overlap_tokens=overlap)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    covered = set()
    for c in chunks:
        assert 0 < c.token_count <= max_tokens
        assert _body(c).strip()
        covered.update(_body(c).split())
    body_words = {w for block in blocks if not block.startswith("#") for w in block.split()}
    assert body_words <= covered


# --- unicode ------------------------------------------------------------------------------


def test_unicode_text_is_kept_and_cjk_is_cut_within_budget() -> None:
    cjk = "退款政策允许在交付后三十天内全额退款" * 30  # no spaces, no sentence stops
    text = f"# Remboursement 🎉\n\nCafé crème, naïve façade — “quoted”.\n\n{cjk}"
    chunks = chunk(text, max_tokens=50, overlap_tokens=10)
    assert chunks[0].heading == "Remboursement 🎉"
    assert "Café crème, naïve façade — “quoted”." in chunks[0].text
    assert all(c.token_count <= 50 for c in chunks)
    assert len(chunks) > 10
    assert all("退款" in _body(c) or "Café" in _body(c) for c in chunks)


def test_composed_and_decomposed_accents_hash_the_same() -> None:
    composed = unicodedata.normalize("NFC", "# Café\n\nUn reçu détaillé.")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert [c.content_hash for c in chunk(composed)] == [c.content_hash for c in chunk(decomposed)]


# --- hashes -------------------------------------------------------------------------------


def test_the_hash_is_sha256_of_the_normalised_heading_and_text() -> None:
    expected = hashlib.sha256(b"Returns > Refund window\nReturns > Refund window Thirty days.")
    assert content_hash(
        "Returns > Refund window\n\n  Thirty   days.\n", "Returns > Refund window"
    ) == (expected.hexdigest())
    [only] = chunk("# Returns\n\n## Refund window\n\nThirty days.")
    assert only.content_hash == expected.hexdigest()


def test_chunking_is_deterministic_and_blind_to_whitespace_reflow() -> None:
    text = "# Policy\n\n" + "\n\n".join(_long_document())
    first, second = chunk(text), chunk(text)
    assert first == second
    reflowed = text.replace(". ", ".  ").replace("\n\n", "\n  \n")
    assert [c.content_hash for c in chunk(reflowed)] == [c.content_hash for c in first]


def test_editing_one_section_changes_only_that_sections_chunks() -> None:
    rng = random.Random(3)
    sections = {f"Section {i}": [_paragraph(rng, 100 * i + j) for j in range(6)] for i in range(8)}

    def render(secs: dict[str, list[str]]) -> str:
        return "\n\n".join(f"## {name}\n\n" + "\n\n".join(ps) for name, ps in secs.items())

    before = chunk(render(sections), max_tokens=120, overlap_tokens=30)
    edited = {name: list(ps) for name, ps in sections.items()}
    edited["Section 4"][2] += " A whole new sentence about the carrier and the refund."
    after = chunk(render(edited), max_tokens=120, overlap_tokens=30)

    old = {c.content_hash for c in before}
    changed = [c for c in after if c.content_hash not in old]
    assert changed
    assert {c.heading for c in changed} == {"Section 4"}
    unchanged = [c for c in after if c.heading != "Section 4"]
    assert [c.content_hash for c in unchanged] == [
        c.content_hash for c in before if c.heading != "Section 4"
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_editing_one_paragraph_of_a_long_section_changes_only_the_chunks_near_it(
    seed: int,
) -> None:
    # Given a long document with no headings at all (a plain text file, a PDF without
    # structure), when any one paragraph grows or shrinks by a sentence, then only the chunks
    # holding that paragraph (or carrying its end as their overlap) get new hashes: the chunk
    # boundaries after it fall back in step, so the rest of the document keeps its embeddings.
    paragraphs = _long_document(seed=seed, paragraphs=80)
    before = chunk("\n\n".join(paragraphs))
    old = {c.content_hash for c in before}
    assert len(before) >= 20
    for target in range(2, 80, 4):
        for grow in (True, False):
            edited = list(paragraphs)
            if grow:
                edited[target] += " Refunds after thirty days need a manager's approval."
            else:
                edited[target] = edited[target].split(". ")[0] + "."
            if edited[target] == paragraphs[target]:
                continue
            after = chunk("\n\n".join(edited))
            marker = f"P{target}:"
            holding = {i for i, c in enumerate(after) if marker in c.text}
            changed = {i for i, c in enumerate(after) if c.content_hash not in old}
            assert holding & changed, (target, grow)
            # the edited paragraph's chunks, the one before (a paragraph grown out of a chunk
            # leaves it), the one after (overlap), and at most a few more while the boundaries
            # fall back in step; nothing far from the edit
            assert len(changed) <= 4, (target, grow, sorted(changed), sorted(holding))
            assert min(holding) - 1 <= min(changed)
            assert max(changed) <= max(holding) + 3
