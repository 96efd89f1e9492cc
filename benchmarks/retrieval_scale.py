"""Retrieval at scale: BM25 over 1M synthetic passages, FAISS HNSW over 1M vectors.

BM25: passages of 20-99 words drawn from a Zipfian vocabulary (s=1, 200k
words, the 33 English stopwords as the most frequent ones, as in real text);
queries are 2-6 words from the same distribution. FAISS: clustered unit
vectors (1,000 Gaussian clusters), queries from the same clusters; recall@10
is measured against exact search. Latency is one query at a time.

    .venv/bin/python benchmarks/retrieval_scale.py bm25 [--n 1000000]
    .venv/bin/python benchmarks/retrieval_scale.py hnsw [--n 1000000 --dim 384]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from agentkit.rag.analyzer import ENGLISH_STOPWORDS
from agentkit.rag.bm25 import BM25Index
from agentkit.rag.dense import DenseIndex
from agentkit.rag.documents import Chunk


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def latencies_ms(run: Callable[[int], object], n: int, warmup: int = 10) -> np.ndarray:
    for i in range(warmup):
        run(i)
    times = []
    for i in range(n):
        started = time.perf_counter()
        run(i)
        times.append((time.perf_counter() - started) * 1000)
    return np.array(times)


def report_latency(label: str, ms: np.ndarray) -> None:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    print(f"{label}: p50 {p50:.2f} ms  p95 {p95:.2f} ms  p99 {p99:.2f} ms  mean {ms.mean():.2f} ms  ({len(ms)} queries)")


# ---------------------------------------------------------------- BM25


def zipf_vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """Stopwords first (most frequent), then distinct pronounceable pseudo-words."""
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
    words = dict.fromkeys(sorted(ENGLISH_STOPWORDS))
    while len(words) < size:
        picks = rng.integers(0, len(syllables), (size, 5))
        lengths = rng.integers(2, 6, size)
        for row, length in zip(picks.tolist(), lengths.tolist()):
            words.setdefault("".join(syllables[i] for i in row[:length]))
    return list(words)[:size]


def zipf_sampler(size: int, s: float, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    cdf = np.cumsum(1.0 / np.arange(1, size + 1) ** s)
    cdf /= cdf[-1]
    return lambda n: np.searchsorted(cdf, rng.random(n))


def synthetic_passages(n: int, vocab: Sequence[str], draw: Callable[[int], np.ndarray], rng: np.random.Generator) -> list[Chunk]:
    lengths = rng.integers(20, 100, n)
    ids = draw(int(lengths.sum()))
    words = np.array(vocab, dtype=object)
    chunks = []
    offset = 0
    for i, length in enumerate(lengths.tolist()):
        text = " ".join(words[ids[offset : offset + length]])
        offset += length
        chunks.append(Chunk(f"p{i}", text, 0, len(text)))
    return chunks


def bench_bm25(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    vocab = zipf_vocabulary(args.vocab, rng)
    draw = zipf_sampler(args.vocab, 1.0, rng)
    chunks = synthetic_passages(args.n, vocab, draw, rng)
    words = np.array(vocab, dtype=object)
    queries = [" ".join(words[draw(int(rng.integers(2, 7)))]) for _ in range(args.queries + 10)]
    tokens = sum(len(c.text.split()) for c in chunks)
    print(f"generated {len(chunks):,} passages, {tokens:,} words, vocabulary {args.vocab:,} in {time.perf_counter() - started:.1f} s")

    folder = Path(tempfile.mkdtemp(prefix="bm25scale-"))
    try:
        build_search_save(chunks, queries, args, folder)
        started = time.perf_counter()
        loaded = BM25Index.load(folder, mmap=True)
        print(f"loaded (memory-mapped) in {time.perf_counter() - started:.1f} s")
        report_latency("search k=10 (memory-mapped)", latencies_ms(lambda i: loaded.search(queries[i], 10), args.queries))
    finally:
        shutil.rmtree(folder)
    print(f"peak RSS {peak_rss_gib():.2f} GiB")


def build_search_save(chunks: list[Chunk], queries: list[str], args: argparse.Namespace, folder: Path) -> None:
    """The in-memory phase, in its own frame so the index is freed before the memory-mapped one loads."""
    started = time.perf_counter()
    index = BM25Index.build(chunks, backend=args.backend)
    build = time.perf_counter() - started
    print(f"BM25 (bm25s/{args.backend}, lucene) build {build:.1f} s; peak RSS so far {peak_rss_gib():.2f} GiB")
    report_latency("search k=10 (in memory)", latencies_ms(lambda i: index.search(queries[i], 10), args.queries))
    started = time.perf_counter()
    index.save(folder)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**30
    print(f"saved in {time.perf_counter() - started:.1f} s, {size:.2f} GiB on disk")


# ---------------------------------------------------------------- FAISS HNSW


class _PrecomputedVectors:
    """Stands in for an embedder: the benchmark searches with vectors it made itself."""

    name = "synthetic"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress: bool | None = None) -> np.ndarray:
        raise NotImplementedError("the scale benchmark searches with precomputed vectors")


def clustered_vectors(n: int, centers: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    out = np.empty((n, centers.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        block = centers[rng.integers(0, len(centers), stop - start)]
        block += noise * rng.standard_normal(block.shape, dtype=np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def bench_hnsw(args: argparse.Namespace) -> None:
    import faiss

    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((1000, args.dim), dtype=np.float32)
    started = time.perf_counter()
    vectors = clustered_vectors(args.n, centers, rng, args.noise)
    queries = clustered_vectors(args.queries + 10, centers, rng, args.noise)
    print(f"generated {args.n:,} x {args.dim} vectors ({vectors.nbytes / 2**30:.2f} GiB) in {time.perf_counter() - started:.1f} s")

    chunks = [Chunk(f"v{i}", "", 0, 0) for i in range(args.n)]
    started = time.perf_counter()
    index = DenseIndex.from_vectors(chunks, vectors, _PrecomputedVectors(args.dim), structure="hnsw",
                                    hnsw_m=args.m, ef_construction=args.ef_construction)
    build = time.perf_counter() - started
    print(f"HNSW (M={args.m}, efConstruction={args.ef_construction}, {args.threads} threads) build {build:.1f} s; "
          f"peak RSS {peak_rss_gib():.2f} GiB")

    exact = faiss.IndexFlatIP(args.dim)
    exact.add(vectors)
    _, truth = exact.search(queries[10:], 10)
    faiss.omp_set_num_threads(1)  # one query at a time, as a server answering one user would
    for ef in args.ef_search:
        index.faiss_index.hnsw.efSearch = ef
        found = index.search_vectors(queries[10:], 10)
        recall = np.mean([len({int(h.doc_id[1:]) for h in hits} & set(row.tolist())) / 10 for hits, row in zip(found, truth)])
        ms = latencies_ms(lambda i: index.search_vectors(queries[i : i + 1], 10), args.queries)
        report_latency(f"efSearch={ef:<4} recall@10 {recall:.3f}", ms)
    print(f"peak RSS {peak_rss_gib():.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("bm25", "hnsw"))
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--vocab", type=int, default=200_000, help="bm25: vocabulary size")
    parser.add_argument("--backend", default="numpy", choices=("numpy", "numba"), help="bm25: bm25s scorer")
    parser.add_argument("--dim", type=int, default=384, help="hnsw: vector size")
    parser.add_argument("--noise", type=float, default=0.5, help="hnsw: per-coordinate spread around cluster centers")
    parser.add_argument("--m", type=int, default=32, help="hnsw: links per node")
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--threads", type=int, default=2, help="hnsw: OpenMP threads for building")
    args = parser.parse_args()
    bench_bm25(args) if args.what == "bm25" else bench_hnsw(args)


if __name__ == "__main__":
    main()
