"""The async client for vLLM's OpenAI-compatible API.

One ``httpx.AsyncClient`` with pooled connections, a semaphore that keeps many
requests in flight (vLLM batches them; concurrency is the main speed lever on a
CPU server), retries with jittered backoff on connection errors, 429 and 5xx,
and requests spread over several servers by least outstanding requests.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import httpx

from agentkit.llm.errors import (
    BadRequest,
    ContextLengthExceeded,
    LLMError,
    ServerError,
    ServerUnreachable,
    TruncatedOutput,
)
from agentkit.llm.parse import parse_chat, parse_completion, parse_prompt_logprobs
from agentkit.llm.types import ChatMessage, Completion, Constraint, ContinuationScore, SamplingParams

DEFAULT_URL = "http://127.0.0.1:8000/v1"
_RETRY_STATUSES = {429, 500, 502, 503, 504}


def resolve_urls(base_url: str | Sequence[str] | None) -> list[str]:
    """Argument first, then AGENTKIT_LLM_URL (comma-separated), then the default."""
    if base_url is None:
        base_url = os.environ.get("AGENTKIT_LLM_URL") or DEFAULT_URL
    urls = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    urls = [u.strip().rstrip("/") for u in urls if u.strip()]
    if not urls:
        raise ValueError("no LLM base URL given")
    return [u if u.endswith("/v1") else u + "/v1" for u in urls]


@dataclass
class _Endpoint:
    url: str
    outstanding: int = 0
    requests: int = 0
    failures: int = 0
    cooldown_until: float = 0.0  # a failing server is tried last until then

    def failed(self) -> None:
        self.failures += 1
        self.cooldown_until = time.monotonic() + min(30.0, 0.5 * 2**self.failures)

    def succeeded(self) -> None:
        self.failures = 0
        self.cooldown_until = 0.0


class AsyncLLMClient:
    """Async access to one or more vLLM servers serving the same model.

    Args:
        base_url: one URL, a comma-separated string or a list (replicas).
        model: the served model name; discovered from ``/v1/models`` when None.
        max_in_flight: requests sent at once over all servers.
        timeout: seconds to wait for one response (generation can be slow).
        retry_timeout: seconds to keep retrying a request after its first
            failure (long enough for an engine restart); a long generation
            does not eat into it.
        transport: an httpx transport to send through (tests, proxies).
    """

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        model: str | None = None,
        api_key: str | None = None,
        *,
        max_in_flight: int = 128,
        timeout: float = 600.0,
        connect_timeout: float = 5.0,
        retry_timeout: float = 180.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls = resolve_urls(base_url)
        self._model = model or os.environ.get("AGENTKIT_LLM_MODEL") or None
        self._api_key = api_key or os.environ.get("AGENTKIT_LLM_API_KEY") or None
        self.max_in_flight = max_in_flight
        self.retry_timeout = retry_timeout
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._endpoints = [_Endpoint(u) for u in self.urls]
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._model_lock: asyncio.Lock | None = None
        self._token_cache: dict[str, list[int]] = {}

    # -- lifecycle ---------------------------------------------------------

    def _ensure_open(self) -> httpx.AsyncClient:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            limits = httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=self.max_in_flight)
            self._http = httpx.AsyncClient(
                timeout=self._timeout, limits=limits, headers=headers, transport=self._transport
            )
            self._slots = asyncio.Semaphore(self.max_in_flight)
            self._model_lock = asyncio.Lock()
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> Self:
        self._ensure_open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- transport ---------------------------------------------------------

    def _pick(self) -> _Endpoint:
        now = time.monotonic()
        return min(self._endpoints, key=lambda e: (e.cooldown_until > now, e.outstanding))

    async def _request(
        self, method: str, path: str, payload: dict[str, Any] | None = None, *, at_root: bool = False
    ) -> tuple[dict[str, Any], str]:
        """Send one request with retries; returns the JSON body and the URL that answered.

        ``path`` is under ``/v1`` unless ``at_root`` (vLLM's ``/tokenize``, ``/health``).
        """
        http = self._ensure_open()
        assert self._slots is not None
        first_failure: float | None = None
        attempt = 0
        async with self._slots:
            while True:
                endpoint = self._pick()
                endpoint.outstanding += 1
                endpoint.requests += 1
                try:
                    base = endpoint.url.removesuffix("/v1") if at_root else endpoint.url
                    response = await http.request(method, base + path, json=payload)
                    failure = None
                except httpx.TransportError as exc:
                    response, failure = None, f"{type(exc).__name__}: {exc}"
                finally:
                    endpoint.outstanding -= 1
                if response is not None:
                    if response.status_code < 400:
                        endpoint.succeeded()
                        return response.json(), endpoint.url
                    if response.status_code not in _RETRY_STATUSES:
                        raise _client_error(response)
                    failure = f"HTTP {response.status_code}: {_server_message(response)}"
                endpoint.failed()
                attempt += 1
                if first_failure is None:
                    first_failure = time.monotonic()
                waited = time.monotonic() - first_failure
                delay = min(8.0, 0.25 * 2**attempt) * (0.5 + random.random())
                if waited + delay > self.retry_timeout:
                    if response is not None:
                        raise ServerError(response.status_code, _server_message(response))
                    raise ServerUnreachable([e.url for e in self._endpoints], failure or "", waited)
                await asyncio.sleep(delay)

    async def model(self) -> str:
        """The served model's name, asked of the server once when not configured."""
        if self._model is None:
            self._ensure_open()
            assert self._model_lock is not None
            async with self._model_lock:
                if self._model is None:
                    body, _ = await self._request("GET", "/models")
                    self._model = body["data"][0]["id"]
        return self._model

    # -- generation --------------------------------------------------------

    async def complete(
        self,
        prompt: str | list[int],
        params: SamplingParams | None = None,
        constraint: Constraint | None = None,
        **extra: Any,
    ) -> Completion:
        """A ``/v1/completions`` request; ``params.n`` samples share one prefill."""
        params = params or SamplingParams()
        payload: dict[str, Any] = {"model": await self.model(), "prompt": prompt, **params.request_fields()}
        if params.logprobs is not None:
            payload["logprobs"] = params.logprobs
        if constraint is not None:
            payload.update(constraint.request_fields())
        payload.update(extra)
        return await self._generate("/completions", payload, parse_completion, params, constraint)

    async def chat(
        self,
        messages: Sequence[ChatMessage | dict[str, str]],
        params: SamplingParams | None = None,
        constraint: Constraint | None = None,
        **extra: Any,
    ) -> Completion:
        """A ``/v1/chat/completions`` request with the model's chat template."""
        params = params or SamplingParams()
        msgs = [m.model_dump() if isinstance(m, ChatMessage) else dict(m) for m in messages]
        payload: dict[str, Any] = {"model": await self.model(), "messages": msgs, **params.request_fields()}
        if params.logprobs is not None:
            payload["logprobs"] = True
            payload["top_logprobs"] = params.logprobs
        if constraint is not None:
            payload.update(constraint.request_fields())
        payload.update(extra)
        return await self._generate("/chat/completions", payload, parse_chat, params, constraint)

    async def _generate(self, path, payload, parse, params: SamplingParams, constraint: Constraint | None) -> Completion:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        body, url = await self._request("POST", path, payload)
        result: Completion = parse(body)
        result.latency_s = time.perf_counter() - started
        result.base_url = url
        if constraint is not None:
            for choice in result.choices:
                # Cut off by max_tokens; a choice or regex can be complete without its end token.
                if choice.finish_reason == "length" and not constraint.accepts(choice.text):
                    raise TruncatedOutput(choice.text, params.max_tokens)
        return result

    # -- tokens and scoring ------------------------------------------------

    async def tokenize(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids from the server's own tokenizer (``/tokenize``)."""
        key = f"{int(add_special_tokens)}{text}"
        if key not in self._token_cache:
            body, _ = await self._request(
                "POST",
                "/tokenize",
                {"model": await self.model(), "prompt": text, "add_special_tokens": add_special_tokens},
                at_root=True,
            )
            if len(self._token_cache) > 10_000:
                self._token_cache.clear()
            self._token_cache[key] = body["tokens"]
        return self._token_cache[key]

    async def score(self, prompt: str, continuation: str) -> ContinuationScore:
        """log P(continuation | prompt) from the server's prompt logprobs.

        Prompt and continuation are tokenized apart and joined as ids, so the
        scored tokens are exactly the continuation's, whatever the tokenizer
        would merge at the boundary.
        """
        prefix_ids, cont_ids = await asyncio.gather(
            self.tokenize(prompt), self.tokenize(continuation, add_special_tokens=False)
        )
        if not cont_ids:
            raise ValueError("cannot score an empty continuation")
        payload = {
            "model": await self.model(),
            "prompt": prefix_ids + cont_ids,
            "max_tokens": 1,
            "temperature": 0.0,
            "prompt_logprobs": 0,
        }
        body, _ = await self._request("POST", "/completions", payload)
        token_logprobs = parse_prompt_logprobs(body, prefix_ids + cont_ids)[len(prefix_ids) :]
        return ContinuationScore(
            prompt=prompt, continuation=continuation, logprob=sum(token_logprobs), token_logprobs=token_logprobs
        )

    async def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[ContinuationScore]:
        """Scores many (prompt, continuation) pairs concurrently, in order."""
        return list(await asyncio.gather(*(self.score(p, c) for p, c in pairs)))


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:2000] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)
        return str(body.get("message") or body.get("detail") or error)
    return str(body)


_MAX_LEN = re.compile(r"maximum context length (?:is )?(\d+)")
_REQUESTED = re.compile(r"(?:requested|contains(?: at least)?|request has) (\d+)")


def _client_error(response: httpx.Response) -> LLMError:
    message = _server_message(response)
    max_len = _MAX_LEN.search(message)
    if max_len:
        requested = _REQUESTED.search(message)
        return ContextLengthExceeded(
            response.status_code, message, int(requested.group(1)) if requested else None, int(max_len.group(1))
        )
    return BadRequest(response.status_code, message)
