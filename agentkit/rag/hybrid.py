"""Hybrid retrieval: fuse the rankings of any number of retrievers.

Two fusions. Reciprocal rank fusion (Cormack et al. 2009) scores a chunk by
``sum_i w_i / (k + rank_i)``: it needs no score calibration, which is why it is
the default. The convex combination min-max normalizes each retriever's scores
over its returned candidates and adds them with weights: it can use how far
apart scores are, so with a tuned weight it is often a little better.
Chunks are matched across retrievers by (doc id, start, end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentkit.rag.documents import Hit
from agentkit.rag.index import Index, Retriever, load_index, read_manifest, write_manifest

if TYPE_CHECKING:
    from agentkit.icl.embed import Embedder

Fusion = Literal["rrf", "convex"]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hit]], k: float = 60.0, weights: Sequence[float] | None = None) -> list[Hit]:
    """Fused ranking, best first; each hit's score is its fused RRF score."""
    weights = _weights(weights, len(rankings))
    scores: dict[Any, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.key] = scores.get(hit.key, 0.0) + weight / (k + rank)
    return _ranked(rankings, scores)


def convex_fusion(rankings: Sequence[Sequence[Hit]], weights: Sequence[float] | None = None) -> list[Hit]:
    """Weighted sum of min-max normalized scores; a chunk missing from a ranking gets 0 there."""
    weights = _weights(weights, len(rankings))
    scores: dict[Any, float] = {}
    for ranking, weight in zip(rankings, weights):
        if not ranking:
            continue
        values = [hit.score for hit in ranking]
        low, span = min(values), max(values) - min(values)
        for hit in ranking:
            normalized = (hit.score - low) / span if span > 0 else 1.0
            scores[hit.key] = scores.get(hit.key, 0.0) + weight * normalized
    return _ranked(rankings, scores)


def _weights(weights: Sequence[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0 / n] * n if n else []
    if len(weights) != n or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"need {n} non-negative weights with a positive sum, got {list(weights)}")
    total = float(sum(weights))
    return [w / total for w in weights]


def _ranked(rankings: Sequence[Sequence[Hit]], scores: dict[Any, float]) -> list[Hit]:
    """Hits sorted by fused score; ties keep the order in which chunks were first seen."""
    first: dict[Any, Hit] = {}
    for ranking in rankings:
        for hit in ranking:
            first.setdefault(hit.key, hit)
    order = sorted(first, key=lambda key: -scores[key])  # stable: first-seen order breaks ties
    return [replace(first[key], score=scores[key]) for key in order]


class HybridIndex:
    """Fuses the top ``depth`` hits of each retriever into one ranking.

    Args:
        retrievers: any objects with ``search``/``search_many``; to ``save`` they must be indexes.
        method: ``"rrf"`` or ``"convex"``.
        weights: one per retriever (normalized to sum 1); equal by default.
        rrf_k: the RRF constant (60 in the original paper).
        depth: candidates taken from each retriever (at least the requested k).
    """

    kind = "hybrid"

    def __init__(
        self,
        retrievers: Sequence[Retriever],
        *,
        method: Fusion = "rrf",
        weights: Sequence[float] | None = None,
        rrf_k: float = 60.0,
        depth: int = 100,
    ) -> None:
        if not retrievers:
            raise ValueError("a hybrid index needs at least one retriever")
        if method not in ("rrf", "convex"):
            raise ValueError(f"unknown fusion {method!r}; use rrf or convex")
        self.retrievers = list(retrievers)
        self.method = method
        self.weights = _weights(weights, len(self.retrievers))
        self.rrf_k = rrf_k
        self.depth = depth

    def with_(self, **changes: Any) -> HybridIndex:
        """A copy over the same retrievers with other fusion settings (cheap: nothing is rebuilt)."""
        settings = {"method": self.method, "weights": self.weights, "rrf_k": self.rrf_k, "depth": self.depth, **changes}
        return HybridIndex(self.retrievers, **settings)

    def fuse(self, rankings: Sequence[Sequence[Hit]]) -> list[Hit]:
        if self.method == "rrf":
            return reciprocal_rank_fusion(rankings, self.rrf_k, self.weights)
        return convex_fusion(rankings, self.weights)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        depth = max(self.depth, k)
        return self.fuse([r.search(query, depth) for r in self.retrievers])[:k]

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        depth = max(self.depth, k)
        per_retriever = [r.search_many(queries, depth) for r in self.retrievers]
        return [self.fuse([runs[i] for runs in per_retriever])[:k] for i in range(len(queries))]

    def to_config(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "weights": self.weights,
            "rrf_k": self.rrf_k,
            "depth": self.depth,
            "parts": [f"part{i}" for i in range(len(self.retrievers))],
        }

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        for retriever, part in zip(self.retrievers, self.to_config()["parts"]):
            if not isinstance(retriever, Index):
                raise TypeError(f"cannot save a {type(retriever).__name__}: it has no save() and kind")
            retriever.save(folder / part)
        write_manifest(folder, self.kind, self.to_config())

    @classmethod
    def load(cls, folder: str | Path, *, embedder: Embedder | None = None, mmap: bool = True) -> HybridIndex:
        folder = Path(folder)
        manifest = read_manifest(folder, cls.kind)
        parts = [load_index(folder / part, embedder=embedder, mmap=mmap) for part in manifest["parts"]]
        return cls(parts, method=manifest["method"], weights=manifest["weights"], rrf_k=manifest["rrf_k"], depth=manifest["depth"])
