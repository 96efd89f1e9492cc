"""Chain-of-thought: reason first, then answer.

Zero-shot (Kojima et al. 2022, "Large Language Models are Zero-Shot Reasoners"):
the prompt ends with a trigger ("Let's think step by step."); a second request
continues that prompt plus the reasoning with an answer trigger and the answer
is read from that short continuation. Few-shot (Wei et al. 2022, "Chain-of-
Thought Prompting Elicits Reasoning"): demonstrations carry rationales ending
"The answer is X." and the answer is read from the reasoning itself.

Demonstrations come from a fixed list or from a record field written by an
earlier step, so selection and ordering stay that step's business: the ICL
``demonstrations`` step writes them as rendered text (use its template
``reasoning/cot_demo.j2``), ``auto_cot`` as a list. A listed demonstration is a
mapping with ``question``, ``rationale`` and ``answer`` (what the GSM8K and
StrategyQA loaders produce); a custom template may use other keys.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import model_validator

from agentkit.core.context import Context
from agentkit.core.registry import register
from agentkit.core.step import Record, Step
from agentkit.llm.types import Choice, SamplingParams
from agentkit.prompting.templates import PromptLibrary
from agentkit.reasoning.answer import AnswerFormat, Rendered, token_stats

ZERO_SHOT_TRIGGER = "Let's think step by step."
Sampled = tuple[Record, tuple[float, int] | None]  # a sample's fields and its (logprob sum, token count)


@register("cot")
class ChainOfThought(Step):
    """Reason with ``prompt``, then read the answer (from a follow-up request, or the reasoning).

    The template receives the record plus ``demos`` (a list, empty for zero-shot)
    and ``trigger``. Writes the reasoning, the answer and ``<output>_error``.
    """

    prompt: str = "reasoning/cot.j2"
    trigger: str | None = ZERO_SHOT_TRIGGER
    demos: list[dict[str, Any]] | None = None
    demos_field: str | None = None
    answer: AnswerFormat = AnswerFormat()
    follow_up: bool = True
    answer_trigger: str | None = None  # None: Kojima's trigger for the answer kind
    params: SamplingParams = SamplingParams(max_tokens=256, temperature=0.0, stop=("\nQ:",))
    answer_params: SamplingParams = SamplingParams(max_tokens=24, temperature=0.0, stop=("\n",))
    reasoning_output: str = "reasoning"
    output: str = "answer"

    @model_validator(mode="after")
    def _one_demo_source(self) -> ChainOfThought:
        if self.demos is not None and self.demos_field is not None:
            raise ValueError("give either 'demos' (a fixed list) or 'demos_field' (a record field), not both")
        return self

    def reads(self, prompts: PromptLibrary) -> set[str]:
        own = prompts.variables(self.prompt) - {"demos", "trigger"}
        return own | ({self.demos_field} if self.demos_field else set())

    def writes(self) -> set[str]:
        return {self.reasoning_output, self.output, f"{self.output}_error"}

    async def process(self, record: Record, ctx: Context) -> Record:
        (fields, _), = await self.fan_out(record, ctx, self.params)
        if fields[f"{self.output}_error"]:
            ctx.annotate(extraction_failed=fields[f"{self.output}_error"])
        return fields

    async def fan_out(self, record: Record, ctx: Context, params: SamplingParams) -> list[Sampled]:
        """One reasoning request with ``params.n`` samples, then each sample's answer.

        Self-consistency calls this with n > 1: the samples share one prefill.
        """
        rendered = Rendered.of(ctx.prompts.get(self.prompt), self.variables(record))
        first = await rendered.send(ctx, params)
        return list(await asyncio.gather(*(self._finish(ctx, rendered, c, params) for c in first.choices)))

    def variables(self, record: Record) -> Record:
        """The template's values: the record, ``demos`` (a list, or text already rendered) and ``trigger``."""
        demos = record[self.demos_field] if self.demos_field else self.demos
        return {**record, "demos": demos or [], "trigger": self.trigger}

    def _answer_params(self, sample: SamplingParams, index: int) -> SamplingParams:
        """The follow-up's params; a sampled follow-up of a seeded sample gets the seed vLLM gave that sample."""
        changes: dict[str, Any] = {}
        if sample.seed is not None and self.answer_params.temperature != 0.0:
            changes["seed"] = sample.seed + index
        if sample.logprobs is not None:
            changes["logprobs"] = sample.logprobs
        return self.answer_params.with_(**changes)

    async def _finish(self, ctx: Context, rendered: Rendered, choice: Choice, params: SamplingParams) -> Sampled:
        choices = [choice]
        source = choice.text
        if self.follow_up:
            trigger = self.answer_trigger or self.answer.trigger
            follow = await rendered.followed_by(choice.text, trigger).send(ctx, self._answer_params(params, choice.index))
            choices.append(follow.choices[0])
            source = follow.text
        extraction = self.answer.extract(source)
        fields = {self.reasoning_output: choice.text.strip(), self.output: extraction.value,
                  f"{self.output}_error": extraction.error}
        return fields, token_stats(choices)
