"""Fusion arithmetic by hand, and a hybrid index over BM25 and dense retrievers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentkit.rag.bm25 import BM25Index
from agentkit.rag.dense import DenseIndex
from agentkit.rag.documents import Chunk, Hit
from agentkit.rag.hybrid import HybridIndex, convex_fusion, reciprocal_rank_fusion
from agentkit.rag.index import load_index


def hits(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(doc, score, f"text of {doc}", start=0, end=9) for doc, score in pairs]


LEXICAL = hits(("a", 12.0), ("b", 7.0), ("c", 2.0))
SEMANTIC = hits(("c", 0.9), ("d", 0.8), ("a", 0.5))


def test_rrf_by_hand() -> None:
    fused = reciprocal_rank_fusion([LEXICAL, SEMANTIC], k=60)
    scores = {h.doc_id: h.score for h in fused}
    half = 0.5  # default weights are equal and sum to 1
    assert scores["a"] == pytest.approx(half / 61 + half / 63)
    assert scores["c"] == pytest.approx(half / 63 + half / 61)
    assert scores["b"] == pytest.approx(half / 62) and scores["d"] == pytest.approx(half / 62)
    assert [h.doc_id for h in fused] == ["a", "c", "b", "d"]  # ties keep first-seen order
    weighted = reciprocal_rank_fusion([LEXICAL, SEMANTIC], k=60, weights=[1, 3])
    assert [h.doc_id for h in weighted][:2] == ["c", "a"]


def test_convex_by_hand() -> None:
    fused = convex_fusion([LEXICAL, SEMANTIC], weights=[0.3, 0.7])
    scores = {h.doc_id: h.score for h in fused}
    assert scores["a"] == pytest.approx(0.3 * 1.0 + 0.7 * 0.0)
    assert scores["b"] == pytest.approx(0.3 * 0.5)
    assert scores["c"] == pytest.approx(0.3 * 0.0 + 0.7 * 1.0)
    assert scores["d"] == pytest.approx(0.7 * 0.75)
    assert [h.doc_id for h in fused] == ["c", "d", "a", "b"]
    assert convex_fusion([hits(("x", 3.0)), []])[0].score == pytest.approx(0.5)


def test_weights_are_checked() -> None:
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([LEXICAL, SEMANTIC], weights=[1.0])
    with pytest.raises(ValueError):
        convex_fusion([LEXICAL], weights=[-1.0])
    with pytest.raises(ValueError):
        HybridIndex([])


def test_hybrid_finds_what_either_part_finds(make_embedder: Any) -> None:
    chunks = [
        Chunk("exact", "zymogen activation cascade", 0, 26),
        Chunk("other", "unrelated words about weather", 0, 29),
        Chunk("third", "more filler text here", 0, 21),
    ]
    bm25 = BM25Index.build(chunks)
    dense = DenseIndex.build(chunks, make_embedder())
    for method in ("rrf", "convex"):
        hybrid = HybridIndex([bm25, dense], method=method)
        top = hybrid.search("zymogen weather", 3)
        assert {h.doc_id for h in top[:2]} == {"exact", "other"}
        assert len(top) == 3 and all(t.text for t in top)


def test_hybrid_save_load_and_with(tmp_path: Path, corpus: list[Chunk], queries: list[str], make_embedder: Any) -> None:
    hybrid = HybridIndex([BM25Index.build(corpus), DenseIndex.build(corpus, make_embedder())], method="convex", weights=[1, 3])
    assert hybrid.weights == [0.25, 0.75]
    hybrid.save(tmp_path / "h")
    assert sorted(p.name for p in (tmp_path / "h").iterdir()) == ["manifest.json", "part0", "part1"]
    loaded = load_index(tmp_path / "h", embedder=make_embedder())
    assert isinstance(loaded, HybridIndex) and loaded.to_config() == hybrid.to_config()
    assert loaded.search_many(queries, 10) == hybrid.search_many(queries, 10)
    assert [loaded.search(q, 10) for q in queries] == loaded.search_many(queries, 10)
    rrf = loaded.with_(method="rrf")
    assert rrf.method == "rrf" and rrf.retrievers == loaded.retrievers and loaded.method == "convex"
    assert rrf.search_many(queries, 10) != loaded.search_many(queries, 10)


def test_hybrid_of_plain_retrievers_cannot_be_saved(tmp_path: Path) -> None:
    class Fixed:
        def search(self, query: str, k: int = 10) -> list[Hit]:
            return LEXICAL[:k]

        def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
            return [self.search(q, k) for q in queries]

    hybrid = HybridIndex([Fixed(), Fixed()])
    assert [h.doc_id for h in hybrid.search("q", 2)] == ["a", "b"]
    with pytest.raises(TypeError):
        hybrid.save(tmp_path / "x")
