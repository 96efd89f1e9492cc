from __future__ import annotations

import itertools

import pytest

from agentkit.core.context import Context
from agentkit.icl.embed import default_embedder
from agentkit.icl.format import DemoFormat
from agentkit.icl.order import Entropy, Given, OrderEnv, RandomOrder, Similarity
from agentkit.icl.pool import Pool
from agentkit.icl.select import KNN, Random
from agentkit.llm.client import AsyncLLMClient
from agentkit.prompting.templates import default_library

from .conftest import REFUND_QUERY

TEMPLATE = "Text: {{ input }}\nSentiment: {{ output }}\n"


def env(pool: Pool, ctx: Context | None = None) -> OrderEnv:
    return OrderEnv(pool, ctx or Context(), DemoFormat(default_library().get(TEMPLATE), "\n"))


def ids(items: list) -> list[str]:
    return [s.example.id for s in items]


async def test_given_keeps_the_selector_order(topic_pool: Pool) -> None:
    chosen = KNN().select(topic_pool, REFUND_QUERY, 4)
    assert ids(await Given().order(chosen, REFUND_QUERY, env(topic_pool))) == ids(chosen)


async def test_random_order_is_a_seeded_permutation(topic_pool: Pool) -> None:
    chosen = Random().select(topic_pool, REFUND_QUERY, 6)
    first = await RandomOrder(seed=3).order(chosen, REFUND_QUERY, env(topic_pool))
    assert sorted(ids(first)) == sorted(ids(chosen))
    assert ids(first) == ids(await RandomOrder(seed=3).order(chosen, REFUND_QUERY, env(topic_pool)))
    others = [ids(await RandomOrder(seed=s).order(chosen, REFUND_QUERY, env(topic_pool))) for s in range(4, 9)]
    assert any(o != ids(first) for o in others)


async def test_similarity_ascending_puts_the_most_similar_next_to_the_query(topic_pool: Pool) -> None:
    chosen = Random(seed=1).select(topic_pool, REFUND_QUERY, 6)
    ctx = Context()
    ordered = await Similarity().order(chosen, REFUND_QUERY, env(topic_pool, ctx))
    query, *rows = default_embedder().embed([REFUND_QUERY, *(s.example.input for s in ordered)])
    similarity = [float(row @ query) for row in rows]
    assert similarity == sorted(similarity)
    assert list(ctx.span.annotations["order_similarity"]) == ids(ordered)
    knn = KNN().select(topic_pool, REFUND_QUERY, 4)
    assert ids(await Similarity().order(knn, REFUND_QUERY, env(topic_pool))) == ids(knn)[::-1]
    descending = await Similarity(direction="descending").order(knn, REFUND_QUERY, env(topic_pool))
    assert ids(descending) == ids(knn)


def test_entropy_candidates_are_capped_permutations() -> None:
    assert Entropy().candidates(3) == list(itertools.permutations(range(3)))
    sampled = Entropy(max_permutations=8, seed=1).candidates(5)
    assert len(sampled) == len(set(sampled)) == 8
    assert sampled[0] == (0, 1, 2, 3, 4)
    assert all(sorted(p) == list(range(5)) for p in sampled)
    assert Entropy(max_permutations=1).candidates(4) == [(0, 1, 2, 3)]


def test_entropy_labels_default_to_the_pool_outputs(topic_pool: Pool) -> None:
    assert set(Entropy().label_set(topic_pool)) == {"negative", "positive"}
    assert Entropy(labels=("a", "b")).label_set(topic_pool) == ("a", "b")
    unlabelled = Pool.from_records([{"input": "x", "output": "y"}])
    with pytest.raises(ValueError, match="labels"):
        Entropy().label_set(unlabelled)


@pytest.mark.llm
async def test_entropy_ordering_scores_every_candidate(client: AsyncLLMClient, topic_pool: Pool) -> None:
    chosen = KNN().select(topic_pool, "The match was exciting.", 3)
    ordering = Entropy(max_permutations=3, probes=3, probe_tokens=16, seed=0)
    ctx = Context(llm=client)
    ordered = await ordering.order(chosen, "The match was exciting.", env(topic_pool, ctx))
    assert sorted(ids(ordered)) == sorted(ids(chosen))
    record = ctx.span.annotations["entropy_ordering"]
    assert record["reused"] is False
    assert 1 <= len(record["probes"]) <= 3 and all(record["probes"])
    assert len(record["candidates"]) == 3
    for candidate in record["candidates"]:
        assert sorted(candidate["order"]) == sorted(ids(chosen))
        assert 0.0 <= candidate["global_e"] <= 0.6932  # at most ln 2 with two labels
        assert 0.0 <= candidate["local_e"] <= 0.6932
    best = record["candidates"][record["chosen"]]
    assert best["global_e"] == max(c["global_e"] for c in record["candidates"])
    assert best["order"] == ids(ordered)
    calls = [s for s in ctx.span.walk() if s.kind == "llm"]
    assert len(calls) >= 3 + 3  # a probe request per candidate, then label scores per (candidate, probe)

    again = Context(llm=client)
    assert ids(await ordering.order(chosen, "another query", env(topic_pool, again))) == ids(ordered)
    assert again.span.annotations["entropy_ordering"]["reused"] is True
    assert not [s for s in again.span.walk() if s.kind == "llm"]
