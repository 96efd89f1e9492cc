"""Typed requests and results for vLLM's OpenAI-compatible API.

Whatever endpoint answered (completions or chat, legacy or chat logprobs shape),
results come back as the same small set of pydantic models, so the rest of
agentkit never parses raw JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SamplingParams(BaseModel):
    """Sampling options sent with every generation request.

    ``None`` means "not sent": vLLM then uses the model's generation config.
    Send explicit values when results must be reproducible.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tokens: int | None = 256
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    n: int = 1
    repetition_penalty: float | None = None
    logprobs: int | None = Field(default=None, description="top-k alternatives per token; 0 = only the chosen token")

    def with_(self, **changes: Any) -> SamplingParams:
        return self.model_copy(update=changes)

    def request_fields(self) -> dict[str, Any]:
        """Fields for a completions request (chat converts logprobs itself)."""
        fields = self.model_dump(exclude_none=True, exclude={"logprobs"})
        if self.stop is not None:
            fields["stop"] = list(self.stop)
        return fields


class Constraint(BaseModel):
    """One structured-output constraint, sent as vLLM's ``structured_outputs``.

    vLLM silently ignores the removed ``guided_*`` fields, so this is the only
    spelling agentkit ever sends.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["choice", "regex", "json", "grammar"]
    value: Any

    @classmethod
    def choice(cls, options: list[str] | tuple[str, ...]) -> Constraint:
        return cls(kind="choice", value=tuple(options))

    @classmethod
    def regex(cls, pattern: str) -> Constraint:
        return cls(kind="regex", value=pattern)

    @classmethod
    def json_schema(cls, schema: dict[str, Any] | type[BaseModel]) -> Constraint:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            schema = schema.model_json_schema()
        return cls(kind="json", value=schema)

    @classmethod
    def grammar(cls, ebnf: str) -> Constraint:
        return cls(kind="grammar", value=ebnf)

    @model_validator(mode="before")
    @classmethod
    def _choices_as_tuple(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "choice" and isinstance(data.get("value"), list):
            return {**data, "value": tuple(data["value"])}
        return data

    def request_fields(self) -> dict[str, Any]:
        value = list(self.value) if self.kind == "choice" else self.value
        return {"structured_outputs": {self.kind: value}}

    def accepts(self, text: str) -> bool | None:
        """Whether a finished output satisfies the constraint; None when it cannot be checked here."""
        if self.kind == "choice":
            return text in self.value
        if self.kind == "regex":
            return re.fullmatch(self.value, text) is not None
        if self.kind == "json":
            try:
                json.loads(text)
            except ValueError:
                return False
            return True
        return None


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    top: dict[str, float] = Field(default_factory=dict)


class Choice(BaseModel):
    index: int = 0
    text: str
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] | None = None

    @property
    def mean_logprob(self) -> float | None:
        if not self.logprobs:
            return None
        return sum(t.logprob for t in self.logprobs) / len(self.logprobs)

    @property
    def sum_logprob(self) -> float | None:
        if not self.logprobs:
            return None
        return sum(t.logprob for t in self.logprobs)


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


class Completion(BaseModel):
    """The normalized result of one completions or chat request."""

    model: str
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    base_url: str = ""
    cached: bool = False

    @property
    def text(self) -> str:
        return self.choices[0].text

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.choices]


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class ContinuationScore(BaseModel):
    """log P(continuation | prompt), with the per-token evidence."""

    prompt: str
    continuation: str
    logprob: float
    token_logprobs: list[float]

    @property
    def mean_logprob(self) -> float:
        return self.logprob / max(1, len(self.token_logprobs))


