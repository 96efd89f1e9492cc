"""Run one step over many inputs with bounded concurrency.

Results come back in input order. A failing item records its error and input
without stopping the batch. Ctrl-C (or cancelling the task) stops new work and
returns what finished. ``on_result`` sees each result the moment it is done,
which is how evals append to their results file without losing work.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentkit.core.cache import ResponseCache
from agentkit.core.context import Context
from agentkit.core.step import Record, Step
from agentkit.core.trace import Span
from agentkit.llm.client import AsyncLLMClient
from agentkit.prompting.templates import PromptLibrary, default_library


@dataclass
class ItemResult:
    index: int
    input: Record
    output: Record | None = None
    error: str | None = None
    trace: Span | None = None
    latency_s: float = 0.0
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.output is not None

    def usage(self) -> dict[str, int]:
        """Prompt, completion and cached tokens of every LLM call in this item."""
        totals = {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
        for span in self.trace.find("llm") if self.trace else []:
            if span.outputs.get("cache_hit"):
                continue
            for key in totals:
                totals[key] += int((span.outputs.get("usage") or {}).get(key, 0))
        return totals


@dataclass
class BatchResult:
    results: list[ItemResult] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False

    @property
    def outputs(self) -> list[Record | None]:
        return [r.output for r in self.results]

    @property
    def errors(self) -> list[ItemResult]:
        return [r for r in self.results if r.error is not None]


class _Progress:
    """A tqdm bar with items/s, tokens/s and ETA, only when attached to a terminal."""

    def __init__(self, total: int, show: bool | None, desc: str) -> None:
        self.bar: Any = None
        self.tokens = 0
        self.started = time.monotonic()
        if show is None:
            show = sys.stderr.isatty()
        if show:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="item", dynamic_ncols=True)

    def update(self, result: ItemResult) -> None:
        if self.bar is None:
            return
        self.tokens += result.usage()["completion_tokens"]
        elapsed = max(1e-9, time.monotonic() - self.started)
        self.bar.set_postfix(tok_s=f"{self.tokens / elapsed:.0f}", errors=None, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


async def run_many(
    step: Step,
    inputs: Sequence[Record],
    *,
    llm: AsyncLLMClient | None = None,
    concurrency: int = 32,
    cache: ResponseCache | None = None,
    prompts: PromptLibrary | None = None,
    dry_run: bool = False,
    progress: bool | None = None,
    on_result: Callable[[ItemResult], None] | None = None,
    desc: str = "running",
) -> BatchResult:
    """Run ``step`` on every input; never raises for a single item's failure."""
    prompts = prompts or default_library()
    if inputs:
        step.check(set(inputs[0]), prompts)
    batch = BatchResult(results=[ItemResult(i, dict(r), cancelled=True) for i, r in enumerate(inputs)])
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(inputs)):
        queue.put_nowait(index)
    bar = _Progress(len(inputs), progress, desc)
    started = time.monotonic()

    async def worker() -> None:
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            root = Span("run", step.label)
            ctx = Context(llm=llm, span=root, cache=cache, prompts=prompts, dry_run=dry_run, wiring_checked=True)
            item = batch.results[index]
            t0 = time.perf_counter()
            try:
                item.output = await step.run(item.input, ctx)
            except Exception as exc:  # one item's failure is data, not a crash
                item.error = f"{type(exc).__name__}: {exc}"
            item.cancelled = False
            item.trace = root
            item.latency_s = time.perf_counter() - t0
            root.finish(error=None)
            bar.update(item)
            if on_result is not None:
                on_result(item)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(inputs))))]
    try:
        await asyncio.gather(*workers)
    except asyncio.CancelledError:
        batch.interrupted = True
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    finally:
        bar.close()
        batch.wall_s = time.monotonic() - started
    return batch


def run_many_sync(step: Step, inputs: Sequence[Record], **kwargs: Any) -> BatchResult:
    """``run_many`` for scripts; Ctrl-C returns the finished part (``interrupted``)."""
    holder: dict[str, BatchResult] = {}

    async def main() -> None:
        holder["batch"] = await run_many(step, inputs, **kwargs)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        if "batch" not in holder:
            raise
    return holder["batch"]
