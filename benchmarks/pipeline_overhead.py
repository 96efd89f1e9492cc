"""What the pipeline layer costs per step over direct client calls.

Two measurements side by side in one run, each alternating A/B:
1. against an in-process transport that answers instantly with a recorded
   response, so the difference is agentkit's own cost (spans, templates,
   wiring, record copies);
2. against the real server, where that cost is compared with real latency.
The pipeline is Generate + Extract (2 steps); the direct path renders the same
prompt with str.format, calls the client and extracts the number.

    python benchmarks/pipeline_overhead.py [--url URL] [--items 400] [--rounds 3] [--no-server]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx

from agentkit.core.batch import run_many
from agentkit.core.pipeline import Pipeline
from agentkit.llm.client import AsyncLLMClient, resolve_urls
from agentkit.llm.types import SamplingParams
from agentkit.prompting.answers import extract_number
from agentkit.prompting.steps import Extract, Generate

PARAMS = SamplingParams(max_tokens=6, temperature=0.0, stop=("\n",))
TEMPLATE = "Question: {{ question }}\nAnswer:"
RECORDED = {
    "model": "SmolLM2-135M-Instruct",
    "choices": [{"index": 0, "text": " 42", "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 2},
}
STEPS = 2


def instant_transport() -> httpx.MockTransport:
    body = json.dumps(RECORDED).encode()
    return httpx.MockTransport(lambda request: httpx.Response(200, content=body, headers={"content-type": "application/json"}))


async def direct(llm: AsyncLLMClient, inputs: list[dict[str, str]], concurrency: int) -> float:
    slots = asyncio.Semaphore(concurrency)

    async def one(record: dict[str, str]) -> str | None:
        async with slots:
            result = await llm.complete(f"Question: {record['question']}\nAnswer:", PARAMS)
            return extract_number(result.text).value

    started = time.perf_counter()
    await asyncio.gather(*(one(r) for r in inputs))
    return time.perf_counter() - started


async def pipelined(llm: AsyncLLMClient, inputs: list[dict[str, str]], concurrency: int) -> float:
    pipeline = Pipeline(steps=[Generate(prompt=TEMPLATE, params=PARAMS), Extract(kind="number")])
    started = time.perf_counter()
    batch = await run_many(pipeline, inputs, llm=llm, concurrency=concurrency, progress=False)
    assert not batch.errors, batch.errors[0].error
    return time.perf_counter() - started


async def compare(llm: AsyncLLMClient, inputs: list[dict[str, str]], concurrency: int, rounds: int) -> tuple[float, float]:
    a, b = [], []
    for _ in range(rounds):
        a.append(await direct(llm, inputs, concurrency))
        b.append(await pipelined(llm, inputs, concurrency))
    return statistics.median(a), statistics.median(b)


def report(label: str, n: int, t_direct: float, t_pipe: float) -> None:
    per_step_ms = (t_pipe - t_direct) / (n * STEPS) * 1000
    print(f"{label:<28} direct {t_direct:7.3f} s  pipeline {t_pipe:7.3f} s  ratio {t_pipe / t_direct:6.3f}  "
          f"added per step {per_step_ms:+.3f} ms")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-server", action="store_true", help="only the instant-transport measurement")
    args = parser.parse_args()
    inputs = [{"question": f"What is {i} plus {i}?"} for i in range(args.items)]

    async with AsyncLLMClient("http://instant/v1", model="m", transport=instant_transport()) as llm:
        await direct(llm, inputs[:20], args.concurrency)  # warm imports and templates
        await pipelined(llm, inputs[:20], args.concurrency)
        report("instant transport (1 core)", len(inputs), *await compare(llm, inputs, args.concurrency, args.rounds))

    if args.no_server:
        return
    url = resolve_urls(args.url)[0]
    async with AsyncLLMClient(url) as llm:
        await direct(llm, inputs[:32], args.concurrency)
        n = min(args.items, 200)
        report(f"real server ({url})", n, *await compare(llm, inputs[:n], args.concurrency, args.rounds))


if __name__ == "__main__":
    asyncio.run(main())
