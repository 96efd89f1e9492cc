"""``agentkit index build|eval`` and ``agentkit retrieve``: retrieval indexes from the shell."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "index",
        help="build and evaluate retrieval indexes (BM25, dense, hybrid)",
        description="Build a BM25, dense (FAISS) or hybrid index over a corpus into a folder, "
        "or evaluate a saved index on a BEIR data set.",
    )
    actions = parser.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    _add_build(actions)
    _add_eval(actions)

    retrieve = subparsers.add_parser("retrieve", help="search a saved index", description="Print the top hits of a saved index for one query.")
    retrieve.add_argument("index_dir", metavar="DIR", help="folder written by `agentkit index build`")
    retrieve.add_argument("query", help="the query text")
    retrieve.add_argument("-k", type=int, default=10, help="number of hits (default 10)")
    retrieve.add_argument("--json", action="store_true", help="print hits as JSON lines")
    retrieve.set_defaults(func=_retrieve)


def _add_build(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    build = actions.add_parser("build", help="index a corpus into a folder")
    build.add_argument("--corpus", required=True, help="JSONL with _id, title, text (BEIR), a .txt file, or a folder of .txt files")
    build.add_argument("--out", required=True, metavar="DIR", help="folder to write the index to")
    build.add_argument("--kind", choices=("bm25", "dense", "hybrid"), default="bm25", help="default bm25")
    build.add_argument("--chunk", choices=("none", "tokens", "sentences"), default="none", help="split documents (default none)")
    build.add_argument("--chunk-size", type=int, help="tokens (default 200) or sentences (default 5) per chunk")
    build.add_argument("--overlap", type=int, help="tokens (default 50) or sentences (default 1) shared by neighbours")
    lexical = build.add_argument_group("bm25")
    lexical.add_argument("--variant", default="lucene", choices=("lucene", "robertson", "atire", "bm25+", "bm25l"))
    lexical.add_argument("--k1", type=float, default=1.5)
    lexical.add_argument("--b", type=float, default=0.75)
    lexical.add_argument("--delta", type=float, help="BM25+/BM25L delta (default 1.0 / 0.5)")
    lexical.add_argument("--engine", default="bm25s", choices=("bm25s", "rank_bm25"))
    dense = build.add_argument_group("dense")
    dense.add_argument("--structure", default="auto", choices=("auto", "flat", "hnsw", "ivf"),
                       help="FAISS index (auto: flat below 100k chunks, else HNSW)")
    dense.add_argument("--embedder", default="local", choices=("local", "vllm"),
                       help="local all-MiniLM-L6-v2 (default) or a vLLM pooling server")
    dense.add_argument("--embed-url", help="vLLM pooling server URL for --embedder vllm")
    dense.add_argument("--embed-model", help="served embedding model name (asked from the server when omitted)")
    dense.add_argument("--batch-size", type=int, default=32, help="texts per embedding batch")
    fusion = build.add_argument_group("hybrid")
    fusion.add_argument("--fusion", default="rrf", choices=("rrf", "convex"))
    fusion.add_argument("--weights", type=float, nargs=2, metavar=("BM25", "DENSE"), help="fusion weights (default equal)")
    fusion.add_argument("--rrf-k", type=float, default=60.0)
    build.set_defaults(func=_build)


def _add_eval(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    evaluate = actions.add_parser("eval", help="nDCG@10, recall@100 and queries/s on a BEIR data set")
    evaluate.add_argument("index_dir", metavar="DIR")
    evaluate.add_argument("--beir", required=True, metavar="PATH", help="folder with corpus.jsonl, queries.jsonl, qrels/")
    evaluate.add_argument("--split", default="test", help="qrels split (default test)")
    evaluate.add_argument("--json", action="store_true", help="print the numbers as one JSON object")
    evaluate.set_defaults(func=_eval)


def _embedder(args: argparse.Namespace) -> Any:
    from agentkit.icl.embed import CachedEmbedder, VLLMEmbedder, default_embedder, embedding_cache_dir

    if args.embedder == "local":
        return default_embedder()
    return CachedEmbedder(VLLMEmbedder(args.embed_url, args.embed_model), embedding_cache_dir())


def _build(args: argparse.Namespace) -> int:
    from agentkit.rag.documents import chunk_documents, load_corpus

    started = time.perf_counter()
    try:
        docs = load_corpus(args.corpus)
        chunks = chunk_documents(docs, args.chunk, args.chunk_size, args.overlap)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not chunks:
        print(f"error: no text found in {args.corpus}", file=sys.stderr)
        return 1
    print(f"{len(docs)} documents, {len(chunks)} chunks", file=sys.stderr)
    parts: list[Any] = []
    if args.kind in ("bm25", "hybrid"):
        from agentkit.rag.bm25 import BM25Index

        settings = {"variant": args.variant, "k1": args.k1, "b": args.b, "delta": args.delta, "engine": args.engine}
        parts.append(BM25Index.build(chunks, progress=True, **settings))
    if args.kind in ("dense", "hybrid"):
        from agentkit.rag.dense import DenseIndex

        parts.append(DenseIndex.build(chunks, _embedder(args), batch_size=args.batch_size, progress=True, structure=args.structure))
    if args.kind == "hybrid":
        from agentkit.rag.hybrid import HybridIndex

        index: Any = HybridIndex(parts, method=args.fusion, weights=args.weights, rrf_k=args.rrf_k)
    else:
        index = parts[0]
    index.save(args.out)
    print(f"{args.kind} index of {len(chunks)} chunks written to {args.out} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _retrieve(args: argparse.Namespace) -> int:
    from agentkit.rag.index import load_index

    try:
        index = load_index(args.index_dir)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for rank, hit in enumerate(index.search(args.query, args.k), start=1):
        if args.json:
            print(json.dumps({"rank": rank, "doc_id": hit.doc_id, "score": hit.score, "title": hit.title,
                              "start": hit.start, "end": hit.end, "text": hit.text}, ensure_ascii=False))
        else:
            snippet = " ".join(hit.text.split())[:160]
            title = f" {hit.title}:" if hit.title else ""
            print(f"{rank:>3}  {hit.score:9.4f}  [{hit.doc_id}]{title} {snippet}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from agentkit.rag.index import load_index
    from agentkit.rag.retrieval_eval import evaluate_beir

    try:
        index = load_index(args.index_dir)
        report = evaluate_beir(index, args.beir, args.split)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"split": args.split, "ndcg@10": report.ndcg_at_10, "recall@100": report.recall_at_100,
                          "mrr@10": report.mrr_at_10, "queries": report.queries, "queries_per_second": report.queries_per_second}))
    else:
        print(f"split {args.split}: {report.summary()}")
    return 0
