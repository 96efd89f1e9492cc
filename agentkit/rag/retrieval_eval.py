"""Measuring retrievers: BEIR rankings (nDCG@10, recall@100) and HotpotQA supporting-paragraph recall.

Rankings are lists of document ids: a chunked index ranks a document at the
best rank of any of its chunks. The metric functions are the evaluation
harness's (``agentkit.evals.metrics``), so numbers here match ``agentkit eval``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentkit.evals.metrics import mean_over_queries, mrr, ndcg_at_k, recall_at_k
from agentkit.rag.documents import Chunk, Hit
from agentkit.rag.index import Retriever


@dataclass(frozen=True)
class RetrievalReport:
    """Quality and speed of one retriever on one set of judged queries."""

    ndcg_at_10: float
    recall_at_100: float
    mrr_at_10: float
    queries: int
    seconds: float
    runs: dict[str, list[str]] = field(repr=False, compare=False)

    @property
    def queries_per_second(self) -> float:
        return self.queries / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        return (
            f"nDCG@10 {self.ndcg_at_10:.4f}  recall@100 {self.recall_at_100:.4f}  MRR@10 {self.mrr_at_10:.4f}  "
            f"queries {self.queries}  {self.queries_per_second:.1f} queries/s"
        )


def ranking_of(hits: Sequence[Hit]) -> list[str]:
    """Document ids best first, each once (at the rank of its best chunk)."""
    return list(dict.fromkeys(hit.doc_id for hit in hits))


def run_queries(retriever: Retriever, queries: Mapping[str, str], k: int = 100) -> tuple[dict[str, list[str]], float]:
    """Rankings per query id and the wall-clock seconds ``search_many`` took."""
    ids = list(queries)
    started = time.perf_counter()
    results = retriever.search_many([queries[q] for q in ids], k)
    seconds = time.perf_counter() - started
    return {qid: ranking_of(hits) for qid, hits in zip(ids, results)}, seconds


def score_runs(runs: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    return {
        "ndcg_at_10": mean_over_queries(ndcg_at_k, runs, qrels, k=10),
        "recall_at_100": mean_over_queries(recall_at_k, runs, qrels, k=100),
        "mrr_at_10": mean_over_queries(mrr, runs, qrels, k=10),
    }


def evaluate(retriever: Retriever, queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]], k: int = 100) -> RetrievalReport:
    """Run every judged query (top ``k``) and score the rankings against ``qrels``."""
    judged = {qid: queries[qid] for qid in qrels}
    runs, seconds = run_queries(retriever, judged, k)
    return RetrievalReport(**score_runs(runs, qrels), queries=len(judged), seconds=seconds, runs=runs)


def evaluate_beir(retriever: Retriever, path: str | Path, split: str = "test") -> RetrievalReport:
    from agentkit.evals.loaders import load_beir

    data = load_beir(path, split)
    return evaluate(retriever, data.queries, data.qrels)


def beir_chunks(path: str | Path) -> list[Chunk]:
    """A BEIR corpus as whole-document chunks (BEIR judges documents, not passages)."""
    from agentkit.rag.documents import chunk_documents, load_jsonl

    corpus = Path(path) / "corpus.jsonl" if Path(path).is_dir() else Path(path)
    return chunk_documents(load_jsonl(corpus))


# ---------------------------------------------------------------- HotpotQA

BuildRetriever = Callable[[list[Chunk]], Retriever]


def hotpot_chunks(record: Mapping[str, Any]) -> list[Chunk]:
    """A question's context paragraphs as chunks whose doc id is the paragraph title."""
    return [Chunk(p["title"], p["text"], 0, len(p["text"]), p["title"]) for p in record["paragraphs"]]


def hotpot_recall(
    records: Sequence[Mapping[str, Any]], build: BuildRetriever, *, pooled: bool, ks: Sequence[int] = (2, 5)
) -> dict[str, float]:
    """Recall@k of the supporting paragraphs (by title), averaged over questions.

    Per question (``pooled=False``) each question searches only its own ~10
    paragraphs (2 gold, 8 distractors). Pooled, all questions search one index
    over the union of every question's paragraphs (duplicates by title kept once).
    ``both@k`` is the share of questions with every supporting paragraph in the top k.
    """
    qrels = {str(r["id"]): {t: 1 for t in r["supporting_titles"]} for r in records}
    depth = max(ks)
    runs: dict[str, list[str]] = {}
    if pooled:
        unique: dict[str, Chunk] = {}
        for record in records:
            for chunk in hotpot_chunks(record):
                unique.setdefault(chunk.doc_id, chunk)
        retriever = build(list(unique.values()))
        results = retriever.search_many([r["question"] for r in records], depth)
        runs = {str(r["id"]): ranking_of(hits) for r, hits in zip(records, results)}
    else:
        for record in records:
            retriever = build(hotpot_chunks(record))
            runs[str(record["id"])] = ranking_of(retriever.search(record["question"], depth))
    scores: dict[str, float] = {}
    for k in ks:
        scores[f"recall@{k}"] = mean_over_queries(recall_at_k, runs, qrels, k=k)
        scores[f"both@{k}"] = mean_over_queries(lambda ranking, relevance, k: float(recall_at_k(ranking, relevance, k) == 1.0), runs, qrels, k=k)
    return scores
