"""Retrieval quality: SciFact (BEIR) nDCG@10 / recall@100 and HotpotQA supporting-paragraph recall.

Settings are tuned on SciFact's train qrels only (BM25 k1/b, RRF k, convex
weight); every split found under qrels/ is then scored with both the default
and the train-tuned settings, so held-out numbers are never used for choosing.
Dense retrieval is all-MiniLM-L6-v2 through the cached default embedder (the
first run embeds the corpus; later runs read the cache).

    .venv/bin/python benchmarks/retrieval_quality.py [--scifact PATH] [--skip-hotpot]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from typing import Any

from agentkit.evals.loaders import load_beir, load_dataset
from agentkit.icl.embed import default_embedder
from agentkit.rag.bm25 import BM25Index
from agentkit.rag.dense import DenseIndex
from agentkit.rag.documents import Chunk, Hit
from agentkit.rag.hybrid import HybridIndex, convex_fusion, reciprocal_rank_fusion
from agentkit.rag.retrieval_eval import beir_chunks, hotpot_recall, ranking_of, score_runs

K1_GRID = (0.6, 0.9, 1.2, 1.5, 2.0)
B_GRID = (0.4, 0.6, 0.75, 0.9, 1.0)
RRF_GRID = (5, 10, 20, 40, 60, 100)
WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(1, 10))  # weight of the dense scores


def splits(path: Path) -> list[str]:
    return sorted(p.stem for p in (path / "qrels").glob("*.tsv"))


def run(index: Any, queries: dict[str, str], depth: int = 100) -> tuple[dict[str, list[Hit]], float]:
    ids = list(queries)
    started = time.perf_counter()
    results = index.search_many([queries[q] for q in ids], depth)
    return dict(zip(ids, results)), len(ids) / (time.perf_counter() - started)


def score(hits: dict[str, list[Hit]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    return score_runs({q: ranking_of(h) for q, h in hits.items()}, qrels)


def fused(bm25: dict[str, list[Hit]], dense: dict[str, list[Hit]], method: str, value: float) -> dict[str, list[Hit]]:
    if method == "rrf":
        return {q: reciprocal_rank_fusion([bm25[q], dense[q]], k=value) for q in bm25}
    return {q: convex_fusion([bm25[q], dense[q]], weights=[1 - value, value]) for q in bm25}


def line(name: str, numbers: dict[str, float], qps: float | None = None) -> str:
    speed = f"  {qps:8.1f} q/s" if qps else ""
    return f"  {name:<52} nDCG@10 {numbers['ndcg_at_10']:.4f}  recall@100 {numbers['recall_at_100']:.4f}{speed}"


def uncached_query_speed(model: Any, queries: list[str]) -> None:
    """Dense q/s below reuse cached query vectors; this is what embedding new queries costs."""
    started = time.perf_counter()
    model.embed(queries, batch_size=32, progress=False)
    batched = len(queries) / (time.perf_counter() - started)
    single = []
    for query in queries[:50]:
        started = time.perf_counter()
        model.embed([query], progress=False)
        single.append((time.perf_counter() - started) * 1000)
    single.sort()
    print(f"MiniLM query embedding without the cache: {batched:.1f} queries/s in batches of 32; "
          f"one at a time p50 {single[len(single) // 2]:.1f} ms")


def scifact(path: Path) -> None:
    chunks = beir_chunks(path)
    available = splits(path)
    print(f"SciFact: {len(chunks)} documents; qrels splits here: {', '.join(available)}")
    train = load_beir(path, "train")

    # --- tune BM25 on train
    best_bm25 = max(
        itertools.product(K1_GRID, B_GRID),
        key=lambda kb: score(run(BM25Index.build(chunks, k1=kb[0], b=kb[1]), train.queries)[0], train.qrels)["ndcg_at_10"],
    )
    started = time.perf_counter()
    default_bm25 = BM25Index.build(chunks)
    print(f"BM25 build {time.perf_counter() - started:.2f} s; tuned on train: k1={best_bm25[0]}, b={best_bm25[1]}")
    tuned_bm25 = BM25Index.build(chunks, k1=best_bm25[0], b=best_bm25[1])

    started = time.perf_counter()
    dense = DenseIndex.build(chunks, default_embedder(), progress=True)
    print(f"dense build (MiniLM, {dense.structure}) {time.perf_counter() - started:.1f} s (cached embeddings after the first run)")
    uncached_query_speed(default_embedder().inner, list(load_beir(path, "train").queries.values())[:200])

    # --- tune fusion on train, over the tuned BM25 and the dense run
    train_bm25, _ = run(tuned_bm25, train.queries)
    train_dense, _ = run(dense, train.queries)
    best_rrf = max(RRF_GRID, key=lambda k: score(fused(train_bm25, train_dense, "rrf", k), train.qrels)["ndcg_at_10"])
    best_w = max(WEIGHT_GRID, key=lambda w: score(fused(train_bm25, train_dense, "convex", w), train.qrels)["ndcg_at_10"])
    print(f"fusion tuned on train: RRF k={best_rrf}; convex dense weight={best_w}")

    for split in available:
        data = load_beir(path, split)
        note = " (the tuning split: tuned rows are in-sample)" if split == "train" else ""
        print(f"\nsplit {split}: {len(data.qrels)} queries{note}")
        bm25_default, qps_default = run(default_bm25, data.queries)
        bm25_tuned, qps_tuned = run(tuned_bm25, data.queries)
        dense_hits, qps_dense = run(dense, data.queries)
        print(line("BM25 lucene k1=1.5 b=0.75", score(bm25_default, data.qrels), qps_default))
        print(line(f"BM25 lucene k1={best_bm25[0]} b={best_bm25[1]} (tuned)", score(bm25_tuned, data.qrels), qps_tuned))
        print(line("dense all-MiniLM-L6-v2 (flat; cached query vectors)", score(dense_hits, data.qrels), qps_dense))
        print(line("hybrid RRF k=60 (default BM25)", score(fused(bm25_default, dense_hits, "rrf", 60), data.qrels)))
        print(line(f"hybrid RRF k={best_rrf} (tuned BM25)", score(fused(bm25_tuned, dense_hits, "rrf", best_rrf), data.qrels)))
        print(line(f"hybrid convex w_dense={best_w} (tuned BM25)", score(fused(bm25_tuned, dense_hits, "convex", best_w), data.qrels)))
        hybrid = HybridIndex([tuned_bm25, dense], method="convex", weights=[1 - best_w, best_w])
        _, qps_hybrid = run(hybrid, data.queries)
        print(f"  hybrid end to end (cached query vectors, fuses top 100 of each): {qps_hybrid:.1f} queries/s")


def hotpot() -> None:
    records = load_dataset("hotpotqa", "full")
    embedder = default_embedder()
    paragraphs = [p for r in records for p in r["paragraphs"]]
    print(f"\nHotpotQA distractor ({len(records)} questions, {len(paragraphs)} paragraphs; recall of the 2 supporting ones)")
    embedder.embed([f"{p['title']} {p['text']}" for p in paragraphs] + [r["question"] for r in records], progress=True)

    def bm25(chunks: list[Chunk]) -> BM25Index:
        return BM25Index.build(chunks)

    def dense(chunks: list[Chunk]) -> DenseIndex:
        return DenseIndex.build(chunks, embedder, progress=False)

    def hybrid(chunks: list[Chunk]) -> HybridIndex:
        return HybridIndex([bm25(chunks), dense(chunks)])

    for pooled in (False, True):
        scope = "pooled over all questions' paragraphs" if pooled else "per question (its own ~10 paragraphs)"
        print(f"  {scope}:")
        for name, build in (("BM25", bm25), ("dense MiniLM", dense), ("hybrid RRF k=60", hybrid)):
            numbers = hotpot_recall(records, build, pooled=pooled)
            print(f"    {name:<16} " + "  ".join(f"{key} {value:.4f}" for key, value in numbers.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, default=Path("/work/shared/data/scifact"))
    parser.add_argument("--skip-hotpot", action="store_true")
    args = parser.parse_args()
    scifact(args.scifact)
    if not args.skip_hotpot:
        hotpot()


if __name__ == "__main__":
    main()
