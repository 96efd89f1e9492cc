"""Self-consistency on the embedded vLLM server: what vLLM's ``n`` and adaptive stopping buy.

  (a) one request with n=8 per question vs 8 separate requests per question
      (same samples: sample i has seed i either way), same concurrency;
      wall time, prompt/cached/completion tokens both ways. The questions run
      in chunks, each chunk by both arms, in AB, BA, AB, ... order, so neither
      arm profits alone from the other's prefix cache or from a change in the
      (shared) server's load.
  (b) adaptive stopping (rounds of 4 by default, or several round sizes side
      by side; Beta criterion 0.95) vs fixed n=16, on GSM8K (few-shot CoT) and
      coin flip (zero-shot CoT): share of questions whose adaptive vote equals
      the full vote, samples, completion tokens and requests used.
  (c) completion tokens/s of a whole self-consistency eval at concurrency 1, 8, 64.

Usage: python benchmarks/self_consistency.py [--parts a,b,c] [--url URL]
The server is AGENTKIT_LLM_URL (default http://127.0.0.1:8000/v1). Question
counts are flags; the defaults keep each part near ten minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from agentkit.core.batch import BatchResult, run_many
from agentkit.core.step import Step
from agentkit.evals.loaders import load_dataset
from agentkit.evals.metrics import numeric_match
from agentkit.llm.client import AsyncLLMClient
from agentkit.llm.types import SamplingParams
from agentkit.reasoning.answer import AnswerFormat
from agentkit.reasoning.consistency import Adaptive, SelfConsistency
from agentkit.reasoning.cot import ChainOfThought


def gsm8k_cot(max_tokens: int) -> ChainOfThought:
    """Few-shot CoT with 4 GSM8K train problems and their worked solutions (Wei et al. format)."""
    demos = [{"question": r["question"], "rationale": " ".join(r["rationale"].split()), "answer": r["answer"]}
             for r in load_dataset("gsm8k", "train", limit=4)]
    return ChainOfThought(demos=demos, trigger=None, follow_up=False,
                          params=SamplingParams(max_tokens=max_tokens, stop=("\n\n", "\nQ:")))


def coin_cot(max_tokens: int) -> ChainOfThought:
    """Zero-shot CoT (Kojima et al.): reasoning, then the yes/no follow-up."""
    return ChainOfThought(answer=AnswerFormat(kind="yes_no"),
                          params=SamplingParams(max_tokens=max_tokens, stop=("\nQ:",)))


@dataclass
class Arm:
    name: str
    wall_s: float = 0.0
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0,
                                                            "cached_tokens": 0})
    requests: int = 0
    errors: int = 0
    items: dict[int, Any] = field(default_factory=dict)  # question index -> ItemResult

    def add(self, batch: BatchResult, offset: int = 0) -> None:
        self.wall_s += batch.wall_s
        for item in batch.results:
            self.items[offset + item.index] = item
            self.errors += item.error is not None
            self.requests += len(item.trace.find("llm")) if item.trace else 0
            for key, value in item.usage().items():
                self.tokens[key] += value

    def output(self, index: int) -> dict[str, Any]:
        return self.items[index].output or {}

    def samples(self, index: int) -> list[dict[str, Any]]:
        trace = self.items[index].trace
        spans = [s for s in trace.find("step") if s.name == "self_consistency"] if trace else []
        return spans[0].annotations.get("samples", []) if spans else []


async def run_arm(arm: Arm, step: Step, records: list[dict[str, Any]], llm: AsyncLLMClient, concurrency: int,
                  offset: int = 0) -> None:
    inputs = [{"question": r["question"]} for r in records]
    batch = await run_many(step, inputs, llm=llm, concurrency=concurrency, progress=False)
    arm.add(batch, offset)
    print(f"  {arm.name:<28} {len(records):>3} questions  {batch.wall_s:7.1f} s", flush=True)


def correct(arm: Arm, golds: list[str], kind: str) -> int:
    hits = 0
    for i, gold in enumerate(golds):
        answer = arm.output(i).get("answer")
        hits += numeric_match(answer, gold) if kind == "number" else answer == gold
    return hits


def row(label: str, *values: Any) -> None:
    print(f"  {label:<26}" + "".join(f"{v:>26}" for v in values))


# -- (a) ---------------------------------------------------------------------------


async def part_a(llm: AsyncLLMClient, args: argparse.Namespace) -> None:
    records = load_dataset("gsm8k", "dev", limit=args.a_questions)
    chunks = [(start, records[start : start + args.a_chunk]) for start in range(0, len(records), args.a_chunk)]
    sc = SelfConsistency(inner=gsm8k_cot(args.max_tokens), n=8, temperature=0.7)
    one, separate = Arm("n=8 in one request"), Arm("8 separate requests")
    print(f"\n(a) GSM8K dev, {len(records)} questions in chunks of {args.a_chunk} (= concurrency), few-shot CoT "
          f"(4 demos), n=8, T=0.7, max_tokens={args.max_tokens}; chunk order AB, BA, AB, ...")
    ratios = []
    for k, (start, chunk) in enumerate(chunks):
        before = (one.wall_s, separate.wall_s)
        order = [(one, sc), (separate, sc.with_(use_n=False))]
        for arm, step in order if k % 2 == 0 else order[::-1]:
            await run_arm(arm, step, chunk, llm, args.a_chunk, start)
        ratios.append((separate.wall_s - before[1]) / (one.wall_s - before[0]))
    same = total = 0
    for i in range(len(records)):
        for x, y in zip(one.samples(i), separate.samples(i)):
            total += 1
            same += x["fields"].get("reasoning") == y["fields"].get("reasoning")
    golds = [r["answer"] for r in records]
    row("", one.name, separate.name)
    row("wall time (s)", f"{one.wall_s:.1f}", f"{separate.wall_s:.1f}")
    row("HTTP requests", one.requests, separate.requests)
    for key in ("prompt_tokens", "cached_tokens", "completion_tokens"):
        row(key, one.tokens[key], separate.tokens[key])
    row("accuracy", f"{correct(one, golds, 'number')}/{len(golds)}", f"{correct(separate, golds, 'number')}/{len(golds)}")
    row("items failed", one.errors, separate.errors)
    print(f"  ratio separate / one-request wall time: {separate.wall_s / one.wall_s:.2f} overall; per chunk: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}; identical samples both ways: {same}/{total}")


# -- (b) ---------------------------------------------------------------------------


async def part_b_task(llm: AsyncLLMClient, args: argparse.Namespace, task: str) -> None:
    if task == "gsm8k":
        records, inner, kind = load_dataset("gsm8k", "dev", limit=args.b_gsm8k_questions), gsm8k_cot(args.max_tokens), "number"
    else:
        records, inner, kind = load_dataset("coin_flip", "dev", limit=args.b_coin_questions), coin_cot(args.max_tokens), "yes_no"
    fixed_step = SelfConsistency(inner=inner, n=16, temperature=0.7)
    sizes = [int(size) for size in args.round_sizes.split(",")]
    fixed = Arm("fixed n=16")
    adaptives = [Arm(f"adaptive, rounds of {size}") for size in sizes]
    print(f"\n(b) {task} dev, {len(records)} questions, {'few-shot' if task == 'gsm8k' else 'zero-shot'} CoT, "
          f"T=0.7, max_tokens={args.max_tokens}, concurrency {args.b_concurrency}, Beta threshold {args.threshold}")
    await run_arm(fixed, fixed_step, records, llm, args.b_concurrency)
    for size, arm in zip(sizes, adaptives, strict=True):
        step = fixed_step.with_(adaptive=Adaptive(round_size=size, threshold=args.threshold))
        await run_arm(arm, step, records, llm, args.b_concurrency)
    n = len(records)
    golds = [r["answer"] for r in records]
    summaries = [adaptive_summary(fixed, arm, n) for arm in adaptives]
    row("", fixed.name, *(arm.name for arm in adaptives))
    row("same vote as fixed n=16", f"{n}/{n}", *(f"{s['agree']}/{n} = {s['agree'] / n:.1%}" for s in summaries))
    row("samples drawn", 16 * n, *(f"{s['drawn']} = {s['drawn'] / (16 * n):.1%}" for s in summaries))
    row("completion tokens", fixed.tokens["completion_tokens"],
        *(f"{a.tokens['completion_tokens']} = {a.tokens['completion_tokens'] / max(1, fixed.tokens['completion_tokens']):.1%}"
          for a in adaptives))
    row("HTTP requests", fixed.requests, *(a.requests for a in adaptives))
    row("wall time (s)", f"{fixed.wall_s:.1f}", *(f"{a.wall_s:.1f}" for a in adaptives))
    row("accuracy", *(f"{correct(a, golds, kind)}/{n}" for a in (fixed, *adaptives)))
    row("items failed", *(a.errors for a in (fixed, *adaptives)))
    for arm, summary in zip(adaptives, summaries, strict=True):
        print(f"  {arm.name}: stop reasons {summary['stops']}; samples with the same answer as the fixed run's "
              f"sample of the same seed: {summary['prefix_same']}/{summary['prefix_total']}")


def adaptive_summary(fixed: Arm, adaptive: Arm, n: int) -> dict[str, Any]:
    """How an adaptive run compares with the fixed run on the same questions and seeds."""
    agree = drawn = prefix_same = prefix_total = 0
    stops: dict[str, int] = {}
    for i in range(n):
        agree += fixed.output(i).get("answer") == adaptive.output(i).get("answer")
        vote = adaptive.output(i).get("vote") or {}
        drawn += vote.get("drawn", 0)
        stops[vote.get("stopped", "error")] = stops.get(vote.get("stopped", "error"), 0) + 1
        for x, y in zip(adaptive.samples(i), fixed.samples(i)):
            prefix_total += 1
            prefix_same += x["answer"] == y["answer"]
    return {"agree": agree, "drawn": drawn, "stops": stops, "prefix_same": prefix_same, "prefix_total": prefix_total}


# -- (c) ---------------------------------------------------------------------------


async def part_c(llm: AsyncLLMClient, args: argparse.Namespace) -> None:
    sc = SelfConsistency(inner=gsm8k_cot(args.c_max_tokens), n=8, temperature=0.7)
    counts = [int(c) for c in args.c_questions.split(",")]
    print(f"\n(c) whole self-consistency eval (GSM8K dev, few-shot CoT, n=8, max_tokens={args.c_max_tokens})")
    row("concurrency", "questions", "wall (s)", "completion tok", "tokens/s")
    offset = 0
    for concurrency, count in zip((1, 8, 64), counts):
        records = load_dataset("gsm8k", "dev", limit=offset + count)[offset:]  # fresh questions: no prefix reuse
        offset += count
        arm = Arm(f"concurrency {concurrency}")
        batch = await run_many(sc, [{"question": r["question"]} for r in records], llm=llm, concurrency=concurrency,
                               progress=False)
        arm.add(batch)
        tokens = arm.tokens["completion_tokens"]
        row(str(concurrency), count, f"{arm.wall_s:.1f}", tokens, f"{tokens / arm.wall_s:.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="vLLM base URL (default: AGENTKIT_LLM_URL or http://127.0.0.1:8000/v1)")
    parser.add_argument("--parts", default="a,b,c")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--a-questions", type=int, default=32)
    parser.add_argument("--a-chunk", type=int, default=8, help="questions per chunk (and in flight)")
    parser.add_argument("--b-gsm8k-questions", type=int, default=16)
    parser.add_argument("--b-coin-questions", type=int, default=24)
    parser.add_argument("--b-concurrency", type=int, default=32)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--round-sizes", default="4,2", help="adaptive round sizes to compare, e.g. 4,2,1")
    parser.add_argument("--b-tasks", default="gsm8k,coin_flip")
    parser.add_argument("--c-questions", default="2,16,64", help="questions at concurrency 1, 8, 64")
    parser.add_argument("--c-max-tokens", type=int, default=96)
    args = parser.parse_args()
    async with AsyncLLMClient(args.url, retry_timeout=300) as llm:
        print(f"server {llm.urls[0]}, model {await llm.model()}")
        started = time.monotonic()
        parts = args.parts.split(",")
        if "a" in parts:
            await part_a(llm, args)
        if "b" in parts:
            for task in args.b_tasks.split(","):
                await part_b_task(llm, args, task)
        if "c" in parts:
            await part_c(llm, args)
        print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
