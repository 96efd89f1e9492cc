"""Fast tests of parsing and retry logic on recorded responses (in addition to the real-server tests)."""

from __future__ import annotations

import httpx
import pytest

from agentkit.llm.client import AsyncLLMClient, resolve_urls
from agentkit.llm.errors import BadRequest, ContextLengthExceeded, ServerError, ServerUnreachable
from agentkit.llm.parse import parse_chat, parse_completion, parse_prompt_logprobs
from agentkit.llm.types import Constraint, SamplingParams

# Recorded from vLLM 0.32.0 (SmolLM2-135M-Instruct), trimmed.
COMPLETION = {
    "model": "SmolLM2-135M-Instruct",
    "choices": [
        {
            "index": 1,
            "text": " blue",
            "finish_reason": "length",
            "logprobs": {
                "tokens": [" blue"],
                "token_logprobs": [-0.61],
                "top_logprobs": [{" blue": -0.61, " a": -2.3}],
                "text_offset": [0],
            },
        },
        {"index": 0, "text": " clear", "finish_reason": "stop", "logprobs": None},
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 0}},
}
CHAT = {
    "model": "SmolLM2-135M-Instruct",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi"},
            "finish_reason": "stop",
            "logprobs": {"content": [{"token": "Hi", "logprob": -0.2, "top_logprobs": [{"token": "Hi", "logprob": -0.2}]}]},
        }
    ],
    "usage": {"prompt_tokens": 30, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 16}},
}
CONTEXT_ERROR = {
    "error": {
        "message": "This model's maximum context length is 4096 tokens. However, your prompt contains at least "
        "4097 input tokens, which exceeds this limit even without any output tokens.",
        "type": "BadRequestError",
        "code": 400,
    }
}


def test_parse_completion_orders_choices_and_normalizes_logprobs() -> None:
    result = parse_completion(COMPLETION)
    assert result.texts == [" clear", " blue"]
    assert result.choices[1].logprobs is not None
    assert result.choices[1].logprobs[0].top == {" blue": -0.61, " a": -2.3}


def test_parse_chat_same_shape() -> None:
    result = parse_chat(CHAT)
    assert result.text == "Hi" and result.usage.cached_tokens == 16
    assert result.choices[0].logprobs and result.choices[0].logprobs[0].top == {"Hi": -0.2}


def test_prompt_logprobs_follow_token_ids() -> None:
    body = {"choices": [{"prompt_logprobs": [None, {"7": {"logprob": -1.5}, "9": {"logprob": -0.1}}]}]}
    assert parse_prompt_logprobs(body, [3, 7]) == [0.0, -1.5]


def test_constraints_use_structured_outputs_only() -> None:
    for constraint in (
        Constraint.choice(["a"]),
        Constraint.regex("a+"),
        Constraint.json_schema({"type": "object"}),
        Constraint.grammar("root ::= 'a'"),
    ):
        fields = constraint.request_fields()
        assert list(fields) == ["structured_outputs"]
        assert not any(key.startswith("guided_") for key in fields["structured_outputs"])


def test_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKIT_LLM_URL", "http://a:1, http://b:2/v1")
    assert resolve_urls(None) == ["http://a:1/v1", "http://b:2/v1"]
    assert resolve_urls("http://c:3/") == ["http://c:3/v1"]


def client_with(handler: httpx.MockTransport, **kwargs: object) -> AsyncLLMClient:
    return AsyncLLMClient("http://test/v1", model="m", transport=handler, **kwargs)  # type: ignore[arg-type]


async def test_retries_5xx_then_succeeds() -> None:
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"error": {"message": "busy"}}) if len(calls) < 3 else httpx.Response(200, json=COMPLETION)

    result = await client_with(httpx.MockTransport(handle)).complete("x", SamplingParams())
    assert len(calls) == 3 and result.texts == [" clear", " blue"]


async def test_no_retry_on_4xx_and_typed_errors() -> None:
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json=CONTEXT_ERROR)

    with pytest.raises(ContextLengthExceeded) as info:
        await client_with(httpx.MockTransport(handle)).complete("x")
    assert len(calls) == 1 and info.value.max_len == 4096 and info.value.prompt_tokens == 4097

    def bad(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, text="unprocessable: field x")

    with pytest.raises(BadRequest, match="unprocessable: field x"):
        await client_with(httpx.MockTransport(bad)).complete("x")


async def test_retry_budget_bounds_failures() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(ServerUnreachable, match="AGENTKIT_LLM_URL"):
        await client_with(httpx.MockTransport(down), retry_timeout=1.0).complete("x")

    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"message": "engine dead"}})

    with pytest.raises(ServerError, match="engine dead"):
        await client_with(httpx.MockTransport(failing), retry_timeout=1.0).complete("x")
