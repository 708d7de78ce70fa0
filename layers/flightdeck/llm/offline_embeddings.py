"""The offline embedder: lexical vectors from feature hashing. No weights, no network.

It is not a language model and does not know that "refund" and "money back" mean the same thing.
What it does honestly: texts that share words, word pairs or word pieces score higher than texts
that share none, the same text always gives the same vector on every machine, and it is fast
enough to embed a benchmark's worth of chunks in pure Python.

How a text becomes a vector (the recipe is the model: change any of it and bump `MODEL`, so
stored vectors are re-embedded rather than mixed):

1. NFKC-normalise, lower-case, split into words (`\\w+`); drop common English function words
   unless nothing else is left.
2. Features: each word, crudely stemmed so inflections meet (`refunds`, `refunded` → `refund`);
   each pair of neighbouring stems; the character 3-, 4- and 5-grams of each word as written,
   inside boundary markers (`<refund>` gives `<re`, `ref`, …, `nd>`), scaled so a word's pieces
   together weigh `CHAR_WEIGHT` whatever its length.
3. Each distinct word and word pair counts `1 + ln(count)` (sublinear term frequency).
4. Signed feature hashing: blake2b (keyed by a fixed personalisation, never Python's salted
   `hash()`) picks the bucket and the sign, so collisions cancel on average instead of adding.
5. L2-normalise, so cosine similarity is a dot product.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import pairwise

from flightdeck.llm.base import EmbeddingPurpose, EmbeddingResult, batched, estimate_tokens

MODEL = "offline-hashing-v1"
DEFAULT_DIMENSION = 384

WORD_WEIGHT = 1.0
PAIR_WEIGHT = 0.5
CHAR_WEIGHT = 1.0
CHAR_NGRAMS = (3, 4, 5)
_PERSON = b"flightdeck-hv1"  # blake2b personalisation: part of the model, like the weights
_WORD = re.compile(r"\w+")
_EMPTY = "\x00empty"

# Function words carry no topic; keeping them would make any two English sentences look alike.
_FUNCTION_WORDS = """
a about above after again all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves
out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yourself yourselves
"""
STOPWORDS = frozenset(_FUNCTION_WORDS.split())

SparseVector = tuple[tuple[int, float], ...]


def words(text: str) -> list[str]:
    """The words the embedder sees: normalised, lower-cased, function words dropped."""
    tokens = _WORD.findall(unicodedata.normalize("NFKC", text).lower())
    content = [t for t in tokens if t not in STOPWORDS]
    return content or tokens


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Strip the commonest English inflections. Crude on purpose: it only has to send a word's
    forms to the same feature (`shipped`, `shipping` → `shipp`), not to produce real stems."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    return word


class OfflineHashingEmbedder:
    """Deterministic lexical embeddings: the default, so retrieval works on a laptop."""

    name = "offline-hashing"
    model = MODEL

    def __init__(
        self, *, dimension: int = DEFAULT_DIMENSION, batch_size: int = 256, cache_size: int = 65536
    ) -> None:
        if dimension < 16:
            raise ValueError("the offline embedder needs at least 16 dimensions")
        self.dimension = dimension
        self.batch_size = batch_size
        # Words follow Zipf's law: a bounded cache of each word's hashed features turns most of
        # the hashing into dictionary look-ups.
        self._word: Callable[[str], SparseVector] = lru_cache(maxsize=cache_size)(
            self._word_features
        )
        self._pair: Callable[[str], tuple[int, float]] = lru_cache(maxsize=cache_size)(self._bucket)

    def embed(self, texts: Sequence[str], *, purpose: EmbeddingPurpose) -> EmbeddingResult:
        """Queries and documents are embedded alike (the similarity is symmetric)."""
        vectors: list[list[float]] = []
        tokens = 0
        for batch in batched(texts, self.batch_size):
            for text in batch:
                vectors.append(self.vector(text))
                tokens += estimate_tokens(text)
        return EmbeddingResult(
            vectors=vectors, model=self.model, dimension=self.dimension, input_tokens=tokens
        )

    def vector(self, text: str) -> list[float]:
        tokens = words(text)
        acc = [0.0] * self.dimension
        word_features = self._word
        for word, count in Counter(tokens).items():
            if count == 1:  # most words of a chunk: skip the multiply
                for index, weight in word_features(word):
                    acc[index] += weight
            else:
                tf = 1.0 + math.log(count)
                for index, weight in word_features(word):
                    acc[index] += tf * weight
        stems = list(map(stem, tokens))
        pairs = Counter(map(" ".join, pairwise(stems)))
        for pair, count in pairs.items():
            index, weight = self._pair(pair)
            acc[index] += (1.0 + math.log(count)) * PAIR_WEIGHT * weight
        # fsum rounds exactly, so the norm is the same on every Python (3.12's sum() does not
        # round like 3.11's).
        norm = math.sqrt(math.fsum(map(operator.mul, acc, acc)))
        if norm == 0.0:  # no words, or every feature cancelled out: a fixed unit vector
            index, weight = self._bucket(_EMPTY)
            acc[index] = weight
            norm = 1.0
        return [x / norm for x in acc]

    def _bucket(self, feature: str) -> tuple[int, float]:
        """The feature's bucket and sign: one 64-bit blake2b digest, low bits for the bucket,
        the top bit for the sign."""
        digest = hashlib.blake2b(feature.encode(), digest_size=8, person=_PERSON).digest()
        h = int.from_bytes(digest, "little")
        return h % self.dimension, (1.0 if h >> 63 else -1.0)

    def _word_features(self, word: str) -> SparseVector:
        merged: dict[int, float] = {}
        index, sign = self._bucket(stem(word))
        merged[index] = WORD_WEIGHT * sign
        marked = f"<{word}>"
        grams = [marked[i : i + n] for n in CHAR_NGRAMS for i in range(len(marked) - n + 1)]
        if grams:
            each = CHAR_WEIGHT / math.sqrt(len(grams))
            for gram in grams:
                index, sign = self._bucket("#" + gram)
                merged[index] = merged.get(index, 0.0) + each * sign
        return tuple(merged.items())
