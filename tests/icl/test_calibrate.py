from __future__ import annotations

import math

import pytest

from agentkit.core.context import Context
from agentkit.icl.calibrate import calibrate, entropy, label_logprobs, mean_distribution, softmax
from agentkit.llm.client import AsyncLLMClient

PROMPT = "Review: a gorgeous, witty, moving film\nSentiment: positive\n\nReview: dull, flat and far too long\nSentiment:"


def test_softmax_and_entropy() -> None:
    probs = softmax([math.log(0.2), math.log(0.6), math.log(0.2)])
    assert probs == pytest.approx([0.2, 0.6, 0.2])
    assert softmax([-1000.0, -1000.0]) == pytest.approx([0.5, 0.5])  # no underflow
    assert entropy([0.5, 0.5]) == pytest.approx(math.log(2))
    assert entropy([1.0, 0.0]) == 0.0


def test_calibration_removes_the_content_free_bias() -> None:
    bias = mean_distribution([[0.9, 0.1], [0.7, 0.3]])
    assert bias == pytest.approx([0.8, 0.2])
    assert calibrate(bias, bias) == pytest.approx([0.5, 0.5])  # a content-free input becomes uniform
    corrected = calibrate([0.7, 0.3], bias)  # the raw argmax is the biased label ...
    assert corrected[1] > corrected[0]  # ... calibrated, the other label wins
    assert sum(corrected) == pytest.approx(1.0)
    assert calibrate([0.3, 0.7], [0.5, 0.5]) == pytest.approx([0.3, 0.7])  # no bias, no change


@pytest.mark.llm
async def test_next_token_shortcut_equals_exact_scoring(client: AsyncLLMClient) -> None:
    continuations = [" negative", " positive", " sci/tech"]  # the last is three tokens
    ctx = Context(llm=client)
    fast = await label_logprobs(ctx, [PROMPT], continuations)
    exact = await label_logprobs(Context(llm=client), [PROMPT], continuations, shortcut=False)
    assert fast[0] == pytest.approx(exact[0], abs=1e-3)
    assert fast[0][0] > fast[0][1]  # the dull review reads as negative
    calls = [s.name for s in ctx.span.walk() if s.kind == "llm"]
    assert calls == ["completions", "score"]  # one next-token request; only the multi-token label is scored
    assert ctx.span.find("llm")[1].inputs["pairs"] == 1


@pytest.mark.llm
async def test_inexact_scoring_bounds_labels_outside_the_top_20(client: AsyncLLMClient) -> None:
    continuations = [" negative", " positive", " sci/tech"]
    ctx = Context(llm=client)
    (bounded,) = await label_logprobs(ctx, [PROMPT], continuations, exact=False)
    (exact,) = await label_logprobs(Context(llm=client), [PROMPT], continuations)
    assert [s.name for s in ctx.span.walk() if s.kind == "llm"] == ["completions"]  # one request, no scoring
    assert bounded[:2] == pytest.approx(exact[:2], abs=1e-3)  # single tokens in the top 20: the same numbers
    assert bounded[2] >= exact[2]  # outside the top 20: the 20th log-probability, an upper bound
