"""BM25 query speed: bm25s against rank_bm25 on the same corpus and queries, side by side.

Both engines sit behind the same BM25Index (same analyzer, same Lucene scoring,
same top-k code), so the ratio is the engines' difference. Times include query
analysis and building the hit objects. Blocks of queries alternate between the
engines, so on a shared machine both see the same background load.

    .venv/bin/python benchmarks/bm25_speed.py [--data /work/shared/data/scifact] [--k 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from agentkit.rag.bm25 import BM25Index
from agentkit.rag.documents import chunk_documents, load_jsonl


def timed(index: BM25Index, queries: list[str], k: int) -> tuple[float, list[list[str]]]:
    started = time.perf_counter()
    results = index.search_many(queries, k)
    return time.perf_counter() - started, [[h.doc_id for h in hits] for hits in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/scifact"))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--variant", default="lucene")
    parser.add_argument("--repeats", type=int, default=3, help="bm25s runs per block (the median counts)")
    parser.add_argument("--block", type=int, default=50, help="queries per interleaved block")
    args = parser.parse_args()

    chunks = chunk_documents(load_jsonl(args.data / "corpus.jsonl"))
    queries = [json.loads(line)["text"] for line in (args.data / "queries.jsonl").open()]
    print(f"corpus {len(chunks)} documents, {len(queries)} queries, variant {args.variant}, k={args.k}")

    indexes: dict[str, BM25Index] = {}
    for label, engine, backend in (("rank_bm25", "rank_bm25", "numpy"), ("bm25s/numpy", "bm25s", "numpy"), ("bm25s/numba", "bm25s", "numba")):
        started = time.perf_counter()
        indexes[label] = BM25Index.build(chunks, variant=args.variant, engine=engine, backend=backend)
        print(f"{label:<12} build {time.perf_counter() - started:.2f} s")
    indexes["bm25s/numba"].search("warm up the JIT compiler", args.k)

    # Interleave the engines block by block, so both see the same background load on a shared machine.
    seconds = dict.fromkeys(indexes, 0.0)
    rankings: dict[str, list[list[str]]] = {label: [] for label in indexes}
    for start in range(0, len(queries), args.block):
        block = queries[start : start + args.block]
        for label, index in indexes.items():
            runs = [timed(index, block, args.k) for _ in range(1 if label == "rank_bm25" else args.repeats)]
            seconds[label] += statistics.median(t for t, _ in runs)
            rankings[label] += runs[0][1]

    reference = seconds["rank_bm25"]
    print(f"{'engine':<14} {'query s':>9} {'queries/s':>10} {'vs rank_bm25':>13} {'same top-10':>12}")
    for label, total in seconds.items():
        same = sum(a == b for a, b in zip(rankings[label], rankings["rank_bm25"])) / len(queries)
        print(f"{label:<14} {total:9.3f} {len(queries) / total:10.1f} {reference / total:12.1f}x {same:12.1%}")


if __name__ == "__main__":
    main()
