"""agentkit's client against bare httpx: same 256 short completions, same server.

Runs both sides alternately (A B A B ...) at concurrency 1 and 64 and prints the
ratio of median wall times, each round's ratio (the shared server's noise is
several percent per round), and the client process's own CPU time per request
on each side, which the server's noise does not touch; plus the time of
``import agentkit`` in a fresh process.

    python benchmarks/client_overhead.py [--url http://127.0.0.1:8000/v1] [--requests 256] [--rounds 3]
        [--concurrency 1,64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable
from typing import Any

import httpx

from agentkit.llm.client import AsyncLLMClient, resolve_urls
from agentkit.llm.types import SamplingParams

PARAMS = SamplingParams(max_tokens=8, temperature=0.0)


def prompts(n: int) -> list[str]:
    return [f"Item {i}: the number after {i} is" for i in range(n)]


async def timed(work: Awaitable[Any]) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds spent awaiting ``work``."""
    wall, cpu = time.perf_counter(), time.process_time()
    await work
    return time.perf_counter() - wall, time.process_time() - cpu


async def bare_httpx(url: str, model: str, items: list[str], concurrency: int) -> tuple[float, float]:
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:

        async def one(prompt: str) -> str:
            async with slots:
                response = await http.post(
                    url + "/completions", json={"model": model, "prompt": prompt, **PARAMS.request_fields()}
                )
                response.raise_for_status()
                return str(response.json()["choices"][0]["text"])

        return await timed(asyncio.gather(*(one(p) for p in items)))


async def agentkit_client(url: str, items: list[str], concurrency: int) -> tuple[float, float]:
    async with AsyncLLMClient(url, max_in_flight=concurrency) as llm:
        await llm.model()  # discovery is a one-time cost, not per request
        return await timed(asyncio.gather(*(llm.complete(p, PARAMS) for p in items)))


def import_time_ms(repeats: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import agentkit; print((time.perf_counter() - t) * 1000)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(repeats)]
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None)
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per concurrency")
    parser.add_argument("--concurrency", default="1,64", help="comma-separated in-flight limits")
    args = parser.parse_args()
    url = resolve_urls(args.url)[0]
    async with AsyncLLMClient(url) as llm:
        model = await llm.model()
        await asyncio.gather(*(llm.complete(p, PARAMS) for p in prompts(32)))  # warm the server
    items = prompts(args.requests)
    print(f"{args.requests} completions (max_tokens={PARAMS.max_tokens}) against {url}, {args.rounds} alternating rounds")
    print(f"{'concurrency':>11} {'httpx s':>9} {'agentkit s':>10} {'ratio':>7} {'CPU ms/req httpx':>17} "
          f"{'agentkit':>9}  per-round ratios")
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        bare, ours = [], []
        for _ in range(args.rounds):
            bare.append(await bare_httpx(url, model, items, concurrency))
            ours.append(await agentkit_client(url, items, concurrency))
        b, o = statistics.median(w for w, _ in bare), statistics.median(w for w, _ in ours)
        cpu_b, cpu_o = (statistics.median(c for _, c in arm) * 1000 / len(items) for arm in (bare, ours))
        rounds = " ".join(f"{x[0] / y[0]:.3f}" for x, y in zip(ours, bare, strict=True))
        print(f"{concurrency:>11} {b:>9.2f} {o:>10.2f} {o / b:>7.3f} {cpu_b:>17.2f} {cpu_o:>9.2f}  {rounds}")
    print(f"import agentkit: {import_time_ms():.1f} ms (median of 5 fresh processes)")


if __name__ == "__main__":
    asyncio.run(main())
