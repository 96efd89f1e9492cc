"""What a run carries that is not data: the client, the trace, the cache, prompts.

Passed explicitly to every step, never global. ``Context.complete`` and
``Context.chat`` are the only way steps reach the LLM: they record an LLM span
with the exact prompt, consult the response cache, and honour dry-run mode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentkit.core.cache import ResponseCache, cache_key
from agentkit.core.trace import Span
from agentkit.llm.client import AsyncLLMClient
from agentkit.llm.types import Choice, Completion, Constraint, ContinuationScore, SamplingParams
from agentkit.prompting.templates import PromptLibrary, default_library


class NoLLMError(RuntimeError):
    def __init__(self) -> None:
        super().__init__("this run has no LLM client: pass llm=AsyncLLMClient(...) or use dry_run=True")


@dataclass(frozen=True)
class Context:
    llm: AsyncLLMClient | None = None
    span: Span = field(default_factory=lambda: Span("run", "run"))
    cache: ResponseCache | None = None
    prompts: PromptLibrary = field(default_factory=default_library)
    seed: int | None = None
    dry_run: bool = False
    wiring_checked: bool = False  # set once the outermost step has checked its wiring

    def child(self, kind: str, name: str, **inputs: Any) -> Context:
        return replace(self, span=self.span.child(kind, name, **inputs))

    def annotate(self, **values: Any) -> None:
        self.span.annotate(**values)

    async def complete(
        self, prompt: str, params: SamplingParams | None = None, constraint: Constraint | None = None
    ) -> Completion:
        params = params or SamplingParams()
        request = {"prompt": prompt, "params": params.model_dump(exclude_none=True)}
        return await self._call("completions", request, params, constraint)

    async def chat(
        self,
        messages: Sequence[dict[str, str]],
        params: SamplingParams | None = None,
        constraint: Constraint | None = None,
    ) -> Completion:
        params = params or SamplingParams()
        request = {"messages": list(messages), "params": params.model_dump(exclude_none=True)}
        return await self._call("chat", request, params, constraint)

    async def _call(
        self, endpoint: str, request: dict[str, Any], params: SamplingParams, constraint: Constraint | None
    ) -> Completion:
        if constraint is not None:
            request["constraint"] = constraint.model_dump(mode="json")
        span = self.span.child("llm", endpoint, **{k: v for k, v in request.items() if k != "params"})
        span.annotate(params=request["params"])
        started = time.perf_counter()
        try:
            if self.dry_run:
                result = Completion(model="dry-run", choices=[Choice(index=i, text="") for i in range(params.n)])
            else:
                result = await self._cached_call(endpoint, request, params, constraint)
        except BaseException as exc:
            span.finish(error=exc)
            raise
        span.finish(
            choices=[c.model_dump(exclude_none=True) for c in result.choices],
            usage=result.usage.model_dump(),
            cache_hit=result.cached,
            latency_s=result.latency_s if not result.cached else time.perf_counter() - started,
        )
        return result

    async def _cached_call(
        self, endpoint: str, request: dict[str, Any], params: SamplingParams, constraint: Constraint | None
    ) -> Completion:
        if self.llm is None:
            raise NoLLMError()
        key = cache_key(await self.llm.model(), endpoint, request) if self.cache is not None else None
        if self.cache is not None and key:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        if endpoint == "chat":
            result = await self.llm.chat(request["messages"], params, constraint)
        else:
            result = await self.llm.complete(request["prompt"], params, constraint)
        if self.cache is not None and key:
            self.cache.put(key, result)
        return result

    async def score(self, pairs: Sequence[tuple[str, str]]) -> list[ContinuationScore]:
        """log P(continuation | prompt) for each pair, in one concurrent batch."""
        span = self.span.child("llm", "score", pairs=len(pairs), first_prompt=pairs[0][0] if pairs else "")
        if self.dry_run:
            scores = [ContinuationScore(prompt=p, continuation=c, logprob=0.0, token_logprobs=[]) for p, c in pairs]
        else:
            if self.llm is None:
                raise NoLLMError()
            try:
                scores = list(await asyncio.gather(*(self.llm.score(p, c) for p, c in pairs)))
            except BaseException as exc:
                span.finish(error=exc)
                raise
        span.finish(scores=[{"continuation": s.continuation, "logprob": s.logprob} for s in scores])
        return scores
