"""Dense retrieval: FAISS over unit-length embeddings, so inner product is cosine.

Exact search (flat) is the default and is fast enough up to ~100k chunks on a
CPU; above ``auto_threshold`` (or by choice) an HNSW graph or an IVF index
trades a little recall for much faster queries. The embedder that built the
index must also embed the queries: its name is checked on load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agentkit.icl.embed import Embedder, default_embedder, embedder_from_config, normalize_rows
from agentkit.rag.documents import Chunk, Hit, read_chunks, write_chunks
from agentkit.rag.index import read_manifest, write_manifest

Structure = Literal["auto", "flat", "hnsw", "ivf"]


@dataclass(frozen=True)
class DenseSettings:
    """How vectors are indexed. HNSW: ``hnsw_m`` links per node, ``ef_construction``
    and ``ef_search`` candidate lists. IVF: ``nlist`` cells (default 4 sqrt(n)), ``nprobe`` visited."""

    structure: Structure = "auto"
    auto_threshold: int = 100_000
    with_title: bool = True
    hnsw_m: int = 32
    ef_construction: int = 100
    ef_search: int = 64
    nlist: int | None = None
    nprobe: int = 16

    def __post_init__(self) -> None:
        if self.structure not in ("auto", "flat", "hnsw", "ivf"):
            raise ValueError(f"unknown index structure {self.structure!r}; use auto, flat, hnsw or ivf")

    def resolve(self, n: int) -> str:
        if self.structure != "auto":
            return self.structure
        return "hnsw" if n >= self.auto_threshold else "flat"


def build_faiss_index(vectors: np.ndarray, settings: DenseSettings) -> Any:
    """A FAISS inner-product index holding ``vectors`` (rows of unit length)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    structure = settings.resolve(n)
    index: Any
    if structure == "flat":
        index = faiss.IndexFlatIP(dim)
    elif structure == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.ef_construction
        index.hnsw.efSearch = settings.ef_search
    else:
        nlist = settings.nlist or max(1, min(n // 39, int(4 * math.sqrt(n))))  # FAISS wants >= 39 points per cell
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = vectors if n <= 256 * nlist else vectors[rng.choice(n, 256 * nlist, replace=False)]
        index.train(sample)
        index.nprobe = min(settings.nprobe, nlist)
    index.add(vectors)
    return index


def _tune(index: Any, settings: DenseSettings) -> None:
    """Search-time knobs are not all stored by ``write_index``: set them after loading."""
    import faiss

    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = settings.ef_search
    elif isinstance(index, faiss.IndexIVF):
        index.nprobe = min(settings.nprobe, index.nlist)


class DenseIndex:
    """Embedding retrieval over chunks; ``search`` embeds the query with the index's embedder."""

    kind = "dense"

    def __init__(self, chunks: Sequence[Chunk], faiss_index: Any, embedder: Embedder, settings: DenseSettings) -> None:
        if faiss_index.ntotal != len(chunks):
            raise ValueError(f"{faiss_index.ntotal} vectors for {len(chunks)} chunks")
        self.chunks = list(chunks)
        self.faiss_index = faiss_index
        self.embedder = embedder
        self.settings = settings

    @classmethod
    def build(
        cls,
        chunks: Sequence[Chunk],
        embedder: Embedder | None = None,
        *,
        batch_size: int = 32,
        progress: bool | None = None,
        **settings: Any,
    ) -> DenseIndex:
        """Embed ``chunks`` (title + text by default) and index them; ``settings`` are ``DenseSettings`` fields."""
        config = DenseSettings(**settings)
        model: Embedder = embedder or default_embedder()
        vectors = model.embed([c.indexed_text(config.with_title) for c in chunks], batch_size=batch_size, progress=progress)
        return cls.from_vectors(chunks, vectors, model, **settings)

    @classmethod
    def from_vectors(cls, chunks: Sequence[Chunk], vectors: np.ndarray, embedder: Embedder, **settings: Any) -> DenseIndex:
        """Index precomputed vectors (normalized here) that ``embedder`` produced."""
        if len(chunks) == 0:
            raise ValueError("cannot build a dense index over zero chunks")
        config = DenseSettings(**settings)
        return cls(chunks, build_faiss_index(normalize_rows(vectors), config), embedder, config)

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def structure(self) -> str:
        return type(self.faiss_index).__name__

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        if not queries:
            return []
        return self.search_vectors(self.embedder.embed(list(queries), progress=False), k)

    def search_vectors(self, vectors: np.ndarray, k: int = 10) -> list[list[Hit]]:
        """Nearest chunks for already embedded queries (one row each)."""
        k = min(k, len(self.chunks))
        scores, ids = self.faiss_index.search(np.ascontiguousarray(normalize_rows(vectors)), k)
        return [
            [Hit.of(self.chunks[i], s) for i, s in zip(row_ids.tolist(), row_scores.tolist()) if i >= 0]
            for row_ids, row_scores in zip(ids, scores)
        ]

    def to_config(self) -> dict[str, Any]:
        embedder_config = self.embedder.to_config() if hasattr(self.embedder, "to_config") else None
        return {
            "settings": asdict(self.settings),
            "structure": self.structure,
            "embedder": {"name": self.embedder.name, "dim": self.faiss_index.d, "config": embedder_config},
            "size": len(self.chunks),
        }

    def save(self, folder: str | Path) -> None:
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_chunks(self.chunks, folder / "chunks.jsonl")
        faiss.write_index(self.faiss_index, str(folder / "faiss.index"))
        write_manifest(folder, self.kind, self.to_config())

    @classmethod
    def load(cls, folder: str | Path, *, embedder: Embedder | None = None) -> DenseIndex:
        """Read a saved index; without ``embedder`` the one named in the manifest is rebuilt."""
        import faiss

        folder = Path(folder)
        manifest = read_manifest(folder, cls.kind)
        saved = manifest["embedder"]
        if embedder is None:
            if saved["config"] is None:
                raise ValueError(f"{folder}: built with embedder {saved['name']!r} that cannot be rebuilt; pass embedder=")
            embedder = embedder_from_config(saved["config"])
        if embedder.name != saved["name"]:
            raise ValueError(f"{folder}: vectors come from {saved['name']!r}, but the query embedder is {embedder.name!r}")
        settings = DenseSettings(**manifest["settings"])
        faiss_index = faiss.read_index(str(folder / "faiss.index"))
        _tune(faiss_index, settings)
        return cls(read_chunks(folder / "chunks.jsonl"), faiss_index, embedder, settings)
