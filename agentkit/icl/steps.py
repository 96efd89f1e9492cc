"""Steps: ``demonstrations`` picks and orders examples for a query; ``classify`` scores labels.

A few-shot classifier is two lines of YAML::

    - {type: demonstrations, pool: {dataset: sst2, split: train}, selector: knn, k: 4,
       template: icl/sst2.demo.j2}
    - {type: classify, prompt: icl/sst2.j2, labels: [negative, positive], calibrate: true}

The trace of ``demonstrations`` lists every chosen example's id, score and
position (0 = first in the prompt); ``classify`` records each label's
log-probability, the probabilities, and with calibration the content-free bias.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator

from agentkit.core.context import Context
from agentkit.core.registry import register
from agentkit.core.step import Record, Step
from agentkit.icl.calibrate import CONTENT_FREE, calibrate, label_logprobs, mean_distribution, softmax
from agentkit.icl.format import DemoFormat
from agentkit.icl.memo import SingleFlight
from agentkit.icl.order import Given, OrderEnv, OrderingConfig
from agentkit.icl.pool import Pool
from agentkit.icl.select import KNN, SelectorConfig
from agentkit.llm.types import Constraint, SamplingParams
from agentkit.prompting.templates import PromptLibrary, Template


@register("demonstrations")
class Demonstrations(Step):
    """Select ``k`` demonstrations for ``record[input]``, order them, render them into ``output``.

    Writes the rendered text and ``<output>_ids`` (the chosen ids in prompt order).
    ``template`` renders one demonstration (variables: input, output, label,
    rationale, id); ``max_chars`` shortens each demonstration's input.
    """

    pool: Pool
    selector: SelectorConfig = KNN()
    ordering: OrderingConfig = Given()
    k: int = Field(4, ge=0)
    template: str = "icl/demo.j2"
    separator: str = "\n"
    max_chars: int | None = Field(None, ge=1)
    input: str = "text"
    output: str = "demos"

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return {self.input}

    def writes(self) -> set[str]:
        return {self.output, f"{self.output}_ids"}

    def demo_format(self, prompts: PromptLibrary) -> DemoFormat:
        return DemoFormat(prompts.get(self.template), self.separator, self.max_chars)

    async def process(self, record: Record, ctx: Context) -> Record:
        query = str(record[self.input])
        chosen = await asyncio.to_thread(self.selector.select, self.pool, query, self.k) if self.k else []
        fmt = self.demo_format(ctx.prompts)
        ordered = await self.ordering.order(chosen, query, OrderEnv(self.pool, ctx, fmt))
        ctx.annotate(
            selector=self.selector.kind,
            ordering=self.ordering.kind,
            demos=[
                {"position": i, "id": s.example.id, "score": round(s.score, 6), "label": s.example.label}
                for i, s in enumerate(ordered)
            ],
        )
        return {self.output: fmt.render([s.example for s in ordered]), f"{self.output}_ids": [s.example.id for s in ordered]}


@register("classify")
class Classify(Step):
    """Pick one of ``labels`` for the prompt rendered from the record.

    ``method: score`` compares log P(verbalizer | prompt) across labels (the
    verbalizer is the label unless ``verbalizers`` maps it; it follows
    ``verbalizer_prefix``, and trailing whitespace of the prompt is dropped, so
    a label on its own line needs ``verbalizer_prefix: "\n"``).
    ``calibrate`` divides by the label distribution of the same prompt with
    ``record[input]`` replaced by each content-free string (Zhao et al. 2021).
    ``exact: false`` skips the exact scoring of labels outside the model's top-20
    next tokens (see ``label_logprobs``): one request per prompt, approximate for
    unlikely labels. ``method: generate`` asks the model for one verbalizer under a choice
    constraint instead (no probabilities, no calibration).

    Writes ``output`` (the label), ``<output>_probs`` (label -> probability, after
    calibration when on) and, with calibration, ``<output>_uncalibrated``.
    """

    prompt: str
    labels: tuple[str, ...]
    verbalizers: dict[str, str] | None = None
    method: Literal["score", "generate"] = "score"
    calibrate: bool = False
    content_free: tuple[str, ...] = CONTENT_FREE
    input: str = "text"
    output: str = "label"
    verbalizer_prefix: str = " "
    exact: bool = True

    _bias_memo: SingleFlight[list[float]] = PrivateAttr(default_factory=SingleFlight)

    def __eq__(self, other: object) -> bool:
        """Equal settings; the memo of content-free biases does not count."""
        return type(other) is type(self) and dict(self) == dict(other)

    __hash__ = None  # type: ignore[assignment]  # verbalizers is a dict

    @model_validator(mode="after")
    def _consistent(self) -> Classify:
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError("classify needs at least two distinct labels")
        unknown = set(self.verbalizers or {}) - set(self.labels)
        if unknown:
            raise ValueError(f"verbalizers for unknown labels: {', '.join(sorted(unknown))}")
        if len(set(self.verbalized)) != len(self.labels):
            raise ValueError("two labels have the same verbalizer")
        if self.calibrate and self.method == "generate":
            raise ValueError("calibration needs label probabilities: use method 'score'")
        if self.calibrate and not self.content_free:
            raise ValueError("calibration needs at least one content-free input")
        return self

    @property
    def verbalized(self) -> list[str]:
        return [(self.verbalizers or {}).get(label, label) for label in self.labels]

    @property
    def continuations(self) -> list[str]:
        return [self.verbalizer_prefix + v for v in self.verbalized]

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return prompts.variables(self.prompt) | {self.input}

    def writes(self) -> set[str]:
        fields = {self.output, f"{self.output}_probs"}
        return fields | {f"{self.output}_uncalibrated"} if self.calibrate else fields

    def _template(self, ctx: Context) -> Template:
        template = ctx.prompts.get(self.prompt)
        if template.is_chat:
            raise ValueError("classify scores a plain completion prompt; use a template without '=== role ===' markers")
        return template

    def _render(self, template: Template, record: Record) -> str:
        return template.render(**record).rstrip()

    async def process(self, record: Record, ctx: Context) -> Record:
        template = self._template(ctx)
        prompt = self._render(template, record)
        if self.method == "generate":
            return await self._generate(prompt, ctx)
        (logprobs,) = await label_logprobs(ctx, [prompt], self.continuations, exact=self.exact)
        probs = softmax(logprobs)
        raw = self.labels[max(range(len(probs)), key=probs.__getitem__)]
        ctx.annotate(logprobs=dict(zip(self.labels, logprobs)), probs=dict(zip(self.labels, probs)))
        if not self.calibrate:
            return {self.output: raw, f"{self.output}_probs": dict(zip(self.labels, probs))}
        bias = await self._bias(template, record, ctx)  # after the prompt: its prefix is then cached
        calibrated = calibrate(probs, bias)
        label = self.labels[max(range(len(calibrated)), key=calibrated.__getitem__)]
        ctx.annotate(bias=dict(zip(self.labels, bias)), calibrated=dict(zip(self.labels, calibrated)))
        return {self.output: label, f"{self.output}_probs": dict(zip(self.labels, calibrated)),
                f"{self.output}_uncalibrated": raw}

    async def _bias(self, template: Template, record: Record, ctx: Context) -> list[float]:
        """Mean label distribution over the content-free inputs; shared by runs with the same prompt."""
        prompts = [self._render(template, {**record, self.input: text}) for text in self.content_free]

        async def compute() -> list[float]:
            child = ctx.child("calibrate", "content-free", content_free=list(self.content_free))
            try:
                rows = await label_logprobs(child, prompts, self.continuations, exact=self.exact)
            except BaseException as exc:
                child.span.finish(error=exc)
                raise
            bias = mean_distribution([softmax(row) for row in rows])
            child.span.finish(bias=dict(zip(self.labels, bias)))
            return bias

        bias, reused = await self._bias_memo.get((tuple(prompts), tuple(self.continuations)), compute)
        ctx.annotate(content_free=list(self.content_free), bias_reused=reused)
        return bias

    async def _generate(self, prompt: str, ctx: Context) -> Record:
        choices = self.continuations
        completion = await ctx.complete(
            prompt, SamplingParams(max_tokens=16, temperature=0.0), Constraint.choice(choices)
        )
        text = completion.text
        matches = [label for label, choice in zip(self.labels, choices) if text.strip() == choice.strip()]
        if not matches:
            raise ValueError(f"constrained generation returned {text!r}, not one of the verbalizers")
        return {self.output: matches[0], f"{self.output}_probs": {label: float(label == matches[0]) for label in self.labels}}
