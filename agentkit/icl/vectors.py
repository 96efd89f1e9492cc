"""A pool's embeddings and its FAISS index, built once per (pool, embedder) and shared.

Vectors are unit length (the embedder's contract), so inner product is cosine
similarity. The index is exact (flat) for small pools and HNSW from
``hnsw_threshold`` examples on, where exact search stops being cheap per query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentkit.icl.embed import Embedder, default_embedder, embedder_from_config
from agentkit.icl.pool import Pool

if TYPE_CHECKING:
    import numpy as np

HNSW_THRESHOLD = 50_000


def resolve_embedder(config: dict[str, Any] | None) -> Embedder:
    """The embedder a selector's config names; None means the shared local all-MiniLM-L6-v2."""
    return default_embedder() if config is None else embedder_from_config(config)


class PoolVectors:
    """Embeddings of a pool's inputs (rows in pool order) and nearest-neighbour search over them."""

    def __init__(self, matrix: np.ndarray, embedder: Embedder, hnsw_threshold: int = HNSW_THRESHOLD) -> None:
        self.matrix = matrix
        self.embedder = embedder
        self.hnsw_threshold = hnsw_threshold
        self._index: Any = None

    @classmethod
    def of(cls, pool: Pool, embedder: Embedder, hnsw_threshold: int = HNSW_THRESHOLD) -> PoolVectors:
        """The shared instance for this pool and embedder (embedding the pool on first use)."""
        return pool.cached(
            ("vectors", embedder.name, hnsw_threshold),
            lambda: cls(embedder.embed(pool.inputs), embedder, hnsw_threshold),
        )

    @classmethod
    def precomputed(
        cls, pool: Pool, matrix: np.ndarray, embedder: Embedder, hnsw_threshold: int = HNSW_THRESHOLD
    ) -> PoolVectors:
        """Use vectors computed elsewhere (rows in pool order, by ``embedder``) instead of embedding the pool.

        A pool that already has vectors from this embedder keeps them.
        """
        from agentkit.icl.embed import normalize_rows

        if matrix.shape[0] != len(pool):
            raise ValueError(f"{matrix.shape[0]} vectors for a pool of {len(pool)} examples")
        return pool.cached(
            ("vectors", embedder.name, hnsw_threshold), lambda: cls(normalize_rows(matrix), embedder, hnsw_threshold)
        )

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def index(self) -> Any:
        if self._index is None:
            from agentkit.rag.dense import DenseSettings, build_faiss_index

            self._index = build_faiss_index(self.matrix, DenseSettings(auto_threshold=self.hnsw_threshold))
        return self._index

    @property
    def structure(self) -> str:
        return "hnsw" if len(self) >= self.hnsw_threshold else "flat"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(list(texts), progress=False)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions) of the ``k`` nearest rows for each query row, best first."""
        import numpy as np

        k = min(k, len(self))
        scores, positions = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, positions

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of one query vector to every pool row."""
        result: np.ndarray = self.matrix @ query
        return result


def stable_seed(*parts: object) -> int:
    """A seed from values, the same in every process (unlike ``hash``)."""
    import hashlib

    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")
