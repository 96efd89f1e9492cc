"""Auto-CoT: the paper's filters, clustering, and the on-disk cache of built demonstrations."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from agentkit.core.context import Context
from agentkit.llm.types import Constraint
from agentkit.reasoning import autocot
from agentkit.reasoning.autocot import AutoCoT, QuestionPool, kmeans, rejection

APPLES = ["Ann has 3 apples and buys 2 more apples. How many apples?", "Bob eats 2 of his 7 apples. How many apples left?",
          "Cal picks 4 apples twice. How many apples?"]
TRAINS = ["A train goes 60 miles an hour for 2 hours. How far?", "A train leaves at 3 and takes 4 hours. When does it arrive?",
          "Two trains are 100 miles apart. How long until they meet?"]


ANGLES = dict(zip(APPLES + TRAINS, [0, 10, 25, 80, 90, 105]))  # degrees: two clusters; [1] nearest each centroid


class AngleEmbedder:
    """Unit vectors at fixed angles, so the distance order inside each cluster is known."""

    name = "angles"
    dim = 2

    def embed(self, texts: list[str], batch_size: int = 32, progress: bool | None = None) -> np.ndarray:
        radians = np.radians([ANGLES[t] for t in texts])
        return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def test_rejection_follows_the_paper_filters() -> None:
    ok = "Let's think step by step. 3 + 2 = 5. So the answer is 5."
    assert rejection("How many?", ok, "5", "number", 60, 5) is None
    assert rejection(" ".join(["word"] * 61), ok, "5", "number", 60, 5) == "question longer than 60 words"
    assert "6 steps" in (rejection("q", "a.\nb.\nc.\nd.\ne.\nf.", "5", "number", 60, 5) or "")
    assert rejection("q", "3 + 2 = 5", "5", "number", 60, 5) == "rationale does not end with a period"
    assert rejection("q", ok, None, "number", 60, 5) == "no answer extracted"
    assert "last sentence" in (rejection("q", "5 apples. Then many more words follow here to pad it out a lot more.", "5",
                                         "number", 60, 5) or "")
    assert rejection("q", "It is cold.", "yes", "yes_no", 60, 5) is None  # the number check is for numbers only


def test_kmeans_separates_clear_clusters() -> None:
    rng = np.random.default_rng(0)
    blobs = np.vstack([rng.normal(center, 0.05, size=(20, 2)) for center in ([0, 0], [3, 3], [0, 3])])
    assignment, distance = kmeans(blobs, 3, seed=1)
    for block in range(3):
        assert len(set(assignment[block * 20 : (block + 1) * 20])) == 1
    assert len(set(assignment)) == 3 and distance.max() < 0.5


def reply(prompt: str, seed: int | None, constraint: Constraint | None) -> str:
    if prompt.endswith("(arabic numerals) is"):
        return " 5."
    if APPLES[1] in prompt or TRAINS[1] in prompt:  # the centroid-nearest questions give a rejected rationale
        return " First step.\nSecond.\nThird.\nFourth.\nFifth.\nSixth."
    return " 3 + 2 = 5. So the answer is 5."


async def test_build_picks_a_passing_candidate_per_cluster_and_caches_it(
        scripted: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agentkit.icl.embed.default_embedder", AngleEmbedder)
    monkeypatch.setattr(autocot, "_BUILT", {})
    step = AutoCoT(pool=QuestionPool(questions=APPLES + TRAINS), k=2, batch=1, cache_dir=str(tmp_path))
    out = await step.run({}, Context(llm=scripted(reply)))
    demos = out["demos"]
    assert len(demos) == 2
    assert [d["question"] for d in demos] in ([APPLES[0], TRAINS[0]], [TRAINS[0], APPLES[0]])  # next nearest
    assert all(d["rationale"].startswith("Let's think step by step.") and d["answer"] == "5" for d in demos)
    (path,) = tmp_path.glob("*.json")
    saved = json.loads(path.read_text())
    assert saved["settings"]["model"] == "scripted" and saved["settings"]["k"] == 2
    rejected = [t for c in saved["clusters"] for t in c["tried"] if t["rejected"]]
    assert sorted(t["index"] for t in rejected) == [1, 4] and all("6 steps" in t["rejected"] for t in rejected)

    def must_not_call(prompt: str, seed: int | None, constraint: Constraint | None) -> str:
        raise AssertionError("a cached build must not call the LLM")

    monkeypatch.setattr(autocot, "_BUILT", {})
    again = await step.run({}, Context(llm=scripted(must_not_call)))
    assert again["demos"] == demos
    monkeypatch.setattr(autocot, "_BUILT", {})
    await step.with_(k=1).run({}, Context(llm=scripted(reply)))
    assert len(list(tmp_path.glob("*.json"))) == 2  # other settings, other file


async def test_concurrent_runs_share_one_build(scripted: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setattr("agentkit.icl.embed.default_embedder", AngleEmbedder)
    monkeypatch.setattr(autocot, "_BUILT", {})
    llm = scripted(reply)
    step = AutoCoT(pool=QuestionPool(questions=APPLES + TRAINS), k=2, batch=3, cache_dir=str(tmp_path))
    outs = await asyncio.gather(*(step.run({}, Context(llm=llm)) for _ in range(4)))
    assert all(o["demos"] == outs[0]["demos"] for o in outs)
    assert len(llm.requests) == 2 * 3 * 2  # 2 clusters x 3 candidates x (reasoning + follow-up), once


def test_pool_needs_one_source() -> None:
    with pytest.raises(ValueError):
        QuestionPool()
    assert len(QuestionPool(dataset="gsm8k", split="train", limit=5).load()) == 5
