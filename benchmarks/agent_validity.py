"""Share of ReAct steps whose action is valid, on 50 HotpotQA and 50 arithmetic questions.

Runs the example agents (examples/agents/hotpotqa.yaml and calculator.yaml) with
the embedded model, all questions concurrently, and counts every step: a step is
valid when its decoded action parses and its arguments fit the tool's schema
(``parse_action``), which is what the JSON-schema constraint is meant to
guarantee. Also printed, for context: how runs ended, how often a tool was
called, and answer accuracy (exact match for HotpotQA, numeric match for
arithmetic). The HotpotQA fallback (CoT-SC) is left out unless --fallback: it
does not decode actions and would only add load.

    python benchmarks/agent_validity.py --url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from agentkit.agents.spec import load_agent, prompt_library_for
from agentkit.core.batch import BatchResult, run_many
from agentkit.evals.loaders import load_dataset
from agentkit.evals.metrics import exact_match, numeric_match
from agentkit.llm.client import AsyncLLMClient

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ROOT / "examples" / "agents"


def arithmetic_questions(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Seeded questions whose answers need a calculator (three- and two-digit operands)."""
    rng = random.Random(seed)
    forms = [
        ("What is {a} multiplied by {b}?", lambda a, b, c: a * b),
        ("What is {a} times {b} plus {c}?", lambda a, b, c: a * b + c),
        ("What is {a} plus {b} minus {c}?", lambda a, b, c: a + b - c),
        ("A warehouse has {a} boxes with {b} items in each box. How many items are there?", lambda a, b, c: a * b),
        ("A train travels {b} km every hour for {c} hours, then {a} km more. How far does it travel?",
         lambda a, b, c: b * c + a),
    ]
    questions = []
    for i in range(n):
        text, answer = forms[i % len(forms)]
        a, b, c = rng.randint(100, 999), rng.randint(12, 99), rng.randint(2, 40)
        questions.append({"id": f"arith:{i}", "question": text.format(a=a, b=b, c=c), "gold": str(answer(a, b, c))})
    return questions


def ensure_hotpotqa_index() -> None:
    if (ROOT / "indexes" / "hotpotqa-dev-bm25" / "manifest.json").exists():
        return
    spec = importlib.util.spec_from_file_location("hotpotqa_index", AGENTS / "hotpotqa_index.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(f"built indexes/hotpotqa-dev-bm25 ({module.build_hotpotqa_index(ROOT / 'indexes' / 'hotpotqa-dev-bm25')} "
          "paragraphs)", file=sys.stderr)


def summarize(name: str, batch: BatchResult, match: Any) -> dict[str, Any]:
    steps = valid = tool_calls = correct = 0
    stops: Counter[str] = Counter()
    invalid_examples = []
    for item in batch.results:
        output = item.output or {}
        trajectory = output.get("trajectory") or []
        steps += len(trajectory)
        valid += sum(entry["valid"] for entry in trajectory)
        tool_calls += sum(1 for e in trajectory if e["valid"] and e["action"]["tool"] != "finish")
        invalid_examples += [e["error"] for e in trajectory if not e["valid"]][:1]
        stops[output.get("stop_reason") or f"error: {item.error}"] += 1
        correct += bool(match(output.get("answer"), item.input["gold"]))
    return {
        "agent": name, "questions": len(batch.results), "steps": steps, "valid": valid,
        "share": valid / steps if steps else float("nan"), "tool_calls": tool_calls,
        "errors": len(batch.errors), "stops": dict(stops), "accuracy": correct / max(1, len(batch.results)),
        "wall_s": batch.wall_s, "invalid_examples": invalid_examples[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="vLLM base URL (default AGENTKIT_LLM_URL or :8000)")
    parser.add_argument("--n", type=int, default=50, help="questions per agent (default 50)")
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--fallback", action="store_true", help="keep the HotpotQA agent's CoT-SC fallback")
    parser.add_argument("--only", choices=("hotpotqa", "arithmetic"), help="run one suite")
    parser.add_argument("--out", help="write every run (input, answer, trajectory) as JSONL here")
    args = parser.parse_args()

    ensure_hotpotqa_index()
    hotpot = load_agent(AGENTS / "hotpotqa.yaml")
    hotpot_step = hotpot.step if args.fallback else hotpot.step.with_(fallback=None)
    calculator = load_agent(AGENTS / "calculator.yaml")
    hotpot_questions = [{"question": r["question"], "gold": r["answer"]}
                        for r in load_dataset("hotpotqa", "dev", limit=args.n)]
    suites = [
        ("hotpotqa", hotpot_step, hotpot_questions, lambda p, g: exact_match(p, g)),
        ("arithmetic", calculator.step, arithmetic_questions(args.n), lambda p, g: numeric_match(p, g)),
    ]
    suites = [suite for suite in suites if args.only in (None, suite[0])]
    prompts = prompt_library_for(AGENTS / "calculator.yaml")
    started = time.perf_counter()

    async def run_all() -> list[BatchResult]:
        async with AsyncLLMClient(args.url, max_in_flight=args.concurrency * 2) as llm:
            # Both suites at once: the server batches whatever is in flight.
            return list(await asyncio.gather(*(
                run_many(step, questions, llm=llm, concurrency=args.concurrency, prompts=prompts, desc=name)
                for name, step, questions, _ in suites
            )))

    batches = asyncio.run(run_all())
    wall = time.perf_counter() - started
    rows = [summarize(name, batch, match) for (name, _, _, match), batch in zip(suites, batches, strict=True)]
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            for (name, *_), batch in zip(suites, batches, strict=True):
                out.writelines(json.dumps({"agent": name, "input": item.input, "output": item.output,
                                           "error": item.error}, ensure_ascii=False) + "\n" for item in batch.results)

    print(f"\n{'agent':<12}{'questions':>10}{'steps':>8}{'valid':>8}{'valid share':>13}{'tool calls':>12}"
          f"{'run errors':>12}{'accuracy':>10}{'wall s':>9}")
    for r in rows:
        print(f"{r['agent']:<12}{r['questions']:>10}{r['steps']:>8}{r['valid']:>8}{r['share']:>13.1%}"
              f"{r['tool_calls']:>12}{r['errors']:>12}{r['accuracy']:>10.1%}{r['wall_s']:>9.0f}")
    steps, valid = sum(r["steps"] for r in rows), sum(r["valid"] for r in rows)
    print(f"{'all':<12}{sum(r['questions'] for r in rows):>10}{steps:>8}{valid:>8}{valid / max(1, steps):>13.1%}"
          f"{'':>12}{'':>12}{'':>10}{wall:>9.0f}")
    for r in rows:
        print(f"{r['agent']}: stop reasons {r['stops']}"
              + (f"; invalid actions, e.g. {r['invalid_examples']}" if r["invalid_examples"] else ""))


if __name__ == "__main__":
    main()
