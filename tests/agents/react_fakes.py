"""A scripted stand-in for the LLM client: replays recorded thoughts and actions (including hostile ones)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentkit.llm.types import Choice, Completion, Constraint, SamplingParams

Reply = str | BaseException


@dataclass
class ScriptedLLM:
    """Thought requests (no constraint) get the next thought, action requests the next action.

    A reply may be an exception to raise (e.g. ``TruncatedOutput``). When a
    script runs out, the last entry repeats. Every request is recorded.
    """

    thoughts: Sequence[Reply] = ("I will act.",)
    actions: Sequence[Reply] = ('{"tool": "finish", "args": {"answer": "done"}}',)
    on_request: Callable[[dict[str, Any]], None] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def model(self) -> str:
        return "scripted"

    async def complete(self, prompt: str, params: SamplingParams, constraint: Constraint | None = None) -> Completion:
        return self._reply({"prompt": prompt, "params": params, "constraint": constraint})

    async def chat(self, messages: list[dict[str, str]], params: SamplingParams,
                   constraint: Constraint | None = None) -> Completion:
        return self._reply({"messages": messages, "params": params, "constraint": constraint})

    def _reply(self, request: dict[str, Any]) -> Completion:
        is_action = request["constraint"] is not None
        script = self.actions if is_action else self.thoughts
        count = sum((r["constraint"] is not None) == is_action for r in self.requests)
        self.requests.append(request)
        if self.on_request:
            self.on_request(request)
        reply = script[min(count, len(script) - 1)]
        if isinstance(reply, BaseException):
            raise reply
        return Completion(model="scripted", choices=[Choice(text=reply, finish_reason="stop")])
