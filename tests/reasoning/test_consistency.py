"""Self-consistency logic against a scripted LLM: requests, seeds, votes, rounds, failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentkit.core.context import Context
from agentkit.core.pipeline import Pipeline
from agentkit.core.registry import ConfigError, step_from_config
from agentkit.core.step import WiringError
from agentkit.llm.errors import ServerUnreachable, TruncatedOutput
from agentkit.llm.types import Constraint, SamplingParams
from agentkit.prompting.steps import Extract, Generate
from agentkit.reasoning.consistency import Adaptive, SelfConsistency, reseeded
from agentkit.reasoning.cot import ChainOfThought
from agentkit.reasoning.least_to_most import LeastToMost
from agentkit.reasoning.two_phase import TwoPhase

QUESTION = {"question": "Tom has 3 apples and buys 5 more. How many apples does he have?"}
REPLIES = ["So 3 + 5 = 8. The answer is 8.", "The answer is 6.", "He has 8.", "I am not sure.", "8 apples."]


def by_seed(replies: list[str]) -> Callable[[str, int | None, Constraint | None], str]:
    return lambda prompt, seed, constraint: replies[(seed or 0) % len(replies)]


def generate_then_extract() -> Pipeline:
    return Pipeline(steps=[
        Generate(prompt="Q: {{ question }}\nA:", params=SamplingParams(max_tokens=64, temperature=0.0)),
        Extract(kind="number", input="completion"),
    ])


def sc_span(ctx: Context) -> Any:
    return next(s for s in ctx.span.walk() if s.name == "self_consistency")


async def test_generate_inner_draws_all_samples_with_one_request(scripted: Any) -> None:
    llm = scripted(by_seed(REPLIES))
    ctx = Context(llm=llm)
    out = await SelfConsistency(inner=generate_then_extract(), n=5, temperature=0.6).run(QUESTION, ctx)
    assert len(llm.requests) == 1
    params = llm.requests[0]["params"]
    assert (params.n, params.seed, params.temperature, params.logprobs) == (5, 0, 0.6, 0)
    assert out["answer"] == "8" and out["answer_error"] is None
    assert out["vote"]["votes"] == {"8": 3, "6": 1}
    assert out["vote"]["unextractable"] == 1 and out["vote"]["drawn"] == 5
    samples = sc_span(ctx).annotations["samples"]
    assert [s["answer"] for s in samples] == ["8", "6", "8", None, "8"]
    assert samples[3]["error"] == "no number in the output"
    assert [s["fields"]["completion"] for s in samples] == REPLIES
    assert all(s["mean_logprob"] == pytest.approx(-0.5) for s in samples)


async def test_separate_requests_draw_the_same_samples(scripted: Any) -> None:
    llm = scripted(by_seed(REPLIES))
    step = SelfConsistency(inner=generate_then_extract(), n=5, use_n=False)
    out = await step.run(QUESTION, Context(llm=llm))
    assert [(r["params"].n, r["params"].seed) for r in llm.requests] == [(1, i) for i in range(5)]
    assert out["vote"]["votes"] == {"8": 3, "6": 1} and out["answer"] == "8"


async def test_cot_inner_shares_the_reasoning_request_and_follows_up_per_sample(scripted: Any) -> None:
    def reply(prompt: str, seed: int | None, constraint: Constraint | None) -> str:
        return " 8." if prompt.endswith("(arabic numerals) is") else f" Reasoning number {seed}."

    llm = scripted(reply)
    await SelfConsistency(inner=ChainOfThought(), n=3).run(QUESTION, Context(llm=llm))
    first, *follow_ups = llm.requests
    assert first["params"].n == 3 and first["params"].temperature == 0.7
    assert len(follow_ups) == 3
    for i, request in enumerate(sorted(follow_ups, key=lambda r: r["prompt"])):
        assert request["prompt"].startswith(first["prompt"] + f" Reasoning number {i}.")
        assert request["params"].temperature == 0.0 and request["params"].seed is None  # the follow-up stays greedy


async def test_adaptive_stops_after_one_round_when_all_agree(scripted: Any) -> None:
    llm = scripted(lambda prompt, seed, constraint: "The answer is 8.")
    step = SelfConsistency(inner=generate_then_extract(), n=16, adaptive=Adaptive(round_size=4, threshold=0.95))
    out = await step.run(QUESTION, Context(llm=llm))
    assert len(llm.requests) == 1 and llm.requests[0]["params"].n == 4
    assert out["vote"]["drawn"] == 4 and out["vote"]["stopped"] == "confident" and out["vote"]["rounds"] == 1


async def test_adaptive_rounds_draw_a_prefix_of_the_fixed_run(scripted: Any) -> None:
    replies = ["The answer is 8.", "The answer is 6.", "The answer is 7.", "The answer is 6."] * 4
    fixed_llm, adaptive_llm = scripted(by_seed(replies)), scripted(by_seed(replies))
    fixed_ctx, adaptive_ctx = Context(llm=fixed_llm), Context(llm=adaptive_llm)
    fixed = SelfConsistency(inner=generate_then_extract(), n=16)
    await fixed.run(QUESTION, fixed_ctx)
    adaptive = fixed.with_(adaptive=Adaptive(round_size=4, threshold=0.99))
    out = await adaptive.run(QUESTION, adaptive_ctx)
    assert [r["params"].seed for r in adaptive_llm.requests] == [0, 4, 8, 12][: out["vote"]["rounds"]]
    drawn = [s["answer"] for s in sc_span(adaptive_ctx).annotations["samples"]]
    assert drawn == [s["answer"] for s in sc_span(fixed_ctx).annotations["samples"]][: len(drawn)]


async def test_a_failing_sample_counts_as_unanswered(scripted: Any) -> None:
    def reply(prompt: str, seed: int | None, constraint: Constraint | None) -> str:
        if constraint is None:
            return f" Reasoning {seed}."
        if "Reasoning 1." in prompt:  # the follow-up of sample 1 is cut off
            raise TruncatedOutput('"unfinish', 8)
        return '"8"'

    inner = TwoPhase(prompt="Q: {{ question }}\nA:", constraint=Constraint.regex(r'"\d+"'))
    ctx = Context(llm=scripted(reply))
    out = await SelfConsistency(inner=inner, n=3).run(QUESTION, ctx)
    assert out["vote"]["votes"] == {'"8"': 2} and out["vote"]["unextractable"] == 1
    failed = [s for s in sc_span(ctx).annotations["samples"] if s["error"]]
    assert [s["index"] for s in failed] == [1] and failed[0]["error"].startswith("TruncatedOutput")


async def test_an_unreachable_server_is_not_a_bad_sample(scripted: Any) -> None:
    def reply(prompt: str, seed: int | None, constraint: Constraint | None) -> str:
        raise ServerUnreachable(["http://x"], "refused", 1.0)

    inner = TwoPhase(prompt="Q: {{ question }}\nA:", constraint=Constraint.regex(r"\d+"))
    with pytest.raises(ServerUnreachable):
        await SelfConsistency(inner=inner, n=2).run(QUESTION, Context(llm=scripted(reply)))


async def test_a_run_seed_moves_the_sample_seeds(scripted: Any) -> None:
    llm = scripted(by_seed(REPLIES))
    await SelfConsistency(inner=generate_then_extract(), n=2, seed=5).run(QUESTION, Context(llm=llm, seed=3))
    assert llm.requests[0]["params"].seed == 5 + 3 * 10_000


def test_reseeded_samples_main_params_and_keeps_follow_ups_greedy() -> None:
    inner = Pipeline(steps=[
        ChainOfThought(),
        LeastToMost(decompose_prompt="d {{ question }}", solve_prompt="s {{ subquestion }}"),
    ])
    copy = reseeded(inner, 0.9, 42)
    cot, l2m = copy.steps  # type: ignore[attr-defined]
    assert cot.params.seed == 42 and cot.params.temperature == 0.9 and cot.params.logprobs == 0
    assert cot.answer_params.seed is None and cot.answer_params.temperature == 0.0  # greedy: shared, unseeded
    assert cot.answer_params.logprobs == 0
    assert l2m.params.temperature == 0.9 and l2m.params.seed == 42
    assert l2m.decompose_params.temperature == 0.0 and l2m.decompose_params.seed is None
    assert inner.steps[0].params.seed is None  # the original is untouched


def test_inner_must_write_the_voted_field() -> None:
    with pytest.raises(ConfigError, match="does not write 'answer'"):
        step_from_config({"type": "self_consistency", "inner": {"type": "generate", "prompt": "x"}})
    built = step_from_config({"type": "self_consistency", "answer": "completion",
                              "inner": {"type": "generate", "prompt": "{{ question }}"}})
    assert built.to_config()["inner"]["type"] == "generate"


def test_wiring_is_checked_inside() -> None:
    step = SelfConsistency(inner=generate_then_extract())
    assert step.check({"question"}) >= {"answer", "answer_error", "vote"}
    with pytest.raises(WiringError, match="question"):
        step.check({"text"})
