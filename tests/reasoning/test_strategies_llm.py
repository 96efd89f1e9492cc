"""Each strategy on the real embedded vLLM server (small budgets: the server is a 135M model on 2 cores)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import jsonschema
import pytest

from agentkit.core.batch import run_many
from agentkit.core.context import Context
from agentkit.evals.loaders import load_dataset
from agentkit.llm.client import AsyncLLMClient
from agentkit.llm.types import Constraint, SamplingParams
from agentkit.reasoning.answer import AnswerFormat
from agentkit.reasoning.consistency import SelfConsistency
from agentkit.reasoning.cot import ChainOfThought
from agentkit.reasoning.least_to_most import LeastToMost
from agentkit.reasoning.two_phase import TwoPhase

# The shared CPU server can be queued behind other work for minutes: allow for it.
pytestmark = [pytest.mark.llm, pytest.mark.timeout(1800)]

DEMOS = [{"question": r["question"], "rationale": " ".join(r["rationale"].split()), "answer": r["answer"]}
         for r in load_dataset("gsm8k", "train", limit=2)]


def questions(name: str, n: int) -> list[dict[str, Any]]:
    return [{"question": r["question"]} for r in load_dataset(name, "dev", limit=n)]


async def test_zero_shot_cot_answers_by_continuing_its_own_prompt(client: AsyncLLMClient) -> None:
    ctx = Context(llm=client)
    step = ChainOfThought(params=SamplingParams(max_tokens=64, temperature=0.0, stop=("\nQ:",)))
    out = await step.run(questions("gsm8k", 1)[0], ctx)
    reasoning, follow_up = ctx.span.find("llm")
    generated = reasoning.outputs["choices"][0]["text"]
    assert follow_up.inputs["prompt"] == (reasoning.inputs["prompt"] + generated.rstrip()
                                          + " Therefore, the answer (arabic numerals) is")
    assert (out["answer"] is None) != (out["answer_error"] is None)
    if out["answer"] is not None:
        assert re.fullmatch(r"-?\d+(\.\d+)?", out["answer"])


async def test_self_consistency_sends_one_request_per_question(client: AsyncLLMClient) -> None:
    inner = ChainOfThought(demos=DEMOS, trigger=None, follow_up=False,
                           params=SamplingParams(max_tokens=48, stop=("\nQ:",)))
    batch = await run_many(SelfConsistency(inner=inner, n=4), questions("gsm8k", 2), llm=client, concurrency=2)
    for item in batch.results:
        assert item.ok, item.error
        (request,) = item.trace.find("llm")  # type: ignore[union-attr]
        assert request.annotations["params"]["n"] == 4
        assert len(request.outputs["choices"]) == 4
        vote = item.output["vote"]  # type: ignore[index]
        assert vote["drawn"] == 4 and sum(vote["votes"].values()) + vote["unextractable"] == 4
        (sc,) = [s for s in item.trace.find("step") if s.name == "self_consistency"]  # type: ignore[union-attr]
        samples = sc.annotations["samples"]
        assert [s["index"] for s in samples] == [0, 1, 2, 3]
        assert all(s["fields"]["reasoning"] for s in samples)
        assert all((s["answer"] is None) != (s["error"] is None) for s in samples)
        assert all(s["mean_logprob"] is not None and s["mean_logprob"] < 0 for s in samples)
        if item.output["answer"] is not None:  # type: ignore[index]
            assert vote["votes"][item.output["answer"]] == max(vote["votes"].values())  # type: ignore[index]


async def test_self_consistency_runs_a_multi_request_inner_step_n_times_with_seeds(client: AsyncLLMClient) -> None:
    inner = TwoPhase(prompt="Q: {{ question }}\nA: Let's think step by step.", constraint=Constraint.choice(["yes", "no"]),
                     trigger="Therefore, the answer (yes or no) is", params=SamplingParams(max_tokens=40))
    ctx = Context(llm=client)
    out = await SelfConsistency(inner=inner, n=3, seed=7).run(questions("strategyqa", 1)[0], ctx)
    runs = ctx.span.find("sample")
    assert [r.inputs["seed"] for r in runs] == [7, 8, 9]
    for run in runs:
        reasoning, answer = run.find("llm")
        assert reasoning.annotations["params"]["seed"] == run.inputs["seed"]
        assert reasoning.annotations["params"]["temperature"] == 0.7
        assert answer.outputs["choices"][0]["text"] in ("yes", "no")
    assert out["vote"]["drawn"] == 3 and out["vote"]["unextractable"] == 0 and out["answer"] in ("yes", "no")


async def test_two_phase_answer_always_matches_the_constraint(client: AsyncLLMClient) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}, "unit": {"type": "string", "maxLength": 12}},
              "required": ["answer", "unit"], "additionalProperties": False}
    kinds = {
        "choice": Constraint.choice(["small", "medium", "large"]),
        "regex": Constraint.regex(r"-?\d{1,6}"),
        "json": Constraint.json_schema(schema),
    }
    question = questions("gsm8k", 1)[0]
    sampled = SamplingParams(max_tokens=32, temperature=1.0, seed=3)  # free, sampled reasoning; greedy answer

    async def answer(constraint: Constraint) -> Any:
        step = TwoPhase(prompt="Q: {{ question }}\nA:", constraint=constraint, params=sampled)
        return (await step.run(question, Context(llm=client)))["answer"]

    choice, regex, parsed = await asyncio.gather(*(answer(c) for c in kinds.values()))
    assert choice in ("small", "medium", "large")
    assert re.fullmatch(r"-?\d{1,6}", regex)
    jsonschema.validate(parsed, schema)


async def test_least_to_most_stage_two_prompts_carry_the_earlier_answers(client: AsyncLLMClient) -> None:
    step = LeastToMost(decompose_prompt="reasoning/l2m_coin_flip_decompose.j2",
                       solve_prompt="reasoning/l2m_coin_flip_solve.j2", answer=AnswerFormat(kind="yes_no"),
                       max_subquestions=4, max_subquestion_chars=160,
                       decompose_params=SamplingParams(max_tokens=300, temperature=0.0),
                       params=SamplingParams(max_tokens=40, temperature=0.0, stop=("\n\n", "\nQ:")))
    ctx = Context(llm=client)
    out = await step.run(questions("coin_flip", 1)[0], ctx)
    decompose, *solves = ctx.span.find("llm")
    assert decompose.inputs["constraint"]["kind"] == "json"
    assert json.loads(decompose.outputs["choices"][0]["text"])["subquestions"]  # the constrained list parses
    assert len(out["subquestions"]) >= 2 and len(solves) == len(out["subquestions"])
    for k, solve in enumerate(solves):
        prompt = solve.inputs["prompt"]
        for question, answer in zip(out["subquestions"][:k], out["subanswers"][:k]):
            assert f"Q: {question}\nA: {answer}\n" in prompt
        assert prompt.endswith(f"Q: {out['subquestions'][k]}\nA:")
    assert out["answer"] in ("yes", "no") or out["answer_error"]


async def test_auto_cot_builds_demonstrations_once_and_reloads_them(client: AsyncLLMClient, tmp_path: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from agentkit.reasoning import autocot

    monkeypatch.setattr(autocot, "_BUILT", {})
    cot = ChainOfThought(answer=AnswerFormat(kind="yes_no"),
                         params=SamplingParams(max_tokens=96, temperature=0.0, stop=("\n\n", "\nQ:")))
    step = autocot.AutoCoT(pool=autocot.QuestionPool(dataset="coin_flip", split="train", limit=12), k=2,
                           candidates_per_cluster=12, batch=12, cot=cot, cache_dir=str(tmp_path))
    ctx = Context(llm=client)
    demos = (await step.run({}, ctx))["demos"]
    pool = step.pool.load()
    assert 1 <= len(demos) <= 2 and all(d["question"] in pool for d in demos)
    assert all(d["rationale"].startswith("Let's think step by step.") and d["answer"] in ("yes", "no") for d in demos)
    (saved,) = tmp_path.glob("*.json")
    record = json.loads(saved.read_text())
    assert record["settings"]["model"] == await client.model() and sum(c["size"] for c in record["clusters"]) == 12
    assert ctx.span.find("llm")  # built with the model
    monkeypatch.setattr(autocot, "_BUILT", {})
    again = Context(llm=client)
    assert (await step.run({}, again))["demos"] == demos and not again.span.find("llm")  # loaded from disk
