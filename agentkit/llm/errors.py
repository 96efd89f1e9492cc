"""Typed errors: every failure says what happened and how to fix it."""

from __future__ import annotations


class LLMError(Exception):
    """Base class of every error raised by the LLM client."""


class ServerUnreachable(LLMError):
    """No server answered within the retry budget."""

    def __init__(self, urls: list[str], detail: str, waited_s: float) -> None:
        self.urls = urls
        self.detail = detail
        super().__init__(
            f"no vLLM server reachable at {', '.join(urls)} after {waited_s:.1f} s ({detail}). "
            "Start one with `agentkit serve`, or point AGENTKIT_LLM_URL at a running server."
        )


class BadRequest(LLMError):
    """The server rejected the request (4xx); carries the server's own message."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"vLLM rejected the request (HTTP {status}): {message}")


class ContextLengthExceeded(BadRequest):
    """The prompt plus max_tokens does not fit the model's context."""

    def __init__(self, status: int, message: str, prompt_tokens: int | None, max_len: int | None) -> None:
        self.prompt_tokens = prompt_tokens
        self.max_len = max_len
        super().__init__(status, message)
        self.args = (
            (
                f"prompt too long for the model's context: {prompt_tokens} tokens requested, "
                f"maximum context length {max_len}. Shorten the prompt (fewer demonstrations or passages) "
                f"or lower max_tokens. Server said: {message}"
            ),
        )


class ServerError(LLMError):
    """The server kept failing (5xx) past the retry budget."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"vLLM server error (HTTP {status}) after retries: {message}")


class TruncatedOutput(LLMError):
    """A constrained output was cut off by max_tokens, so it may not validate."""

    def __init__(self, text: str, max_tokens: int | None) -> None:
        self.text = text
        super().__init__(
            f"structured output cut off at max_tokens={max_tokens} (finish_reason 'length'); "
            f"raise max_tokens. Partial output: {text[:200]!r}"
        )
