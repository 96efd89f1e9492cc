"""A scripted LLM for the strategy logic (votes, seeds, rounds, stage order) without a server.

Replies are a function of the prompt and the request's seed, exactly as vLLM
seeds the i-th sample of an n-request with ``seed + i``; every request is kept
so tests can count them and read the prompts. The strategies' behaviour on the
real model is tested in the ``test_*_llm.py`` files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentkit.llm.types import Choice, Completion, Constraint, SamplingParams, TokenLogprob, Usage

Reply = Callable[[str, int | None, Constraint | None], str]


class ScriptedLLM:
    def __init__(self, reply: Reply, logprob: Callable[[str], float] = lambda text: -0.5) -> None:
        self.reply = reply
        self.logprob = logprob
        self.requests: list[dict[str, Any]] = []

    async def model(self) -> str:
        return "scripted"

    async def complete(self, prompt: str, params: SamplingParams | None = None,
                       constraint: Constraint | None = None) -> Completion:
        params = params or SamplingParams()
        self.requests.append({"prompt": prompt, "params": params, "constraint": constraint})
        choices = []
        for i in range(params.n):
            text = self.reply(prompt, None if params.seed is None else params.seed + i, constraint)
            logprobs = None
            if params.logprobs is not None:
                logprobs = [TokenLogprob(token=t, logprob=self.logprob(text)) for t in text.split() or [""]]
            choices.append(Choice(index=i, text=text, finish_reason="stop", logprobs=logprobs))
        usage = Usage(prompt_tokens=len(prompt.split()), completion_tokens=sum(len(c.text.split()) for c in choices))
        return Completion(model="scripted", choices=choices, usage=usage)

    async def chat(self, messages: list[dict[str, str]], params: SamplingParams | None = None,
                   constraint: Constraint | None = None) -> Completion:
        return await self.complete("\n".join(m["content"] for m in messages), params, constraint)


@pytest.fixture
def scripted() -> Callable[..., ScriptedLLM]:
    return ScriptedLLM
