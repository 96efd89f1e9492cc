"""Chain-of-thought and two-phase answering against a scripted LLM: prompts, prefixes, demos."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agentkit.core.context import Context
from agentkit.core.registry import ConfigError, step_from_config
from agentkit.llm.types import Constraint
from agentkit.prompting.templates import default_library
from agentkit.reasoning.answer import AnswerFormat
from agentkit.reasoning.cot import ChainOfThought
from agentkit.reasoning.two_phase import TwoPhase

QUESTION = {"question": "Tom has 3 apples and buys 5 more. How many apples does he have?"}
DEMOS = [{"question": "What is 2 + 2?", "rationale": "2 + 2 = 4.", "answer": "4"},
         {"question": "What is 3 * 3?", "rationale": "3 * 3 = 9.", "answer": "9"}]


async def test_zero_shot_follow_up_continues_the_same_prompt(scripted: Any) -> None:
    llm = scripted(lambda p, s, c: " 8 apples." if p.endswith("is") else " He has 3 + 5 = 8 apples.")
    out = await ChainOfThought().run(QUESTION, Context(llm=llm))
    reasoning, follow_up = (r["prompt"] for r in llm.requests)
    assert reasoning == f"Q: {QUESTION['question']}\nA: Let's think step by step."
    assert follow_up == reasoning + " He has 3 + 5 = 8 apples. Therefore, the answer (arabic numerals) is"
    assert out["reasoning"] == "He has 3 + 5 = 8 apples." and out["answer"] == "8" and out["answer_error"] is None


async def test_answer_trigger_follows_the_answer_kind(scripted: Any) -> None:
    llm = scripted(lambda p, s, c: " No." if p.endswith("is") else " Reasoning.")
    out = await ChainOfThought(answer=AnswerFormat(kind="yes_no")).run({"question": "Is ice hot?"}, Context(llm=llm))
    assert llm.requests[1]["prompt"].endswith("Therefore, the answer (Yes or No) is") and out["answer"] == "no"


async def test_unextractable_answer_is_reported(scripted: Any) -> None:
    ctx = Context(llm=scripted(lambda p, s, c: " no idea"))
    out = await ChainOfThought().run(QUESTION, ctx)
    assert out["answer"] is None and out["answer_error"] == "no number in the output"
    assert ctx.span.find("step")[0].annotations["extraction_failed"] == "no number in the output"


async def test_few_shot_reads_the_answer_from_the_reasoning(scripted: Any) -> None:
    llm = scripted(lambda p, s, c: " 3 + 5 = 8. The answer is 8.")
    step = ChainOfThought(demos=DEMOS, trigger=None, follow_up=False)
    out = await step.run(QUESTION, Context(llm=llm))
    (request,) = llm.requests
    assert request["prompt"].startswith("Q: What is 2 + 2?\nA: 2 + 2 = 4. The answer is 4.\n\nQ: What is 3 * 3?")
    assert request["prompt"].endswith(f"Q: {QUESTION['question']}\nA:")
    assert out["answer"] == "8"


async def test_demos_from_a_record_field_as_list_or_rendered_text(scripted: Any) -> None:
    llm = scripted(lambda p, s, c: " The answer is 8.")
    step = ChainOfThought(demos_field="demos", trigger=None, follow_up=False)
    await step.run({**QUESTION, "demos": DEMOS}, Context(llm=llm))
    await step.run({**QUESTION, "demos": "Q: rendered by the demonstrations step\nA: ok\n\n"}, Context(llm=llm))
    listed, rendered = (r["prompt"] for r in llm.requests)
    assert "Q: What is 3 * 3?\nA: 3 * 3 = 9. The answer is 9." in listed
    assert rendered.startswith("Q: rendered by the demonstrations step\nA: ok\n\nQ: Tom has")
    assert step.reads(default_library()) == {"question", "demos"}


def test_demo_sources_are_exclusive() -> None:
    with pytest.raises(ConfigError, match="either 'demos'"):
        step_from_config({"type": "cot", "demos": DEMOS, "demos_field": "demos"})


async def test_two_phase_constrains_only_the_answer_request(scripted: Any) -> None:
    llm = scripted(lambda p, s, c: '{"answer": 8, "unit": "apples"}' if c else " Three plus five is eight.")
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}, "unit": {"type": "string"}},
              "required": ["answer", "unit"]}
    step = TwoPhase(prompt="Q: {{ question }}\nA:", constraint=Constraint.json_schema(schema))
    out = await step.run(QUESTION, Context(llm=llm))
    first, second = llm.requests
    assert first["constraint"] is None and second["constraint"].kind == "json"
    assert second["prompt"] == first["prompt"] + " Three plus five is eight. Therefore, the final answer is"
    assert out["answer"] == {"answer": 8, "unit": "apples"} and out["reasoning"] == "Three plus five is eight."


async def test_two_phase_on_a_chat_template_asks_in_a_new_turn(scripted: Any) -> None:
    seen: list[str] = []

    def reply(prompt: str, seed: int | None, constraint: Constraint | None) -> str:
        seen.append(prompt)
        return "yes" if constraint else "Ice is frozen water, which is cold."

    step = TwoPhase(prompt="qa.chat.j2", constraint=Constraint.choice(["yes", "no"]), trigger="Yes or no?")
    out = await step.run({"question": "Is ice cold?"}, Context(llm=scripted(reply)))
    assert out["answer"] == "yes"
    assert re.search(r"Is ice cold\?\nIce is frozen water, which is cold\.\nYes or no\?$", seen[1])
