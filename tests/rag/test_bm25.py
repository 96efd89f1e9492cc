"""BM25: hand-computed scores, the two engines agreeing, variants and parameters taking effect, save/load."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from agentkit.rag.analyzer import Analyzer
from agentkit.rag.bm25 import BM25Index, BM25Settings, top_k
from agentkit.rag.documents import Chunk, Hit
from agentkit.rag.index import load_index

PLAIN = Analyzer(stopwords=None, stemmer=None)
TINY = [Chunk(f"d{i}", t, 0, len(t)) for i, t in enumerate(["apple banana", "apple apple cherry", "banana cherry cherry date"])]


def lucene(tf: float, df: int, n: int, length: int, avg: float, k1: float, b: float) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * length / avg))


@pytest.mark.parametrize("engine", ["bm25s", "rank_bm25"])
@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (0.9, 0.0), (2.0, 0.9)])
def test_lucene_scores_match_the_formula(engine: str, k1: float, b: float) -> None:
    index = BM25Index.build(TINY, analyzer=PLAIN, engine=engine, k1=k1, b=b)
    scores = index.scores("apple cherry")
    expected = [
        lucene(1, 2, 3, 2, 3, k1, b),
        lucene(2, 2, 3, 3, 3, k1, b) + lucene(1, 2, 3, 3, 3, k1, b),
        lucene(2, 2, 3, 4, 3, k1, b),
    ]
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    hits = index.search("apple cherry", k=10)
    assert [h.doc_id for h in hits] == [f"d{i}" for i in np.argsort(expected)[::-1]]
    assert hits[0].score == pytest.approx(max(expected), rel=1e-5)


def test_unmatched_chunks_are_left_out_and_k_is_capped() -> None:
    index = BM25Index.build(TINY, analyzer=PLAIN)
    assert [h.doc_id for h in index.search("date", k=10)] == ["d2"]
    assert index.search("nothing matches", k=5) == []
    assert len(index.search("apple banana cherry date", k=99)) == 3


def _assert_same_ranking(a: list[Hit], b: list[Hit]) -> None:
    """Same ids rank by rank, except where two scores tie (then either order is right)."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.score == pytest.approx(y.score, rel=1e-4, abs=1e-5)
        if x.doc_id != y.doc_id:
            assert any(h.doc_id == x.doc_id and h.score == pytest.approx(x.score, rel=1e-4) for h in b)


@pytest.mark.parametrize("variant", ["lucene", "robertson", "atire", "bm25+"])
@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (1.2, 0.4)])
def test_engines_agree_on_top10(corpus: list[Chunk], queries: list[str], variant: str, k1: float, b: float) -> None:
    fast = BM25Index.build(corpus, variant=variant, k1=k1, b=b)
    reference = BM25Index.build(corpus, variant=variant, k1=k1, b=b, engine="rank_bm25")
    for query in queries:
        np.testing.assert_allclose(fast.scores(query), reference.scores(query), rtol=1e-4, atol=1e-5)
        _assert_same_ranking(fast.search(query, 10), reference.search(query, 10))


def test_variants_and_parameters_change_scores(corpus: list[Chunk]) -> None:
    query = "insulin glucose mouse"
    results = {
        (variant, k1, b): BM25Index.build(corpus, variant=variant, k1=k1, b=b).scores(query)
        for variant in ("lucene", "robertson", "atire", "bm25+", "bm25l")
        for k1, b in ((1.5, 0.75), (0.5, 0.75), (1.5, 0.1))
    }
    keys = list(results)
    for i, first in enumerate(keys):
        for second in keys[i + 1 :]:
            assert not np.allclose(results[first], results[second]), (first, second)
    plus = BM25Index.build(corpus, variant="bm25+", delta=1.0).scores(query)
    plus_2 = BM25Index.build(corpus, variant="bm25+", delta=2.0).scores(query)
    assert (plus_2 > plus).all()  # delta is added for every query term, matched or not


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="variant"):
        BM25Settings(variant="okapi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="BM25L"):
        BM25Settings(variant="bm25l", engine="rank_bm25")
    with pytest.raises(ValueError):
        BM25Settings(b=1.5)
    with pytest.raises(ValueError, match="zero chunks"):
        BM25Index.build([])


def test_search_many_equals_search(corpus: list[Chunk], queries: list[str]) -> None:
    index = BM25Index.build(corpus)
    assert index.search_many(queries, 7) == [index.search(q, 7) for q in queries]


@pytest.mark.parametrize("engine", ["bm25s", "rank_bm25"])
def test_save_load_round_trip(tmp_path: Path, corpus: list[Chunk], queries: list[str], engine: str) -> None:
    index = BM25Index.build(corpus, variant="bm25l" if engine == "bm25s" else "bm25+", k1=1.1, b=0.6, engine=engine,
                            analyzer=Analyzer(stopwords=["gene"]))
    index.save(tmp_path / "idx")
    loaded = load_index(tmp_path / "idx")
    assert isinstance(loaded, BM25Index)
    assert loaded.settings == index.settings
    assert loaded.analyzer.to_config() == index.analyzer.to_config()
    assert loaded.search_many(queries, 10) == index.search_many(queries, 10)
    if engine == "bm25s":
        assert isinstance(loaded._engine.model.scores["data"], np.memmap)
        in_memory = BM25Index.load(tmp_path / "idx", mmap=False)
        assert not isinstance(in_memory._engine.model.scores["data"], np.memmap)
        assert in_memory.search("gene protein", 5) == index.search("gene protein", 5)


def test_chunk_offsets_and_titles_reach_the_hits() -> None:
    text = "Intro words here. Insulin resistance grows with obesity."
    chunks = [Chunk("paper", text[:17], 0, 17, "Diabetes"), Chunk("paper", text[18:], 18, len(text), "Diabetes")]
    hit = BM25Index.build(chunks).search("insulin", 1)[0]
    assert (hit.doc_id, hit.title, hit.start, hit.end) == ("paper", "Diabetes", 18, len(text))
    assert text[hit.start : hit.end] == hit.text
    # the title is indexed too (BEIR practice), unless turned off
    assert len(BM25Index.build(chunks).search("diabetes", 5)) == 2
    assert BM25Index.build(chunks, with_title=False).search("diabetes", 5) == []


def test_top_k_orders_and_breaks_ties_by_index() -> None:
    scores = np.array([1.0, 3.0, 2.0, 3.0, 0.5], dtype=np.float32)
    idx, best = top_k(scores, 3)
    assert idx.tolist() == [1, 3, 2] and best.tolist() == [3.0, 3.0, 2.0]
    assert top_k(scores, 10)[0].tolist() == [1, 3, 2, 0, 4]
    assert top_k(scores, 0)[0].tolist() == []
