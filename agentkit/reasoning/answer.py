"""Reading a final answer out of free reasoning, and the follow-up request that asks for it.

Kojima et al. (2022) answer in two requests: the reasoning, then a short
request that *continues the same prompt* plus the reasoning with a trigger
such as "Therefore, the answer (arabic numerals) is". The continuation shares
its whole prefix with the first request, so vLLM's prefix cache serves it. On
a chat template the follow-up is the conversation plus the reasoning as the
assistant's turn and the trigger as the next user turn.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from agentkit.core.context import Context
from agentkit.llm.types import Choice, Completion, Constraint, SamplingParams
from agentkit.prompting.answers import Extraction
from agentkit.prompting.steps import Extract, ExtractKind, check_extract_options
from agentkit.prompting.templates import Template

# Kojima et al. 2022, Table 9: the answer trigger matched to the answer's format.
ANSWER_TRIGGERS: dict[str, str] = {
    "number": "Therefore, the answer (arabic numerals) is",
    "yes_no": "Therefore, the answer (Yes or No) is",
    "letter": "Therefore, among A through E, the answer is",
}
DEFAULT_TRIGGER = "Therefore, the answer is"


class AnswerFormat(BaseModel):
    """How to read the task's answer from text: an ``Extract`` kind and its options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ExtractKind = "number"
    labels: tuple[str, ...] | None = None
    pattern: str | None = None
    model: str | None = None  # "module:PydanticModel" for kind=json

    @model_validator(mode="after")
    def _needs(self) -> AnswerFormat:
        check_extract_options(self.kind, self.labels, self.pattern)
        return self

    def _extractor(self) -> Extract:
        return Extract(kind=self.kind, labels=self.labels, pattern=self.pattern, model=self.model)

    def extract(self, text: str) -> Extraction:
        return self._extractor().extract(text)

    @property
    def trigger(self) -> str:
        return ANSWER_TRIGGERS.get(self.kind, DEFAULT_TRIGGER)


class Rendered(BaseModel):
    """A rendered first request: a completion prompt or a list of chat messages."""

    model_config = ConfigDict(frozen=True)

    prompt: str | None = None
    messages: list[dict[str, str]] | None = None

    @classmethod
    def of(cls, template: Template, record: dict[str, Any]) -> Rendered:
        if template.is_chat:
            return cls(messages=template.render_messages(**record))
        return cls(prompt=template.render(**record))

    async def send(self, ctx: Context, params: SamplingParams, constraint: Constraint | None = None) -> Completion:
        if self.messages is not None:
            return await ctx.chat(self.messages, params, constraint)
        assert self.prompt is not None
        return await ctx.complete(self.prompt, params, constraint)

    def followed_by(self, reasoning: str, trigger: str) -> Rendered:
        """The follow-up request: this prompt, the reasoning, then the trigger (same prefix)."""
        if self.messages is not None:
            return Rendered(messages=[
                *self.messages,
                {"role": "assistant", "content": reasoning.strip()},
                {"role": "user", "content": trigger},
            ])
        assert self.prompt is not None
        return Rendered(prompt=f"{self.prompt}{reasoning.rstrip()} {trigger}")


def token_stats(choices: list[Choice]) -> tuple[float, int] | None:
    """(sum of token log-probabilities, token count) over the given choices; None without logprobs."""
    total, count = 0.0, 0
    for choice in choices:
        if choice.logprobs is None:
            return None
        total += sum(t.logprob for t in choice.logprobs)
        count += len(choice.logprobs)
    return total, count
