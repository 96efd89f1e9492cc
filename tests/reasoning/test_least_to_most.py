"""Least-to-most against a scripted LLM: the decomposition request, stage order, prompts, final answer."""

from __future__ import annotations

import json
from typing import Any

from agentkit.core.context import Context
from agentkit.llm.types import Constraint
from agentkit.prompting.templates import default_library
from agentkit.reasoning.answer import AnswerFormat
from agentkit.reasoning.least_to_most import LeastToMost

PROBLEM = {"question": "Ann has 3 boxes of 4 pens and gives away 5 pens. How many pens are left?"}


def solver(subquestions: list[str]) -> Any:
    def reply(prompt: str, seed: int | None, constraint: Constraint | None) -> str:
        if constraint is not None:
            return json.dumps({"subquestions": subquestions})
        asked = prompt.rsplit("Q: ", 1)[1]
        return f" Answer to <{asked.splitlines()[0]}>: The answer is {len(prompt)}."

    return reply


def step(**changes: Any) -> LeastToMost:
    return LeastToMost(decompose_prompt="reasoning/l2m_gsm8k_decompose.j2",
                       solve_prompt="reasoning/l2m_gsm8k_solve.j2", **changes)


async def test_stages_run_in_order_and_each_prompt_carries_the_earlier_answers(scripted: Any) -> None:
    llm = scripted(solver(["How many pens does Ann have?", "How many pens does she give away?"]))
    out = await step().run(PROBLEM, Context(llm=llm))
    decompose, *solves = llm.requests
    assert decompose["constraint"].kind == "json"
    assert decompose["constraint"].value["properties"]["subquestions"]["maxItems"] == 6
    assert out["subquestions"] == ["How many pens does Ann have?", "How many pens does she give away?",
                                   PROBLEM["question"]]
    assert len(solves) == 3 and len(out["subanswers"]) == 3
    for k, request in enumerate(solves):
        for earlier_question, earlier_answer in zip(out["subquestions"][:k], out["subanswers"][:k]):
            assert f"Q: {earlier_question}\nA: {earlier_answer}" in request["prompt"]
        assert request["prompt"].endswith(f"Q: {out['subquestions'][k]}\nA:")
    assert out["answer"] == str(len(solves[-1]["prompt"])) and out["answer_error"] is None


async def test_question_not_appended_twice(scripted: Any) -> None:
    llm = scripted(solver(["How many pens does Ann have?", PROBLEM["question"].upper()]))
    out = await step().run(PROBLEM, Context(llm=llm))
    assert len(out["subquestions"]) == 2


async def test_without_appending_the_last_subquestion_gives_the_answer(scripted: Any) -> None:
    llm = scripted(solver(["first?", "second?"]))
    out = await step(append_question=False, answer=AnswerFormat(kind="regex", pattern=r"<(\w+\?)>")).run(
        PROBLEM, Context(llm=llm))
    assert out["subquestions"] == ["first?", "second?"] and out["answer"] == "second?"


def test_reads_the_problem_but_not_the_stage_variables() -> None:
    assert step().reads(default_library()) == {"question"}
    scan = LeastToMost(decompose_prompt="reasoning/l2m_scan_decompose.j2", solve_prompt="reasoning/l2m_scan_solve.j2",
                       question_field="command")
    assert scan.reads(default_library()) == {"command"}
