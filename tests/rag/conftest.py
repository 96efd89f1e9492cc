"""Fixtures for retrieval tests: a small generated corpus and a fast stand-in embedder."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

import numpy as np
import pytest

from agentkit.rag.documents import Chunk

WORDS = [
    "protein", "gene", "cell", "cancer", "tumor", "immune", "receptor", "signal", "pathway", "mouse", "human",
    "brain", "neuron", "blood", "vessel", "heart", "liver", "kidney", "lung", "bone", "muscle", "insulin",
    "glucose", "obesity", "diabetes", "virus", "bacteria", "infection", "vaccine", "antibody", "drug", "therapy",
    "trial", "patient", "risk", "mortality", "diet", "exercise", "sleep", "stress", "memory", "learning",
    "mutation", "expression", "regulation", "inhibition", "activation", "binding", "membrane", "enzyme", "kinase",
    "hormone",
]


def make_corpus(n: int, seed: int = 0) -> list[Chunk]:
    """Documents of 5-60 words drawn from a skewed vocabulary, so lengths and term counts vary."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(WORDS))]
    chunks = []
    for i in range(n):
        text = " ".join(rng.choices(WORDS, weights, k=rng.randint(5, 60)))
        chunks.append(Chunk(f"d{i}", text, 0, len(text), title=""))
    return chunks


def make_queries(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.sample(WORDS, rng.randint(1, 4))) for _ in range(n)]


class HashingEmbedder:
    """Bag-of-words hashed into ``dim`` buckets: deterministic, instant, and lexical enough to test plumbing."""

    def __init__(self, dim: int = 64, name: str = "test-hashing") -> None:
        self.name = name
        self.dim = dim
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress: bool | None = None) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little") % self.dim
                out[row, bucket] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(out / np.maximum(norms, 1e-12), dtype=np.float32)


@pytest.fixture
def corpus() -> list[Chunk]:
    return make_corpus(300)


@pytest.fixture
def queries() -> list[str]:
    return make_queries(40)


@pytest.fixture
def hashing_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def make_embedder() -> type[HashingEmbedder]:
    return HashingEmbedder
