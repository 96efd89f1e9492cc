"""Least-to-most prompting: decompose the problem, then solve the parts in order.

Zhou et al. 2022, "Least-to-Most Prompting Enables Complex Reasoning in Large
Language Models". Stage one asks (few-shot) for the subquestions, decoded under
a JSON-schema constraint so the list always parses. Stage two answers them one
by one; each prompt carries the problem and every earlier subquestion with its
answer, so a later step builds on the earlier ones. The last subquestion is the
problem itself (appended when the decomposition does not end with it), and the
final answer is read from its answer.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from agentkit.core.context import Context
from agentkit.core.registry import register
from agentkit.core.step import Record, Step
from agentkit.llm.types import Constraint, SamplingParams
from agentkit.prompting.steps import generate
from agentkit.prompting.templates import PromptLibrary
from agentkit.reasoning.answer import AnswerFormat

_STAGE_TWO_VARIABLES = {"previous", "subquestion"}


def subquestion_schema(max_items: int, max_chars: int) -> dict[str, Any]:
    """``{"subquestions": [...]}`` with bounded length, so the constrained output fits in max_tokens."""
    return {
        "type": "object",
        "properties": {
            "subquestions": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": max_chars},
                "minItems": 1,
                "maxItems": max_items,
            }
        },
        "required": ["subquestions"],
        "additionalProperties": False,
    }


@register("least_to_most")
class LeastToMost(Step):
    """Decompose with ``decompose_prompt``; answer each subquestion with ``solve_prompt``.

    The solve template receives the record plus ``subquestion`` and
    ``previous`` (a list of ``{question, answer}`` for the subquestions
    already answered). Writes the subquestions, their answers, the final
    answer and ``<output>_error``.
    """

    decompose_prompt: str
    solve_prompt: str
    question_field: str = "question"
    append_question: bool = True
    max_subquestions: int = Field(default=6, ge=1)
    max_subquestion_chars: int = Field(default=200, ge=1)
    answer: AnswerFormat = AnswerFormat()
    decompose_params: SamplingParams = SamplingParams(max_tokens=400, temperature=0.0)
    params: SamplingParams = SamplingParams(max_tokens=160, temperature=0.0, stop=("\n\n", "\nQ:"))
    subquestions_output: str = "subquestions"
    subanswers_output: str = "subanswers"
    output: str = "answer"

    def reads(self, prompts: PromptLibrary) -> set[str]:
        stage_two = prompts.variables(self.solve_prompt) - _STAGE_TWO_VARIABLES
        own = {self.question_field} if self.append_question else set()
        return prompts.variables(self.decompose_prompt) | stage_two | own

    def writes(self) -> set[str]:
        return {self.subquestions_output, self.subanswers_output, self.output, f"{self.output}_error"}

    async def process(self, record: Record, ctx: Context) -> Record:
        subquestions = await self.decompose(record, ctx)
        previous: list[dict[str, str]] = []
        for subquestion in subquestions:
            reply = await generate(ctx, self.solve_prompt, {**record, "previous": previous, "subquestion": subquestion},
                                   self.params)
            previous.append({"question": subquestion, "answer": reply.text.strip()})
        final = self.answer.extract(previous[-1]["answer"])
        if not final.ok:
            ctx.annotate(extraction_failed=final.error)
        return {self.subquestions_output: subquestions, self.subanswers_output: [p["answer"] for p in previous],
                self.output: final.value, f"{self.output}_error": final.error}

    async def decompose(self, record: Record, ctx: Context) -> list[str]:
        """Stage one: the subquestions, in the order they are to be answered."""
        schema = subquestion_schema(self.max_subquestions, self.max_subquestion_chars)
        result = await generate(ctx, self.decompose_prompt, record, self.decompose_params, Constraint.json_schema(schema))
        subquestions = [s.strip() for s in json.loads(result.text)["subquestions"] if s.strip()]
        if self.append_question:
            question = str(record[self.question_field]).strip()
            if not subquestions or _plain(subquestions[-1]) != _plain(question):
                subquestions.append(question)
        if not subquestions:
            raise ValueError(f"the decomposition gave no subquestions: {result.text!r}")
        ctx.annotate(decomposition=subquestions)
        return subquestions


def _plain(text: str) -> str:
    return " ".join(text.lower().strip(" \"'").split())
