"""Retrieval evaluation: metrics of known rankings, chunk-to-document ranking, HotpotQA recall."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

from agentkit.rag.bm25 import BM25Index
from agentkit.rag.documents import Chunk, Hit
from agentkit.rag.retrieval_eval import evaluate, hotpot_chunks, hotpot_recall, ranking_of


class Scripted:
    """Returns fixed rankings per query text."""

    def __init__(self, rankings: dict[str, list[str]]) -> None:
        self.rankings = rankings

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return [Hit(doc, 1.0 / (i + 1), "") for i, doc in enumerate(self.rankings[query][:k])]

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        return [self.search(q, k) for q in queries]


def test_ranking_keeps_each_document_at_its_best_chunk() -> None:
    hits = [Hit("d2", 3, "", start=5, end=9), Hit("d1", 2, ""), Hit("d2", 1, "", start=0, end=4)]
    assert ranking_of(hits) == ["d2", "d1"]


def test_evaluate_by_hand() -> None:
    retriever = Scripted({"first": ["x", "rel1", "y"], "second": ["rel2", "rel3"] + [f"n{i}" for i in range(200)]})
    queries = {"q1": "first", "q2": "second", "q3": "unjudged"}
    qrels = {"q1": {"rel1": 1}, "q2": {"rel2": 1, "rel3": 1, "never": 1}}
    report = evaluate(retriever, queries, qrels)
    ndcg_q1 = (1 / math.log2(3)) / 1.0
    ndcg_q2 = (1 + 1 / math.log2(3)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    assert report.ndcg_at_10 == pytest.approx((ndcg_q1 + ndcg_q2) / 2)
    assert report.recall_at_100 == pytest.approx((1 + 2 / 3) / 2)
    assert report.mrr_at_10 == pytest.approx((0.5 + 1) / 2)
    assert report.queries == 2 and report.queries_per_second > 0
    assert report.runs["q1"] == ["x", "rel1", "y"]
    assert "nDCG@10 0." in report.summary()


def _record(qid: str, question: str, gold: list[str], distractors: list[str]) -> dict[str, Any]:
    paragraphs = [{"title": t, "text": f"{t} is described here."} for t in gold + distractors]
    return {"id": qid, "question": question, "paragraphs": paragraphs, "supporting_titles": gold}


def test_hotpot_recall_per_question_and_pooled() -> None:
    records = [
        _record("1", "Does the Seine flow through Rouen?", ["Seine", "Rouen"], ["Danube", "Tokyo", "Lima"]),
        _record("2", "Where was the Danube painter born?", ["Danube", "Painter"], ["Seine", "Oslo", "Quito"]),
    ]
    assert [c.doc_id for c in hotpot_chunks(records[0])] == ["Seine", "Rouen", "Danube", "Tokyo", "Lima"]
    built: list[int] = []

    def build(chunks: list[Chunk]) -> BM25Index:
        built.append(len(chunks))
        return BM25Index.build(chunks)

    per_question = hotpot_recall(records, build, pooled=False)
    assert built == [5, 5]
    # q1 finds Seine and Rouen (both named); q2 finds Danube and Painter
    assert per_question["recall@2"] == 1.0 and per_question["both@2"] == 1.0
    built.clear()
    pooled = hotpot_recall(records, build, pooled=True, ks=(1, 5))
    assert built == [8]  # Seine and Danube appear in both questions but are indexed once
    assert pooled["recall@1"] == 0.5 and pooled["both@1"] == 0.0
    assert pooled["recall@5"] == 1.0
