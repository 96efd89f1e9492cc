"""A synchronous facade over ``AsyncLLMClient`` for scripts and the REPL.

The async client lives on a private event loop in a background thread, so its
connection pool and in-flight limit survive across calls (``asyncio.run`` per
call would rebuild both every time).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, Self, TypeVar

from agentkit.llm.client import AsyncLLMClient
from agentkit.llm.types import ChatMessage, Completion, Constraint, ContinuationScore, SamplingParams

T = TypeVar("T")


class LLMClient:
    """Blocking methods with the same names and arguments as ``AsyncLLMClient``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="agentkit-llm", daemon=True)
        self._thread.start()
        self.aio = AsyncLLMClient(*args, **kwargs)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def complete(
        self, prompt: str | list[int], params: SamplingParams | None = None, constraint: Constraint | None = None
    ) -> Completion:
        return self._run(self.aio.complete(prompt, params, constraint))

    def chat(
        self,
        messages: Sequence[ChatMessage | dict[str, str]],
        params: SamplingParams | None = None,
        constraint: Constraint | None = None,
    ) -> Completion:
        return self._run(self.aio.chat(messages, params, constraint))

    def score(self, prompt: str, continuation: str) -> ContinuationScore:
        return self._run(self.aio.score(prompt, continuation))

    def tokenize(self, text: str) -> list[int]:
        return self._run(self.aio.tokenize(text))

    def model(self) -> str:
        return self._run(self.aio.model())

    def close(self) -> None:
        if self._loop.is_running():
            self._run(self.aio.aclose())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
