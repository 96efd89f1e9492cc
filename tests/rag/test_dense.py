"""Dense indexes: exact search, approximate structures against it, save/load, embedder checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentkit.rag.dense import DenseIndex, DenseSettings
from agentkit.rag.documents import Chunk
from agentkit.rag.index import load_index


def _vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Clustered unit vectors, like real embeddings (uniform random ones have no neighbours worth finding)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, dim))
    points = centers[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, dim))
    return np.asarray(points / np.linalg.norm(points, axis=1, keepdims=True), dtype=np.float32)


def _chunks(n: int) -> list[Chunk]:
    return [Chunk(f"d{i}", f"text {i}", 0, 6 + len(str(i))) for i in range(n)]


def test_flat_search_is_exact_cosine(make_embedder: Any) -> None:
    vectors = _vectors(500, 32)
    index = DenseIndex.from_vectors(_chunks(500), vectors * 3.0, make_embedder(dim=32))  # normalized on the way in
    assert index.structure == "IndexFlatIP"
    queries = _vectors(20, 32, seed=1)
    exact = queries @ vectors.T
    for query, hits in zip(exact, index.search_vectors(queries, 10)):
        best = np.argsort(-query, kind="stable")[:10]
        assert [h.doc_id for h in hits] == [f"d{i}" for i in best]
        np.testing.assert_allclose([h.score for h in hits], query[best], rtol=1e-5)


@pytest.mark.parametrize("structure", ["hnsw", "ivf"])
def test_approximate_structures_find_most_exact_neighbours(make_embedder: Any, structure: str) -> None:
    vectors = _vectors(3000, 32)
    chunks = _chunks(3000)
    exact = DenseIndex.from_vectors(chunks, vectors, make_embedder(dim=32), structure="flat")
    approx = DenseIndex.from_vectors(chunks, vectors, make_embedder(dim=32), structure=structure, nprobe=8)
    assert approx.structure == {"hnsw": "IndexHNSWFlat", "ivf": "IndexIVFFlat"}[structure]
    queries = _vectors(50, 32, seed=2)
    found = [
        len({h.doc_id for h in a} & {h.doc_id for h in e}) / 10
        for a, e in zip(approx.search_vectors(queries, 10), exact.search_vectors(queries, 10))
    ]
    assert np.mean(found) > 0.9


def test_auto_switches_to_hnsw_at_the_threshold(make_embedder: Any) -> None:
    vectors = _vectors(200, 16)
    small = DenseIndex.from_vectors(_chunks(200), vectors, make_embedder(dim=16), auto_threshold=201)
    large = DenseIndex.from_vectors(_chunks(200), vectors, make_embedder(dim=16), auto_threshold=200)
    assert (small.structure, large.structure) == ("IndexFlatIP", "IndexHNSWFlat")
    with pytest.raises(ValueError):
        DenseSettings(structure="lsh")  # type: ignore[arg-type]


def test_build_embeds_title_and_text(hashing_embedder: Any) -> None:
    chunks = [Chunk("a", "insulin glucose", 0, 15, "Diabetes"), Chunk("b", "neuron memory", 0, 13, "Brain")]
    index = DenseIndex.build(chunks, hashing_embedder)
    assert hashing_embedder.calls[0] == ["Diabetes insulin glucose", "Brain neuron memory"]
    assert [h.doc_id for h in index.search("memory of a neuron", 2)] == ["b", "a"]
    assert index.search_many([], 3) == []
    assert len(index.search("brain", 10)) == 2


@pytest.mark.parametrize("structure", ["flat", "hnsw", "ivf"])
def test_save_load_round_trip(tmp_path: Path, corpus: list[Chunk], queries: list[str], make_embedder: Any, structure: str) -> None:
    index = DenseIndex.build(corpus, make_embedder(), structure=structure, ef_search=77, nprobe=3)
    index.save(tmp_path / "dense")
    loaded = load_index(tmp_path / "dense", embedder=make_embedder())
    assert isinstance(loaded, DenseIndex) and loaded.settings == index.settings
    assert loaded.search_many(queries, 5) == index.search_many(queries, 5)
    if structure == "hnsw":
        assert loaded.faiss_index.hnsw.efSearch == 77
    if structure == "ivf":
        assert loaded.faiss_index.nprobe == 3


def test_load_refuses_a_different_embedder(tmp_path: Path, corpus: list[Chunk], make_embedder: Any) -> None:
    DenseIndex.build(corpus, make_embedder()).save(tmp_path / "dense")
    with pytest.raises(ValueError, match="vectors come from 'test-hashing'"):
        DenseIndex.load(tmp_path / "dense", embedder=make_embedder(name="another-model"))
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        DenseIndex.load(tmp_path / "dense")  # the test embedder has no config to rebuild from


def test_real_minilm_index_finds_paraphrases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentkit.icl.embed import default_embedder

    monkeypatch.setenv("AGENTKIT_HOME", str(tmp_path / "home"))
    default_embedder.cache_clear()
    try:
        texts = {
            "cat": "The kitten curled up and slept next to the fireplace.",
            "bank": "The central bank raised interest rates to fight inflation.",
            "rain": "Heavy rainfall caused the river to flood several villages.",
            "code": "The compiler reported a syntax error on line twelve.",
        }
        chunks = [Chunk(k, v, 0, len(v)) for k, v in texts.items()]
        index = DenseIndex.build(chunks)
        queries = ["a sleeping young cat", "monetary policy and prices", "water overflowing its banks", "a bug in my program"]
        assert [hits[0].doc_id for hits in index.search_many(queries, 1)] == ["cat", "bank", "rain", "code"]
        index.save(tmp_path / "idx")
        loaded = load_index(tmp_path / "idx")  # rebuilds the cached MiniLM from the manifest
        assert loaded.search("feline nap", 4)[0].doc_id == "cat"
    finally:
        default_embedder.cache_clear()
