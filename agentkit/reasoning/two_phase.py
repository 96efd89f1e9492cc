"""Two-phase answering: reason freely, then force the final answer into a constraint.

Constrained decoding during the reasoning itself hurts it (the model cannot
think inside a JSON string or a choice list), and free text needs a parser that
can fail. So the first request is unconstrained, and a short follow-up request,
the same prompt plus the reasoning plus a trigger, is decoded under the
constraint: a choice list, a regex or a JSON schema. Its answer always matches.
"""

from __future__ import annotations

import json
from typing import Any

from agentkit.core.context import Context
from agentkit.core.registry import register
from agentkit.core.step import Record, Step
from agentkit.llm.types import Constraint, SamplingParams
from agentkit.prompting.templates import PromptLibrary
from agentkit.reasoning.answer import Rendered

DEFAULT_TRIGGER = "Therefore, the final answer is"


@register("two_phase")
class TwoPhase(Step):
    """Reason with ``prompt``; then answer under ``constraint`` (JSON answers are parsed).

    Works with completion and chat templates: a chat follow-up adds the
    reasoning as the assistant's turn and the trigger as the next user turn.
    """

    prompt: str
    constraint: Constraint
    trigger: str = DEFAULT_TRIGGER
    params: SamplingParams = SamplingParams(max_tokens=256, temperature=0.0)
    answer_params: SamplingParams = SamplingParams(max_tokens=64, temperature=0.0)
    reasoning_output: str = "reasoning"
    output: str = "answer"

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return prompts.variables(self.prompt)

    def writes(self) -> set[str]:
        return {self.reasoning_output, self.output}

    async def process(self, record: Record, ctx: Context) -> Record:
        rendered = Rendered.of(ctx.prompts.get(self.prompt), record)
        reasoning = (await rendered.send(ctx, self.params)).text
        answer = await rendered.followed_by(reasoning, self.trigger).send(ctx, self.answer_params, self.constraint)
        return {self.reasoning_output: reasoning.strip(), self.output: self.parse(answer.text)}

    def parse(self, text: str) -> Any:
        """The constrained text as the answer: a JSON value for a schema, else the text itself."""
        return json.loads(text) if self.constraint.kind == "json" else text
