"""Few-shot accuracy of the ICL selectors and orderings, with and without calibration.

For SST-2 (pool: train, eval: dev), TREC (pool: train, eval: the carved dev) and
AG News (pool: the carved train, eval: the carved dev), each method classifies
the same seeded sample of eval examples by label log-probability; one pass
gives both the raw and the contextually calibrated prediction. Pools are
embedded with all-MiniLM-L6-v2 (cached on disk after the first run).

    .venv/bin/python benchmarks/icl_accuracy.py               # every method, 40 per set (~33 min)
    .venv/bin/python benchmarks/icl_accuracy.py --datasets trec agnews --methods random knn --limit 200

On the shared 2-core server the whole table for 40 examples per data set took 33
minutes; the label scores come from one next-token request per prompt unless
``--exact``. Prints a markdown table and writes every prediction to --out (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.core.batch import run_many
from agentkit.core.pipeline import Pipeline
from agentkit.core.step import Step
from agentkit.evals.loaders import LABELS, load_dataset
from agentkit.icl.order import Given, Similarity
from agentkit.icl.pool import FieldMap, Pool
from agentkit.icl.select import KNN, MMR, Cluster, Random, VoteK
from agentkit.icl.steps import Classify, Demonstrations
from agentkit.icl.vectors import PoolVectors, resolve_embedder
from agentkit.llm.client import AsyncLLMClient


@dataclass(frozen=True)
class Task:
    name: str
    pool_split: str
    eval_split: str
    verbalizers: dict[str, str]
    max_chars: int


TASKS = {
    "sst2": Task("sst2", "train", "dev", {}, 200),
    "trec": Task("trec", "train", "dev", {}, 200),
    "agnews": Task("agnews", "train", "dev", {"science/tech": "science"}, 160),
}

METHODS: dict[str, tuple[Any, Any]] = {
    "random": (Random(seed=0), Given()),
    "knn": (KNN(), Given()),
    "knn+sim-order": (KNN(), Similarity()),
    "mmr": (MMR(lambda_=0.5, fetch_k=32), Given()),
    "vote-k": (VoteK(budget=100, graph_k=150), Given()),
    "cluster": (Cluster(seed=0), Given()),
}


def pipeline(task: Task, pool: Pool, method: str, k: int, exact: bool) -> Step:
    classify = Classify(
        prompt=f"icl/{task.name}.j2", labels=tuple(LABELS[task.name]), verbalizers=task.verbalizers or None,
        calibrate=True, exact=exact,
    )
    if method == "zero-shot":
        return classify
    selector, ordering = METHODS[method]
    demos = Demonstrations(pool=pool, selector=selector, ordering=ordering, k=k,
                           template=f"icl/{task.name}.demo.j2", max_chars=task.max_chars)
    return Pipeline(steps=[demos, classify])


async def evaluate(step: Step, records: list[dict[str, Any]], client: AsyncLLMClient, concurrency: int) -> dict[str, Any]:
    inputs = [{"text": r["text"], "demos": ""} if isinstance(step, Classify) else {"text": r["text"]} for r in records]
    started = time.perf_counter()
    batch = await run_many(step, inputs, llm=client, concurrency=concurrency, progress=False)
    wall = time.perf_counter() - started
    raw = cal = done = 0
    predictions = []
    for record, result in zip(records, batch.results):
        if not result.ok or result.output is None:
            predictions.append({"id": record["id"], "error": result.error})
            continue
        done += 1
        raw += result.output["label_uncalibrated"] == record["label"]
        cal += result.output["label"] == record["label"]
        predictions.append({"id": record["id"], "gold": record["label"], "raw": result.output["label_uncalibrated"],
                            "calibrated": result.output["label"], "demos": result.output.get("demos_ids")})
    return {"n": done, "errors": len(records) - done, "raw": raw / max(1, done), "calibrated": cal / max(1, done),
            "wall_s": round(wall, 1), "predictions": predictions}


async def main(args: argparse.Namespace) -> int:
    results: dict[str, Any] = {"seed": args.seed, "limit": args.limit, "ks": args.ks, "exact": args.exact, "rows": []}
    async with AsyncLLMClient(args.url, retry_timeout=600, max_in_flight=4 * args.concurrency) as client:
        results["model"] = await client.model()
        for name in args.datasets:
            task = TASKS[name]
            pool = Pool.from_dataset(name, task.pool_split, FieldMap(input="text", output="label", label="label"),
                                     verbalizers=task.verbalizers or None)
            records = load_dataset(name, task.eval_split, limit=args.limit, seed=args.seed)
            started = time.perf_counter()
            PoolVectors.of(pool, resolve_embedder(None))  # embed the pool once, outside the timings
            inputs = {" ".join(e.input.split()).casefold() for e in pool}
            overlap = sum(" ".join(r["text"].split()).casefold() in inputs for r in records)
            print(f"# {name}: pool {len(pool)} ({task.pool_split}), eval {len(records)} ({task.eval_split}, seed {args.seed}),"
                  f" {overlap} eval texts also in the pool; pool embedded in {time.perf_counter() - started:.0f}s",
                  file=sys.stderr)
            plan = [("zero-shot", 0)] + [(m, k) for k in args.ks for m in args.methods]
            for method, k in plan:
                outcome = await evaluate(pipeline(task, pool, method, k, args.exact), records, client, args.concurrency)
                row = {"dataset": name, "method": method, "k": k, **outcome}
                results["rows"].append(row)
                print(f"  {method:<14} k={k}: raw {row['raw']:.3f}  calibrated {row['calibrated']:.3f}"
                      f"  (n={row['n']}, errors={row['errors']}, {row['wall_s']}s)", file=sys.stderr)
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                Path(args.out).write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0


def table(results: dict[str, Any]) -> str:
    datasets = list(dict.fromkeys(r["dataset"] for r in results["rows"]))
    keys = list(dict.fromkeys((r["method"], r["k"]) for r in results["rows"]))
    by = {(r["dataset"], r["method"], r["k"]): r for r in results["rows"]}
    header = "| method | k | " + " | ".join(f"{d} raw | {d} cal" for d in datasets) + " |"
    lines = [header, "|" + "---|" * (2 + 2 * len(datasets))]
    for method, k in keys:
        cells = []
        for d in datasets:
            row = by.get((d, method, k))
            cells += [f"{100 * row['raw']:.1f}", f"{100 * row['calibrated']:.1f}"] if row else ["", ""]
        lines.append(f"| {method} | {k} | " + " | ".join(cells) + " |")
    counts = ", ".join(f"{d} n={by[(d, 'zero-shot', 0)]['n']}" for d in datasets if (d, "zero-shot", 0) in by)
    scoring = "exact label scores" if results.get("exact") else "top-20 next-token label scores (bound below the top 20)"
    lines.append(f"\nAccuracy (%), model {results.get('model')}, seed {results['seed']}, {counts}, {scoring}.")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--datasets", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--ks", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--limit", type=int, default=40, help="eval examples per data set (seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--exact", action="store_true",
                        help="score labels outside the top-20 next tokens exactly (one more request each)")
    parser.add_argument("--out", default="benchmarks/results/icl_accuracy.json")
    parser.add_argument("--table-only", action="store_true", help="print the table of an existing --out file")
    arguments = parser.parse_args()
    if arguments.table_only:
        print(table(json.loads(Path(arguments.out).read_text())))
        raise SystemExit(0)
    raise SystemExit(asyncio.run(main(arguments)))
