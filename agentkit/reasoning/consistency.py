"""Self-consistency: sample several reasoning paths, extract each answer, vote.

Wang et al. 2022, "Self-Consistency Improves Chain of Thought Reasoning in
Language Models". The inner step is anything that writes an answer field:

* a ``generate`` or ``cot`` step, or a pipeline that starts with one: the
  samples come from ONE request with vLLM's ``n`` (one prefill, one round
  trip); the rest of the pipeline (extraction, follow-ups) runs per sample;
* any other step or pipeline (least-to-most, an agent): it runs n times
  concurrently, each run with its own seed.

Sample i always uses seed ``base + i``: vLLM seeds the i-th child of an
``n``-request with ``seed + i``, so both ways draw the same samples, and the
rounds of adaptive stopping draw a prefix of what a fixed-n run would draw.
Every sample, its answer (or why there is none) and the vote are kept in the
trace; samples without an answer are counted, never dropped silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentkit.core.context import Context, NoLLMError
from agentkit.core.pipeline import Pipeline
from agentkit.core.registry import StepRef, register
from agentkit.core.step import Record, Step
from agentkit.core.trace import Span
from agentkit.llm.errors import ServerError, ServerUnreachable
from agentkit.llm.types import SamplingParams
from agentkit.prompting.steps import Generate, generate
from agentkit.prompting.templates import PromptLibrary, default_library
from agentkit.reasoning.answer import token_stats
from agentkit.reasoning.cot import ChainOfThought, Sampled
from agentkit.reasoning.vote import Sample, Tally, Weighting

FanOut = Callable[[Record, Context, SamplingParams], Awaitable[list[Sampled]]]
# Failures of the serving side, not of one sample: they stop the vote instead of counting as a bad sample.
_INFRASTRUCTURE = (ServerUnreachable, ServerError, NoLLMError)
_CTX_SEED_STRIDE = 10_000  # a run-level seed (Context.seed) moves the whole block of sample seeds


class Adaptive(BaseModel):
    """Sample in rounds of ``round_size``; stop once the vote is decided or confident enough."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round_size: int = Field(default=2, ge=1)
    threshold: float = Field(default=0.95, gt=0.5, le=1.0)


@register("self_consistency")
class SelfConsistency(Step):
    """Run ``inner`` up to ``n`` ways at ``temperature`` and vote on its ``answer`` field.

    Writes the winning answer, ``<output>_error`` (when no sample had an
    answer) and ``vote`` (the distribution, counts of samples and
    unextractable ones, rounds, why sampling stopped).
    """

    inner: StepRef
    n: int = Field(default=8, ge=1)
    temperature: float | None = 0.7  # None keeps the inner step's own
    seed: int = 0
    answer: str = "answer"
    output: str = "answer"
    vote_output: str = "vote"
    weighting: Weighting = "majority"
    adaptive: Adaptive | None = None
    use_n: bool = True  # draw a round's samples with one n-request when the inner step allows it

    @model_validator(mode="after")
    def _inner_writes_answer(self) -> SelfConsistency:
        if self.answer not in self.inner.writes():
            writes = ", ".join(sorted(self.inner.writes())) or "nothing"
            raise ValueError(f"the inner step does not write {self.answer!r} (it writes: {writes}); set 'answer'")
        return self

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return self.inner.reads(prompts)

    def writes(self) -> set[str]:
        return {self.output, f"{self.output}_error", self.vote_output}

    def check(self, available: set[str], prompts: PromptLibrary | None = None) -> set[str]:
        self.inner.check(available, prompts or default_library())
        return available | self.writes()

    async def process(self, record: Record, ctx: Context) -> Record:
        base = self.seed + _CTX_SEED_STRIDE * (ctx.seed or 0)
        samples: list[Sample] = []
        tally = Tally(self.weighting)
        rounds, stopped = 0, "budget"
        while len(samples) < self.n:
            size = self.n - len(samples) if self.adaptive is None else min(self.adaptive.round_size, self.n - len(samples))
            drawn = await self._round(record, ctx.child("round", f"round {rounds}", first=len(samples), size=size),
                                      base, len(samples), size)
            samples += drawn
            for sample in drawn:
                tally.add(sample)
            rounds += 1
            if self.adaptive is not None:
                reason = tally.stop_reason(self.n - len(samples), self.adaptive.threshold)
                if reason:
                    stopped = reason
                    break
        vote = {**tally.summary(), "rounds": rounds, "stopped": stopped}
        ctx.annotate(samples=[s.to_dict() for s in samples], **vote)
        winner = tally.winner
        error = None if winner is not None else f"no sample produced an answer ({tally.unextractable} of {tally.drawn} unextractable)"
        return {self.output: tally.values[winner] if winner is not None else None, f"{self.output}_error": error,
                self.vote_output: vote}

    # -- drawing samples ------------------------------------------------------

    async def _round(self, record: Record, ctx: Context, base: int, first: int, size: int) -> list[Sample]:
        try:
            plan = self._fan_out_plan() if self.use_n else None
            if plan is None:
                return list(await asyncio.gather(*(
                    self._sample_run(record, ctx, first + i, base + first + i) for i in range(size))))
            head, fan_out, tail = plan
            params = sampling(head.params, self.temperature, base + first, "params").with_(n=size)
            head_ctx = ctx.child("step", head.label, n=size, seed=base + first)
            sampled = await fan_out(record, head_ctx, params)
            head_ctx.span.finish(samples=len(sampled))
            return list(await asyncio.gather(*(
                self._finish(tail, record, fields, stats, ctx, first + i, base + first + i)
                for i, (fields, stats) in enumerate(sampled))))
        finally:
            ctx.span.finish()

    def _fan_out_plan(self) -> tuple[ChainOfThought | Generate, FanOut, Pipeline | None] | None:
        """The step whose one request can give all samples, and the rest of the pipeline."""
        head: Step = self.inner
        tail = None
        if isinstance(self.inner, Pipeline) and self.inner.steps:
            head = self.inner.steps[0]
            tail = Pipeline(steps=self.inner.steps[1:]) if len(self.inner.steps) > 1 else None
        if isinstance(head, ChainOfThought):
            return head, head.fan_out, tail
        if isinstance(head, Generate):
            return head, _generate_fan_out(head), tail
        return None

    async def _finish(self, tail: Pipeline | None, record: Record, fields: Record, stats: tuple[float, int] | None,
                      ctx: Context, index: int, seed: int) -> Sample:
        if tail is not None:
            after, after_stats, failure = await self._run(tail, {**record, **fields}, ctx, index, seed)
            if failure:
                return Sample(index, seed, fields, None, failure)
            fields, stats = {**fields, **after}, _add(stats, after_stats)
        return self._sample(index, seed, fields, stats)

    async def _sample_run(self, record: Record, ctx: Context, index: int, seed: int) -> Sample:
        fields, stats, failure = await self._run(self.inner, record, ctx, index, seed)
        return Sample(index, seed, fields, None, failure) if failure else self._sample(index, seed, fields, stats)

    async def _run(self, step: Step, record: Record, ctx: Context, index: int, seed: int
                   ) -> tuple[Record, tuple[float, int] | None, str | None]:
        """Run one sample in its own span: (new fields, token stats, failure or None)."""
        sample_ctx = ctx.child("sample", f"sample {index}", seed=seed)
        try:
            out = await reseeded(step, self.temperature, seed).run(record, sample_ctx)
        except _INFRASTRUCTURE:
            raise
        except Exception as exc:  # this sample failed (e.g. a truncated constrained output): it counts, unanswered
            sample_ctx.span.finish(error=exc)
            return {}, None, f"{type(exc).__name__}: {exc}"
        sample_ctx.span.finish()
        fields = {k: v for k, v in out.items() if k not in record or record[k] is not v}
        return fields, span_stats(sample_ctx.span), None

    def _sample(self, index: int, seed: int, fields: Record, stats: tuple[float, int] | None) -> Sample:
        answer = fields.get(self.answer)
        error = fields.get(f"{self.answer}_error")
        if answer is None and not error:
            error = f"the sample wrote no {self.answer!r}"
        logprob_sum, tokens = stats if stats is not None else (None, 0)
        return Sample(index, seed, fields, answer, error if answer is None else None, logprob_sum, tokens)


