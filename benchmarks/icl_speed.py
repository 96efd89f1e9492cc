"""Selection speed: kNN over a 100,000-example pool, and vote-k over 5,000 examples.

The 100k pool's vectors are precomputed: the real all-MiniLM-L6-v2 embeddings
of the SST-2, TREC and AG News training pools (about 12,800 texts), each
repeated with small Gaussian noise (sigma 0.02 per dimension, then
renormalized) up to 100,000 rows, so the index sees a realistic distribution.
Queries are real SST-2 dev sentences. Reported per query: search alone (query
vector given); the whole ``KNN.select`` call with the query's vector already in
the embedding cache (cache lookup, then search); and, apart, embedding one query
with the model itself (uncached). HNSW recall@8 is measured against exact search.

    .venv/bin/python benchmarks/icl_speed.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from agentkit.evals.loaders import load_dataset
from agentkit.icl.embed import default_embedder, normalize_rows
from agentkit.icl.pool import Example, Pool
from agentkit.icl.select import KNN, VoteK
from agentkit.icl.vectors import PoolVectors


def per_query_ms(run, items) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for item in items:
        started = time.perf_counter()
        run(item)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times), float(np.percentile(times, 95))


def big_pool(size: int, seed: int) -> tuple[Pool, np.ndarray]:
    embedder = default_embedder()
    texts = [e.input for name in ("sst2", "trec", "agnews") for e in Pool.from_dataset(name, "train")]
    base = embedder.embed(texts)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(texts), size)
    rows[: len(texts)] = np.arange(len(texts))
    noise = 0.02 * rng.standard_normal((size, base.shape[1])).astype(np.float32)
    noise[: len(texts)] = 0.0
    matrix = normalize_rows(base[rows] + noise)
    pool = Pool(examples=tuple(Example(id=f"s{i}", input=texts[r], output="x") for i, r in enumerate(rows)))
    return pool, matrix


def knn_speed(args: argparse.Namespace) -> None:
    embedder = default_embedder()
    started = time.perf_counter()
    pool, matrix = big_pool(args.pool_size, args.seed)
    print(f"pool: {len(pool)} examples, vectors {matrix.shape} ready in {time.perf_counter() - started:.1f}s")
    queries = [r["text"] for r in load_dataset("sst2", "dev", limit=args.queries, seed=args.seed)]
    query_vectors = embedder.embed(queries)
    results = {}
    for structure, threshold in (("flat", len(pool) + 1), ("hnsw", 50_000)):
        vectors = PoolVectors.precomputed(pool, matrix, embedder, threshold)
        started = time.perf_counter()
        vectors.index  # noqa: B018 - build it
        build_s = time.perf_counter() - started
        search_med, search_p95 = per_query_ms(lambda q, v=vectors: v.search(q[None, :], args.k), query_vectors)
        selector = KNN(hnsw_threshold=threshold)
        select_med, select_p95 = per_query_ms(lambda q, s=selector: s.select(pool, q, args.k), queries)
        _, ids = vectors.search(query_vectors, args.k)
        results[structure] = ids
        print(f"{structure:>4}: index built in {build_s:.1f}s; search only {search_med:.3f} ms median"
              f" ({search_p95:.3f} p95); KNN.select with the query vector cached {select_med:.2f} ms median"
              f" ({select_p95:.2f} p95)  [{len(queries)} queries, k={args.k}]")
    recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(results["hnsw"], results["flat"])])
    print(f"HNSW recall@{args.k} against exact search: {recall:.3f}")
    model = embedder.inner
    embed_med, embed_p95 = per_query_ms(lambda q: model.embed([q], progress=False), queries)
    print(f"embedding one query with the model (no cache): {embed_med:.2f} ms median ({embed_p95:.2f} p95)")


def votek_speed(args: argparse.Namespace) -> None:
    embedder = default_embedder()
    pool = Pool.from_dataset("sst2", "train", limit=args.votek_size)
    started = time.perf_counter()
    vectors = PoolVectors.of(pool, embedder)
    embed_s = time.perf_counter() - started
    selector = VoteK(budget=args.votek_budget, graph_k=150)
    started = time.perf_counter()
    subset = selector.subset(pool)
    votek_s = time.perf_counter() - started
    print(f"vote-k over {len(pool)} examples (budget {len(subset)}, graph k 150, rho 10): {votek_s:.2f}s"
          f" for the graph and the greedy picks; embedding the pool took {embed_s:.1f}s"
          f" ({'from the disk cache' if embed_s < 5 else 'computed'}), dim {vectors.matrix.shape[1]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool-size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--votek-size", type=int, default=5000)
    parser.add_argument("--votek-budget", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    knn_speed(arguments)
    votek_speed(arguments)
