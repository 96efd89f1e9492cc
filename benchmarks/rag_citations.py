"""How often does the model cite, with and without a decoding constraint on the citation format?

Runs retrieve + rag_answer over SciFact training claims once per ``cite`` mode
(free text, regex, JSON schema) and prints, side by side: the share of answers
with at least one valid citation, with an invalid one (no such passage), that
say "not in the context", whose citations include a gold-relevant document,
the mean number of passages cited, and the mean latency per claim.

    agentkit index build --corpus /work/shared/data/scifact/corpus.jsonl --out indexes/scifact-bm25
    python benchmarks/rag_citations.py --index indexes/scifact-bm25 --n 30
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from agentkit.core.batch import run_many
from agentkit.core.pipeline import Pipeline
from agentkit.evals.loaders import load_dataset
from agentkit.llm.client import AsyncLLMClient
from agentkit.rag.steps import RagAnswer, Retrieve, RetrieverSpec

MODES = ("free", "regex", "json")


async def measure(args: argparse.Namespace) -> None:
    claims = load_dataset("scifact", "train", limit=args.n, seed=args.seed)
    retrieve = Retrieve(retriever=RetrieverSpec(index=args.index), k=args.k)
    rows = []
    async with AsyncLLMClient(args.url, retry_timeout=300) as llm:
        for mode in MODES:
            answer = RagAnswer(cite=mode, max_passage_chars=args.passage_chars, prompt=args.prompt)
            batch = await run_many(
                Pipeline(steps=[retrieve, answer]), claims, llm=llm, concurrency=args.concurrency, progress=False
            )
            outputs = [r.output for r in batch.results if r.ok and r.output is not None]
            errors = [r.error for r in batch.results if not r.ok]
            invalid = sum(
                1
                for r in batch.results
                if r.trace and any("invalid_citations" in s.annotations for s in r.trace.walk())
            )
            gold = sum(1 for o in outputs if any(c["doc_id"] in o["relevant"] for c in o["cited"]))
            rows.append(
                {
                    "mode": mode,
                    "ok": len(outputs),
                    "cited": sum(1 for o in outputs if o["citations"]),
                    "invalid": invalid,
                    "refused": sum(1 for o in outputs if not o["answerable"]),
                    "gold": gold,
                    "mean_cites": statistics.mean(len(o["citations"]) for o in outputs) if outputs else 0.0,
                    "retrieved_gold": sum(
                        1 for o in outputs if any(p["doc_id"] in o["relevant"] for p in o["passages"])
                    ),
                    "latency": statistics.mean(r.latency_s for r in batch.results),
                    "errors": errors[:3],
                    "samples": [o["answer"] for o in outputs[:3]],
                }
            )
    n = len(claims)
    print(f"SciFact train claims: {n} (seed {args.seed}), top-{args.k} of {args.index}, prompt {args.prompt}")
    print(f"a gold document among the retrieved passages: {_share(rows[0]['retrieved_gold'], n)}")
    print(
        f"{'cite mode':<10}{'>=1 valid cite':>16}{'invalid cite':>14}{'not in ctx':>12}{'mean cites':>12}{'cites gold doc':>16}{'mean s/claim':>14}{'errors':>8}"
    )
    for row in rows:
        print(
            f"{row['mode']:<10}{_share(row['cited'], n):>16}{_share(row['invalid'], n):>14}{_share(row['refused'], n):>12}"
            f"{row['mean_cites']:>12.2f}{_share(row['gold'], n):>16}{row['latency']:>14.1f}{n - row['ok']:>8}"
        )
    for row in rows:
        print(f"\n{row['mode']} samples:")
        for text in row["samples"]:
            print(f"  {text!r}")
        for error in row["errors"]:
            print(f"  error: {error}")


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({100 * count / total:.0f}%)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, help="SciFact index folder")
    parser.add_argument("--url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--n", type=int, default=30, help="claims (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-k", type=int, default=3, help="passages per claim (default 3)")
    parser.add_argument("--passage-chars", type=int, default=600)
    parser.add_argument("--prompt", default="rag/answer.chat.j2")
    parser.add_argument("--concurrency", type=int, default=30)
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
