"""Selectors: which demonstrations to show for a query, each with the score that chose it.

A selector is a frozen config (YAML: ``selector: {kind: knn}``). Its per-pool
state (embeddings, FAISS index, BM25 index, vote-k subset, k-means clusters) is
built on first use through ``Pool.cached`` and then only read, so one selector
serves many concurrent queries. Scores mean what the method optimizes: cosine
similarity (knn, cluster, vote-k with ``retrieve: similar``), the BM25 score,
the MMR objective at the moment of the pick, vote-k votes, or a seeded random
key (random).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import BeforeValidator, ConfigDict, Field

from agentkit.core.kinded import KindedConfig
from agentkit.icl.pool import Example, Pool
from agentkit.icl.vectors import HNSW_THRESHOLD, PoolVectors, resolve_embedder, stable_seed

if TYPE_CHECKING:
    import numpy as np


class Scored(NamedTuple):
    example: Example
    score: float


class Selector(KindedConfig):
    """Base of all selectors: ``select(pool, query, k)``; ``select_many`` batches the embedding work."""

    def select(self, pool: Pool, query: str, k: int) -> list[Scored]:
        return self.select_many(pool, [query], k)[0]

    def select_many(self, pool: Pool, queries: Sequence[str], k: int) -> list[list[Scored]]:
        raise NotImplementedError


class Random(Selector):
    """``k`` examples with the largest seeded random keys; the key is the score.

    With ``per_query`` each query draws its own set (seeded by the query text, so
    a rerun picks the same); otherwise every query gets the same ``k``.
    """

    kind: Literal["random"] = "random"
    seed: int = 0
    per_query: bool = True

    def select_many(self, pool: Pool, queries: Sequence[str], k: int) -> list[list[Scored]]:
        import numpy as np

        from agentkit.rag.bm25 import top_k

        results = []
        for query in queries:
            rng = np.random.default_rng(stable_seed(self.seed, query if self.per_query else ""))
            positions, keys = top_k(rng.random(len(pool)), k)
            results.append([Scored(pool[int(i)], float(s)) for i, s in zip(positions, keys)])
        return results


class Fixed(Selector):
    """The same examples, by id, for every query (score 1.0: chosen by hand)."""

    kind: Literal["fixed"] = "fixed"
    ids: tuple[str, ...]

    def select_many(self, pool: Pool, queries: Sequence[str], k: int) -> list[list[Scored]]:
        chosen = [Scored(pool.get(i), 1.0) for i in self.ids[:k]]
        return [list(chosen) for _ in queries]


class _Embedding(Selector):
    """Shared settings of the selectors that work on embeddings."""

    embedder: dict[str, Any] | None = None
    hnsw_threshold: int = HNSW_THRESHOLD

    def vectors(self, pool: Pool) -> PoolVectors:
        return PoolVectors.of(pool, resolve_embedder(self.embedder), self.hnsw_threshold)


class KNN(_Embedding):
    """The ``k`` most similar examples by cosine (Liu et al. 2021), most similar first."""

    kind: Literal["knn"] = "knn"

    def select_many(self, pool: Pool, queries: Sequence[str], k: int) -> list[list[Scored]]:
        vectors = self.vectors(pool)
        scores, positions = vectors.search(vectors.embed(queries), k)
        return [
            [Scored(pool[int(i)], float(s)) for i, s in zip(row_positions, row_scores) if i >= 0]
            for row_positions, row_scores in zip(positions, scores)
        ]


class BM25(Selector):
    """Lexical nearest neighbours by BM25 over the inputs (zero-score examples fill up to ``k``)."""

    kind: Literal["bm25"] = "bm25"
    k1: float = 1.5
    b: float = 0.75

    def select_many(self, pool: Pool, queries: Sequence[str], k: int) -> list[list[Scored]]:
        from agentkit.rag.bm25 import top_k

        index = pool.cached(("bm25", self.k1, self.b), lambda: _bm25_index(pool, self.k1, self.b))
        results = []
        for query in queries:
            positions, scores = top_k(index.scores(query), k)
            results.append([Scored(pool[int(i)], float(s)) for i, s in zip(positions, scores)])
        return results


def _bm25_index(pool: Pool, k1: float, b: float) -> Any:
    from agentkit.rag.bm25 import BM25Index
    from agentkit.rag.documents import Chunk

    chunks = [Chunk(doc_id=e.id, text=e.input, start=0, end=len(e.input)) for e in pool]
    return BM25Index.build(chunks, k1=k1, b=b)


class MMR(_Embedding):
    """Maximal marginal relevance (Carbonell & Goldstein 1998) over the ``fetch_k`` nearest.

    Each pick maximizes ``lambda * sim(query, d) - (1 - lambda) * max sim(d, chosen)``;
    ``lambda`` 1 is kNN, 0 ignores relevance after the first (most relevant) pick.
    """

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    kind: Literal["mmr"] = "mmr"
    lambda_: float = Field(0.5, alias="lambda", ge=0.0, le=1.0)
    fetch_k: int = 32

    def select_many(self, pool: Pool, queries: Sequence[str], k: int) -> list[list[Scored]]:
        vectors = self.vectors(pool)
        query_vectors = vectors.embed(queries)
        scores, positions = vectors.search(query_vectors, max(k, self.fetch_k))
        results = []
        for row_scores, row_positions in zip(scores, positions):
            keep = row_positions >= 0
            results.append(self._pick(pool, vectors, row_positions[keep], row_scores[keep], k))
        return results

    def _pick(self, pool: Pool, vectors: PoolVectors, positions: np.ndarray, relevance: np.ndarray, k: int) -> list[Scored]:
        import numpy as np

        candidates = vectors.matrix[positions]
        redundancy = np.full(len(positions), -np.inf)
        available = np.ones(len(positions), dtype=bool)
        chosen: list[Scored] = []
        for _ in range(min(k, len(positions))):
            penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
            objective = self.lambda_ * relevance - (1.0 - self.lambda_) * penalty
            objective[~available] = -np.inf
            best = int(np.argmax(objective))  # ties go to the more relevant candidate
            chosen.append(Scored(pool[int(positions[best])], float(objective[best])))
            available[best] = False
            redundancy = np.maximum(redundancy, candidates @ candidates[best])
        return chosen


class VoteK(_Embedding):
    """Vote-k (Su et al. 2022): a representative, diverse subset of ``budget`` examples chosen once per pool.

    ``retrieve: similar`` (the paper's setting) then shows each query its most
    similar examples from that subset (score: cosine); ``retrieve: votes`` shows
    every query the first ``k`` picks (score: votes when picked).
    """

    kind: Literal["votek"] = "votek"
    budget: int = Field(100, ge=1)
    graph_k: int = Field(150, ge=1)
    rho: float = Field(10.0, gt=1.0)
    retrieve: Literal["similar", "votes"] = "similar"

    def subset(self, pool: Pool) -> list[tuple[int, float]]:
        """(position, votes) of the chosen subset in pick order, computed once per pool."""
        vectors = self.vectors(pool)
        key = ("votek", vectors.embedder.name, self.budget, self.graph_k, self.rho)

        def build() -> list[tuple[int, float]]:
            from agentkit.icl.votek import votek

            return votek(vectors.matrix, self.budget, self.graph_k, self.rho)

        return pool.cached(key, build)

    def select_many(self, pool: Pool, queries: Sequence[str], k: int) -> list[list[Scored]]:
        import numpy as np

        from agentkit.rag.bm25 import top_k

        picks = self.subset(pool)
        if self.retrieve == "votes":
            chosen = [Scored(pool[i], votes) for i, votes in picks[:k]]
            return [list(chosen) for _ in queries]
        vectors = self.vectors(pool)
        positions = np.array([i for i, _ in picks])
        similarities = vectors.embed(queries) @ vectors.matrix[positions].T
        results = []
        for row in similarities:
            best, scores = top_k(row, k)
            results.append([Scored(pool[int(positions[j])], float(s)) for j, s in zip(best, scores)])
        return results


class Cluster(_Embedding):
    """Cluster-diverse: k-means over the pool (``clusters``, default ``k``), then the example most
    similar to the query from each cluster; the ``k`` best of those, most similar first."""

    kind: Literal["cluster"] = "cluster"
    clusters: int | None = Field(None, ge=1)
    seed: int = 0
    iterations: int = 20

    def members(self, pool: Pool, clusters: int) -> list[np.ndarray]:
        """Positions in each (non-empty) cluster, computed once per pool and cluster count."""
        vectors = self.vectors(pool)
        key = ("kmeans", vectors.embedder.name, clusters, self.seed, self.iterations)
        return pool.cached(key, lambda: _kmeans(vectors.matrix, clusters, self.seed, self.iterations))

    def select_many(self, pool: Pool, queries: Sequence[str], k: int) -> list[list[Scored]]:
        import numpy as np

        vectors = self.vectors(pool)
        groups = self.members(pool, min(self.clusters or k, len(pool)))
        results = []
        for query_vector in vectors.embed(queries):
            similarities = vectors.similarities(query_vector)
            best = [int(members[np.argmax(similarities[members])]) for members in groups]
            best.sort(key=lambda i: -similarities[i])
            results.append([Scored(pool[i], float(similarities[i])) for i in best[:k]])
        return results


def _kmeans(matrix: np.ndarray, clusters: int, seed: int, iterations: int) -> list[np.ndarray]:
    import faiss
    import numpy as np

    kmeans = faiss.Kmeans(matrix.shape[1], clusters, niter=iterations, seed=seed, spherical=True, verbose=False)
    kmeans.cp.min_points_per_centroid = 1  # small pools are fine; do not warn about them
    kmeans.train(np.ascontiguousarray(matrix, dtype=np.float32))
    _, assignment = kmeans.index.search(np.ascontiguousarray(matrix, dtype=np.float32), 1)
    assignment = assignment.ravel()
    return [np.flatnonzero(assignment == c) for c in range(clusters) if (assignment == c).any()]


class Balanced(Selector):
    """Wraps a selector so no label fills more than ``ceil(k / labels)`` places.

    Takes the inner selector's ranking in order, skipping examples of full
    labels, and widens the ranking until ``k`` are found or the pool is exhausted.
    """

    kind: Literal["balanced"] = "balanced"
    inner: SelectorConfig

    def select_many(self, pool: Pool, queries: Sequence[str], k: int) -> list[list[Scored]]:
        labels = pool.labels
        if not labels:
            raise ValueError("the balanced selector needs a pool whose examples have labels")
        cap = math.ceil(k / len(labels))
        return [self._balanced(pool, query, k, cap, len(labels)) for query in queries]

    def _balanced(self, pool: Pool, query: str, k: int, cap: int, n_labels: int) -> list[Scored]:
        fetch = min(len(pool), k * n_labels)
        while True:
            counts: dict[str | None, int] = {}
            chosen = []
            for item in self.inner.select(pool, query, fetch):
                if counts.get(item.example.label, 0) < cap:
                    counts[item.example.label] = counts.get(item.example.label, 0) + 1
                    chosen.append(item)
                    if len(chosen) == k:
                        return chosen
            if fetch >= len(pool):
                return chosen
            fetch = min(len(pool), fetch * 4)


def _shorthand(value: Any) -> Any:
    """``selector: knn`` is short for ``selector: {kind: knn}``."""
    return {"kind": value} if isinstance(value, str) else value


SelectorConfig = Annotated[
    Random | Fixed | KNN | BM25 | MMR | VoteK | Cluster | Balanced,
    Field(discriminator="kind"),
    BeforeValidator(_shorthand),
]
Balanced.model_rebuild()
