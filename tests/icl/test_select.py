"""Selectors on the real all-MiniLM-L6-v2 embedder (no LLM needed)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from agentkit.icl.embed import default_embedder
from agentkit.icl.pool import Pool
from agentkit.icl.select import (
    BM25,
    KNN,
    MMR,
    Balanced,
    Cluster,
    Fixed,
    Random,
    SelectorConfig,
    VoteK,
)
from agentkit.icl.vectors import PoolVectors
from agentkit.icl.votek import knn_graph, votek

from .conftest import REFUND_QUERY, TOPICS, topic_of

selector_config: TypeAdapter[SelectorConfig] = TypeAdapter(SelectorConfig)


def inputs(chosen: list) -> list[str]:
    return [s.example.input for s in chosen]


def test_knn_picks_the_near_duplicate_first_with_its_cosine(topic_pool: Pool) -> None:
    chosen = KNN().select(topic_pool, REFUND_QUERY, 3)
    assert chosen[0].example.input == "How do I get a refund for my order?"
    assert all(topic_of(s.example.input) == "refund" for s in chosen)
    scores = [s.score for s in chosen]
    assert scores == sorted(scores, reverse=True)
    expected = float(default_embedder().embed([REFUND_QUERY])[0] @ default_embedder().embed([chosen[0].example.input])[0])
    assert scores[0] == pytest.approx(expected, abs=1e-4)


def test_knn_state_is_built_once_per_pool(topic_pool: Pool) -> None:
    KNN().select(topic_pool, "rain", 2)
    first = PoolVectors.of(topic_pool, default_embedder())
    KNN().select(topic_pool, "football", 2)
    assert PoolVectors.of(topic_pool, default_embedder()) is first
    assert first.matrix.shape == (len(topic_pool), 384)


def test_hnsw_above_the_threshold_finds_the_same_neighbour(topic_pool: Pool) -> None:
    hnsw = KNN(hnsw_threshold=2)
    assert hnsw.vectors(topic_pool).structure == "hnsw"
    assert type(hnsw.vectors(topic_pool).index).__name__ == "IndexHNSWFlat"
    assert KNN().vectors(topic_pool).structure == "flat"
    assert inputs(hnsw.select(topic_pool, REFUND_QUERY, 1)) == inputs(KNN().select(topic_pool, REFUND_QUERY, 1))


def test_select_many_matches_select(topic_pool: Pool) -> None:
    queries = [REFUND_QUERY, "Will it snow this weekend?", "Who won the match?"]
    for selector in (KNN(), MMR(), Cluster(), VoteK(budget=6)):
        batched = selector.select_many(topic_pool, queries, 3)
        assert [inputs(b) for b in batched] == [inputs(selector.select(topic_pool, q, 3)) for q in queries]


def test_bm25_ranks_by_shared_words(topic_pool: Pool) -> None:
    chosen = BM25().select(topic_pool, "tomato sauce with garlic", 4)
    assert chosen[0].example.input == "Simmer the tomato sauce with garlic for twenty minutes."
    assert chosen[0].score > 0
    assert [s.score for s in chosen] == sorted((s.score for s in chosen), reverse=True)
    assert len(chosen) == 4  # zero-score examples fill up to k


def test_mmr_lambda_one_is_knn_and_lambda_zero_is_diverse(topic_pool: Pool) -> None:
    relevant = MMR(lambda_=1.0, fetch_k=len(topic_pool)).select(topic_pool, REFUND_QUERY, 4)
    assert inputs(relevant) == inputs(KNN().select(topic_pool, REFUND_QUERY, 4))
    diverse = MMR(lambda_=0.0, fetch_k=len(topic_pool)).select(topic_pool, REFUND_QUERY, 4)
    topics = [topic_of(text) for text in inputs(diverse)]
    assert topics[0] == "refund"  # the first pick is the most relevant
    assert topics.count("refund") == 1
    assert len(set(topics)) == 4
    first, second = default_embedder().embed([diverse[0].example.input, diverse[1].example.input])
    assert diverse[1].score == pytest.approx(-float(first @ second), abs=1e-4)  # the MMR objective at the pick


def test_mmr_config_uses_the_name_lambda() -> None:
    mmr = selector_config.validate_python({"kind": "mmr", "lambda": 0.25})
    assert isinstance(mmr, MMR) and mmr.lambda_ == 0.25
    assert mmr.model_dump(exclude_defaults=True) == {"kind": "mmr", "lambda": 0.25}
    with pytest.raises(ValidationError):
        MMR(lambda_=1.5)


def test_random_is_seeded_per_query(topic_pool: Pool) -> None:
    a = Random(seed=1).select(topic_pool, "q1", 5)
    assert inputs(a) == inputs(Random(seed=1).select(topic_pool, "q1", 5))
    assert len(set(inputs(a))) == 5
    assert inputs(a) != inputs(Random(seed=2).select(topic_pool, "q1", 5))
    assert inputs(a) != inputs(Random(seed=1).select(topic_pool, "q2", 5))
    same = Random(seed=1, per_query=False)
    assert inputs(same.select(topic_pool, "q1", 5)) == inputs(same.select(topic_pool, "q2", 5))
    assert all(0 <= s.score < 1 for s in a)


def test_fixed_returns_the_given_ids(topic_pool: Pool) -> None:
    ids = (topic_pool[3].id, topic_pool[0].id)
    assert [s.example.id for s in Fixed(ids=ids).select(topic_pool, "anything", 5)] == list(ids)
    with pytest.raises(KeyError):
        Fixed(ids=("missing",)).select(topic_pool, "q", 1)


def reference_votek(vectors: np.ndarray, budget: int, graph_k: int, rho: float) -> list[tuple[int, float]]:
    """Su et al.'s Algorithm 1 written out with loops: score(u) = sum over unselected voters v that
    have u among their neighbours of rho ** -(selected examples among v's neighbours)."""
    graph = knn_graph(vectors, graph_k)
    selected: list[int] = []
    picks = []
    for _ in range(budget):
        votes = {}
        for u in range(len(vectors)):
            if u in selected:
                continue
            votes[u] = sum(
                rho ** -sum(1 for s in selected if s in graph[v])
                for v in range(len(vectors))
                if v not in selected and u in graph[v]
            )
        best = max(votes, key=lambda u: (votes[u], -u))
        selected.append(best)
        picks.append((best, votes[best]))
    return picks


def two_clusters(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.eye(8, dtype=np.float32)[:2]
    vectors = np.vstack([c + 0.1 * rng.standard_normal((20, 8)).astype(np.float32) for c in centres])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_votek_matches_the_paper_algorithm() -> None:
    vectors = two_clusters()
    graph = knn_graph(vectors, 6)
    assert graph.shape == (40, 6) and not (graph == np.arange(40)[:, None]).any()
    fast = votek(vectors, budget=5, graph_k=6, rho=10.0)
    slow = reference_votek(vectors, budget=5, graph_k=6, rho=10.0)
    assert [i for i, _ in fast] == [i for i, _ in slow]
    assert [v for _, v in fast] == pytest.approx([v for _, v in slow])
    in_degree = np.bincount(graph.ravel(), minlength=40)
    assert fast[0] == (int(np.argmax(in_degree)), float(in_degree.max()))


def test_votek_discount_spreads_the_picks() -> None:
    vectors = two_clusters()
    cluster = [0 if i < 20 else 1 for i, _ in votek(vectors, budget=2, graph_k=10, rho=10.0)]
    assert sorted(cluster) == [0, 1]  # voters near the first pick count for less
    with pytest.raises(ValueError, match="rho > 1"):
        votek(vectors, budget=2, graph_k=10, rho=1.0)


def test_votek_subset_is_diverse_and_cached(topic_pool: Pool) -> None:
    selector = VoteK(budget=4, graph_k=5)
    subset = selector.subset(topic_pool)
    assert selector.subset(topic_pool) is subset
    assert len({topic_of(topic_pool[i].input) for i, _ in subset}) >= 3
    fixed = VoteK(budget=4, graph_k=5, retrieve="votes")
    assert [s.example.id for s in fixed.select(topic_pool, "q", 2)] == [topic_pool[i].id for i, _ in subset[:2]]
    similar = selector.select(topic_pool, REFUND_QUERY, 2)
    subset_ids = {topic_pool[i].id for i, _ in subset}
    assert all(s.example.id in subset_ids for s in similar)
    assert similar[0].score >= similar[1].score


def test_cluster_diverse_takes_the_nearest_of_each_cluster(topic_pool: Pool) -> None:
    selector = Cluster(seed=0)
    chosen = selector.select(topic_pool, REFUND_QUERY, 4)
    groups = selector.members(topic_pool, 4)
    assert sorted(i for g in groups for i in g.tolist()) == list(range(len(topic_pool)))
    cluster_of = {int(i): c for c, g in enumerate(groups) for i in g}
    positions = [topic_pool.position(s.example.id) for s in chosen]
    assert len({cluster_of[p] for p in positions}) == len(chosen) == len(groups)
    similarities = KNN().vectors(topic_pool).similarities(default_embedder().embed([REFUND_QUERY])[0])
    for p, s in zip(positions, chosen):
        assert p == max(groups[cluster_of[p]].tolist(), key=lambda i: similarities[i])
        assert s.score == pytest.approx(float(similarities[p]), abs=1e-5)
    assert chosen[0].example.input == "How do I get a refund for my order?"  # the overall nearest
    assert [s.score for s in chosen] == sorted((s.score for s in chosen), reverse=True)
    assert len({topic_of(text) for text in inputs(chosen)}) >= 3
    assert selector.members(topic_pool, 4) is groups


def test_balanced_caps_each_label(topic_labelled_pool: Pool) -> None:
    plain = KNN().select(topic_labelled_pool, REFUND_QUERY, 4)
    assert [s.example.label for s in plain] == ["refund"] * 4
    balanced = Balanced(inner=KNN()).select(topic_labelled_pool, REFUND_QUERY, 4)
    labels = [s.example.label for s in balanced]
    assert len(balanced) == 4 and max(labels.count(x) for x in labels) == 1  # ceil(4 / 4 labels)
    assert labels[0] == "refund"
    capped = Balanced(inner=KNN()).select(topic_labelled_pool, REFUND_QUERY, 6)
    assert max([s.example.label for s in capped].count(x) for x in TOPICS) == 2


def test_balanced_needs_labels() -> None:
    pool = Pool.from_records([{"input": "a", "output": "b"}, {"input": "c", "output": "d"}])
    with pytest.raises(ValueError, match="labels"):
        Balanced(inner=Random()).select(pool, "q", 1)


def test_selector_configs_build_from_yaml_shapes() -> None:
    assert isinstance(selector_config.validate_python("knn"), KNN)
    nested = selector_config.validate_python({"kind": "balanced", "inner": {"kind": "votek", "budget": 10}})
    assert isinstance(nested, Balanced) and isinstance(nested.inner, VoteK) and nested.inner.budget == 10
    assert nested.model_dump(exclude_defaults=True) == {"kind": "balanced", "inner": {"kind": "votek", "budget": 10}}
    with pytest.raises(ValidationError):
        selector_config.validate_python({"kind": "nearest"})
    with pytest.raises(ValidationError):
        selector_config.validate_python({"kind": "knn", "k": 3})  # k belongs to the step
