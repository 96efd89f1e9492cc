"""Parsing of vLLM response bodies into agentkit's types.

Completions return logprobs in the legacy shape (``tokens``, ``token_logprobs``,
``top_logprobs``); chat returns ``{"content": [...]}``. Both become
``list[TokenLogprob]`` here, so nothing downstream knows which endpoint answered.
"""

from __future__ import annotations

from typing import Any

from agentkit.llm.types import Choice, Completion, TokenLogprob, Usage


def parse_usage(body: dict[str, Any]) -> Usage:
    usage = body.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        cached_tokens=details.get("cached_tokens") or 0,
    )


def _legacy_logprobs(raw: dict[str, Any] | None) -> list[TokenLogprob] | None:
    if not raw or raw.get("tokens") is None:
        return None
    tops = raw.get("top_logprobs") or [None] * len(raw["tokens"])
    return [
        TokenLogprob(token=token, logprob=_finite(lp), top={k: _finite(v) for k, v in (top or {}).items()})
        for token, lp, top in zip(raw["tokens"], raw["token_logprobs"], tops, strict=True)
    ]


def _chat_logprobs(raw: dict[str, Any] | None) -> list[TokenLogprob] | None:
    if not raw or raw.get("content") is None:
        return None
    return [
        TokenLogprob(
            token=entry["token"],
            logprob=_finite(entry["logprob"]),
            top={alt["token"]: _finite(alt["logprob"]) for alt in entry.get("top_logprobs") or []},
        )
        for entry in raw["content"]
    ]


def _finite(value: float | None) -> float:
    """vLLM reports -inf as a very large negative float or null; keep a float."""
    return float("-inf") if value is None else float(value)


def parse_completion(body: dict[str, Any]) -> Completion:
    choices = [
        Choice(
            index=c.get("index", i),
            text=c.get("text") or "",
            finish_reason=c.get("finish_reason"),
            logprobs=_legacy_logprobs(c.get("logprobs")),
        )
        for i, c in enumerate(body["choices"])
    ]
    choices.sort(key=lambda c: c.index)
    return Completion(model=body.get("model", ""), choices=choices, usage=parse_usage(body))


def parse_chat(body: dict[str, Any]) -> Completion:
    choices = [
        Choice(
            index=c.get("index", i),
            text=(c.get("message") or {}).get("content") or "",
            finish_reason=c.get("finish_reason"),
            logprobs=_chat_logprobs(c.get("logprobs")),
        )
        for i, c in enumerate(body["choices"])
    ]
    choices.sort(key=lambda c: c.index)
    return Completion(model=body.get("model", ""), choices=choices, usage=parse_usage(body))


def parse_prompt_logprobs(body: dict[str, Any], prompt_ids: list[int]) -> list[float]:
    """Log-probability of each prompt token (the first, with no context, is 0.0).

    vLLM returns ``prompt_logprobs`` as one dict per prompt token, keyed by token
    id, holding the actual token plus the top-k alternatives.
    """
    entries = body["choices"][0].get("prompt_logprobs")
    if entries is None:
        raise ValueError("the server returned no prompt_logprobs; is this a vLLM server?")
    if len(entries) != len(prompt_ids):
        raise ValueError(f"prompt_logprobs has {len(entries)} entries for {len(prompt_ids)} prompt tokens")
    values = [0.0]
    for token_id, entry in zip(prompt_ids[1:], entries[1:], strict=True):
        values.append(_finite(entry[str(token_id)]["logprob"]))
    return values
