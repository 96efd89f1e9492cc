"""The client against the real embedded vLLM server: every option must really take effect."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import jsonschema
import pytest
from pydantic import BaseModel

from agentkit.llm.client import AsyncLLMClient
from agentkit.llm.errors import BadRequest, ContextLengthExceeded, TruncatedOutput
from agentkit.llm.sync import LLMClient
from agentkit.llm.types import Constraint, SamplingParams

pytestmark = pytest.mark.llm


async def test_n_returns_n_choices(client: AsyncLLMClient) -> None:
    result = await client.complete("Once upon a time", SamplingParams(n=5, max_tokens=8, temperature=1.0))
    assert len(result.choices) == 5
    assert [c.index for c in result.choices] == [0, 1, 2, 3, 4]
    assert len(set(result.texts)) > 1  # sampled, not copies


async def test_same_seed_same_text(client: AsyncLLMClient) -> None:
    params = SamplingParams(max_tokens=24, temperature=0.8, seed=1234)
    first, second = await asyncio.gather(
        client.complete("Write a sentence about the sea:", params),
        client.complete("Write a sentence about the sea:", params),
    )
    assert first.text == second.text
    others = await client.complete("Write a sentence about the sea:", params.with_(seed=99, n=4))
    assert any(t != first.text for t in others.texts)


async def test_sampling_options_take_effect(client: AsyncLLMClient) -> None:
    stopped = await client.complete("1, 2, 3, 4,", SamplingParams(max_tokens=30, temperature=0.0, stop=(" 7",)))
    assert " 7" not in stopped.text and stopped.choices[0].finish_reason == "stop"
    short = await client.complete("1, 2, 3, 4,", SamplingParams(max_tokens=3, temperature=0.0))
    assert short.usage.completion_tokens == 3 and short.choices[0].finish_reason == "length"
    greedy = await client.complete("The sky is", SamplingParams(max_tokens=12, temperature=1.5, top_k=1, n=3))
    assert len(set(greedy.texts)) == 1  # top_k=1 is greedy whatever the temperature


async def test_choice_constraint_over_20_samples(client: AsyncLLMClient) -> None:
    options = ["positive", "negative", "neutral"]
    result = await client.complete(
        "Review: I loved it.\nSentiment:",
        SamplingParams(n=20, temperature=1.0, max_tokens=5),
        Constraint.choice(options),
    )
    assert len(result.choices) == 20
    assert {c.text for c in result.choices} <= set(options)


async def test_regex_constraint(client: AsyncLLMClient) -> None:
    result = await client.complete(
        "Give a date:", SamplingParams(n=5, temperature=1.0, max_tokens=20), Constraint.regex(r"\d{4}-\d{2}-\d{2}")
    )
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) for t in result.texts)


async def test_grammar_constraint(client: AsyncLLMClient) -> None:
    grammar = 'root ::= ("yes" | "no") " because " [a-z ]+ "."'
    result = await client.complete(
        "Is water wet? Answer:", SamplingParams(n=3, temperature=0.7, max_tokens=40, seed=1), Constraint.grammar(grammar)
    )
    for text in result.texts:
        assert re.fullmatch(r"(yes|no) because [a-z ]+\.", text), text


class City(BaseModel):
    name: str
    population: int
    coastal: bool


async def test_json_schema_constraint_validates(client: AsyncLLMClient) -> None:
    schema = City.model_json_schema()
    chat = await client.chat(
        [{"role": "user", "content": "Describe a city as JSON with name, population and coastal."}],
        SamplingParams(n=5, temperature=0.7, max_tokens=120, seed=1),
        Constraint.json_schema(City),
    )
    for text in chat.texts:
        jsonschema.validate(json.loads(text), schema)
        City.model_validate_json(text)


async def test_truncated_structured_output_raises(client: AsyncLLMClient) -> None:
    with pytest.raises(TruncatedOutput):
        await client.chat(
            [{"role": "user", "content": "Describe a city as JSON."}],
            SamplingParams(max_tokens=3, temperature=0.0),
            Constraint.json_schema(City),
        )


async def test_logprobs_completions_and_chat(client: AsyncLLMClient) -> None:
    completion = await client.complete("The sky is", SamplingParams(max_tokens=5, temperature=0.0, logprobs=3))
    chat = await client.chat(
        [{"role": "user", "content": "Say hi."}], SamplingParams(max_tokens=5, temperature=0.0, logprobs=3)
    )
    for result in (completion, chat):
        tokens = result.choices[0].logprobs
        assert tokens and len(tokens) == result.usage.completion_tokens
        for token in tokens:
            assert token.logprob <= 0
            assert 1 <= len(token.top) <= 4 and all(v <= 0 for v in token.top.values())


async def test_scoring_prefers_paris(client: AsyncLLMClient) -> None:
    paris, berlin = await client.score_many(
        [("The capital of France is", " Paris"), ("The capital of France is", " Berlin")]
    )
    assert paris.logprob > berlin.logprob
    assert paris.logprob <= 0 and len(paris.token_logprobs) >= 1


async def test_context_length_error_has_numbers(client: AsyncLLMClient) -> None:
    with pytest.raises(ContextLengthExceeded) as info:
        await client.complete("hello " * 5000, SamplingParams(max_tokens=10))
    assert info.value.max_len == 4096
    assert info.value.prompt_tokens is not None and info.value.prompt_tokens > 4096
    assert "4096" in str(info.value)


async def test_bad_request_carries_server_message(client: AsyncLLMClient) -> None:
    with pytest.raises(BadRequest) as info:
        await client.complete("hi", SamplingParams(max_tokens=5, temperature=-1.0))
    assert info.value.status == 400
    assert "temperature" in info.value.message


async def test_cached_tokens_reported(client: AsyncLLMClient) -> None:
    prefix = "You are a meticulous assistant. " * 40
    params = SamplingParams(max_tokens=2, temperature=0.0)
    await client.complete(prefix + "First question?", params)
    second = await client.complete(prefix + "Second question?", params)
    assert second.usage.cached_tokens > 0


async def test_tokenize_and_model_discovery(llm_url: str) -> None:
    async with AsyncLLMClient(llm_url, model=None) as llm:
        assert await llm.model() == "SmolLM2-135M-Instruct"
        ids = await llm.tokenize("The capital of France is")
        assert len(ids) == 5 and all(isinstance(i, int) for i in ids)


async def test_seeded_sampling_under_load_keeps_server_alive(client: AsyncLLMClient, llm_url: str) -> None:
    """VLLM.md pitfall 3: 32 concurrent seeded n=8 requests killed the CPU engine with chunked prefill."""
    requests = [
        client.complete(f"Question {i}: what is {i} plus {i}?", SamplingParams(n=8, seed=i, temperature=0.8, max_tokens=16))
        for i in range(32)
    ]
    results = await asyncio.gather(*requests)
    assert all(len(r.choices) == 8 for r in results)
    async with httpx.AsyncClient() as http:
        assert (await http.get(llm_url.removesuffix("/v1") + "/health")).status_code == 200


async def test_requests_spread_over_replicas(llm_url: str) -> None:
    """Two URLs of the same server stand in for two replicas; both get work."""
    replica = llm_url.replace("127.0.0.1", "localhost")
    async with AsyncLLMClient([llm_url, replica]) as llm:
        await asyncio.gather(*(llm.complete(f"Count to {i}:", SamplingParams(max_tokens=8)) for i in range(16)))
        assert all(e.requests > 0 for e in llm._endpoints), [e.requests for e in llm._endpoints]


async def test_dead_replica_is_routed_around(llm_url: str) -> None:
    async with AsyncLLMClient(["http://127.0.0.1:9/v1", llm_url], retry_timeout=30) as llm:
        results = await asyncio.gather(*(llm.complete("Hi", SamplingParams(max_tokens=4)) for _ in range(8)))
    assert all(r.base_url == llm_url.rstrip("/") for r in results)


def test_sync_facade(llm_url: str) -> None:
    with LLMClient(llm_url) as llm:
        result = llm.complete("The capital of France is", SamplingParams(max_tokens=4, temperature=0.0))
        assert "Paris" in result.text
        assert llm.score("The capital of France is", " Paris").logprob > llm.score("The capital of France is", " Rome").logprob