def _generate_fan_out(step: Generate) -> FanOut:
    async def fan_out(record: Record, ctx: Context, params: SamplingParams) -> list[Sampled]:
        result = await generate(ctx, step.prompt, record, params, step.constraint)
        return [({step.output: choice.text}, token_stats([choice])) for choice in result.choices]

    return fan_out


def _add(first: tuple[float, int] | None, then: tuple[float, int] | None) -> tuple[float, int] | None:
    if first is None or then is None:
        return first or then
    return first[0] + then[0], first[1] + then[1]


# -- seeding nested steps ---------------------------------------------------------


def sampling(params: SamplingParams, temperature: float | None, seed: int, field_name: str) -> SamplingParams:
    """A sample's params: the sampling temperature, its seed, and token log-probabilities.

    Only a step's main ``params`` are sampled; other params (a follow-up's
    ``answer_params``, a decomposition's ``decompose_params``) keep their own
    temperature. Greedy params get no seed: their requests stay identical
    across samples, so the response cache and the prefix cache share them.
    """
    changes: dict[str, Any] = {}
    if temperature is not None and field_name == "params":
        changes["temperature"] = temperature
    if changes.get("temperature", params.temperature) != 0.0:
        changes["seed"] = seed
    if params.logprobs is None:
        changes["logprobs"] = 0
    return params.with_(**changes)


def reseeded(step: Step, temperature: float | None, seed: int) -> Step:
    """A copy of ``step`` (and every step nested in it) whose sampling params carry ``seed``."""
    changes: dict[str, Any] = {}
    for name, value in step:
        if isinstance(value, SamplingParams):
            changes[name] = sampling(value, temperature, seed, name)
        elif isinstance(value, Step):
            changes[name] = reseeded(value, temperature, seed)
        elif isinstance(value, list) and value and all(isinstance(v, Step) for v in value):
            changes[name] = [reseeded(v, temperature, seed) for v in value]
    return step.model_copy(update=changes) if changes else step


def span_stats(span: Span) -> tuple[float, int] | None:
    """(sum of token log-probabilities, tokens) over every LLM call under ``span``."""
    total, count, seen = 0.0, 0, False
    for llm in span.find("llm"):
        for choice in llm.outputs.get("choices") or []:
            logprobs = choice.get("logprobs")
            if logprobs is None:
                continue
            seen = True
            total += sum(t["logprob"] for t in logprobs)
            count += len(logprobs)
    return (total, count) if seen else None
