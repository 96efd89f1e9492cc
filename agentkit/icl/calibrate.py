"""Label scoring and contextual calibration (Zhao et al. 2021, "Calibrate before use").

A label's score is log P(verbalizer | prompt). Reading it costs one request per
prompt when the verbalizer is a single token: one completion with the top-20
next-token log-probabilities gives exactly the number the scoring API would,
and that request can reuse vLLM's prefix cache (scoring requests cannot).
Verbalizers that are several tokens, or fall outside the top 20, are scored
exactly with ``ctx.score`` in one concurrent batch.

Calibration: the model's label distribution for content-free inputs ("N/A",
"", "[MASK]") under the same prompt estimates its bias ``b``; a prediction
``p`` is corrected to ``p / b`` renormalized, which is Zhao et al.'s
``W = diag(b)^-1`` (the argmax is the same with or without their softmax).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

from agentkit.core.context import Context
from agentkit.llm.types import SamplingParams

CONTENT_FREE: tuple[str, ...] = ("N/A", "", "[MASK]")
TOP_LOGPROBS = 20  # vLLM's default --max-logprobs


def softmax(logprobs: Sequence[float]) -> list[float]:
    top = max(logprobs)
    weights = [math.exp(x - top) for x in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def entropy(probs: Sequence[float]) -> float:
    """Shannon entropy in nats."""
    return 0.0 - sum(p * math.log(p) for p in probs if p > 0)


def mean_distribution(rows: Sequence[Sequence[float]]) -> list[float]:
    """The average of several label distributions (the content-free bias estimate)."""
    if not rows:
        raise ValueError("need at least one distribution")
    return [sum(column) / len(rows) for column in zip(*rows, strict=True)]


def calibrate(probs: Sequence[float], bias: Sequence[float]) -> list[float]:
    """``probs / bias``, renormalized."""
    scaled = [p / max(b, 1e-12) for p, b in zip(probs, bias, strict=True)]
    total = sum(scaled)
    return [s / total for s in scaled]


async def label_logprobs(
    ctx: Context, prompts: Sequence[str], continuations: Sequence[str], *, shortcut: bool = True, exact: bool = True
) -> list[list[float]]:
    """log P(continuation | prompt) for every prompt (rows) and continuation (columns).

    With ``shortcut``, single-token continuations are read from one next-token
    request per prompt; everything else goes to ``ctx.score`` in one batch.
    With ``exact=False`` nothing goes to ``ctx.score``: a continuation missing
    from the top 20 gets the 20th log-probability, an upper bound of its own
    (cheaper, approximate for unlikely labels and multi-token verbalizers).
    """
    table: list[list[float | None]] = [[None] * len(continuations) for _ in prompts]
    if shortcut or not exact:
        params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=TOP_LOGPROBS)
        completions = await asyncio.gather(*(ctx.complete(prompt, params) for prompt in prompts))
        for row, completion in zip(table, completions):
            tokens = completion.choices[0].logprobs or []
            top = tokens[0].top if tokens else {}
            for j, continuation in enumerate(continuations):
                row[j] = top.get(continuation, None if exact or not top else min(top.values()))
    missing = [(i, j) for i, row in enumerate(table) for j, value in enumerate(row) if value is None]
    if missing:
        scores = await ctx.score([(prompts[i], continuations[j]) for i, j in missing])
        for (i, j), score in zip(missing, scores):
            table[i][j] = score.logprob
    return [[float(value) for value in row if value is not None] for row in table]
