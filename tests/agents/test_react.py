"""The ReAct loop: hostile model output becomes an observation, limits bound every run, the trace keeps it all."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from react_fakes import ScriptedLLM

from agentkit.agents.react import ReAct, ToolSpec
from agentkit.agents.tool import Tool, ToolResult, tool
from agentkit.core.batch import run_many
from agentkit.core.context import Context
from agentkit.core.registry import ConfigError, step_from_config
from agentkit.core.step import Record, Step
from agentkit.core.trace import Span
from agentkit.core.yamlconfig import dump_step_yaml, load_yaml
from agentkit.llm.errors import ContextLengthExceeded, TruncatedOutput
from agentkit.prompting.templates import PromptLibrary

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agents"
FINISH_42 = '{"tool": "finish", "args": {"answer": "42"}}'
CALC = '{"tool": "calculator", "args": {"expression": "6 * 7"}}'


@tool
def echo(text: str, times: int = 1) -> str:
    """Repeat a text.

    Args:
        text: what to repeat
        times: how often
    """
    return " ".join([text] * times)


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"tool blew up: {reason}")


@tool
async def sleepy(seconds: float) -> str:
    """Sleeps."""
    await asyncio.sleep(seconds)
    return "woke up"


class FixedAnswer(Step):
    """A stand-in fallback that always answers."""

    answer: str = "from the fallback"

    def writes(self) -> set[str]:
        return {"answer"}

    async def process(self, record: Record, ctx: Context) -> Record:
        return {"answer": self.answer}


def run(agent: ReAct, llm: ScriptedLLM, question: str = "What is 6 times 7?") -> tuple[Record, Span]:
    ctx = Context(llm=llm)  # type: ignore[arg-type]
    return asyncio.run(agent.run({"question": question}, ctx)), ctx.span


def test_valid_run_calls_the_tool_and_finishes() -> None:
    llm = ScriptedLLM(thoughts=["I will compute 6 * 7.", "It is 42."], actions=[CALC, FINISH_42])
    out, _ = run(ReAct(tools=["calculator"]), llm)
    assert out["answer"] == "42" and out["stop_reason"] == "finish"
    first, second = out["trajectory"]
    assert first["valid"] and first["action"] == {"tool": "calculator", "args": {"expression": "6 * 7"}}
    assert first["observation"] == "42" and first["tool_ok"] is True
    assert second["action"]["tool"] == "finish" and second["observation"] is None
    # The second step's prompts carry the first step's thought, action and observation.
    later = llm.requests[2]["prompt"]
    assert "Thought 1: I will compute 6 * 7.\nAction 1: " + CALC + "\nObservation 1: 42\nThought 2:" in later
    assert later.endswith("Thought 2:") and llm.requests[3]["prompt"].endswith("Thought 2: It is 42.\nAction 2:")
    # Thoughts are free text; actions are decoded under the tool set's schema.
    assert llm.requests[0]["constraint"] is None
    schema = llm.requests[1]["constraint"].value
    assert {b["properties"]["tool"]["const"] for b in schema["anyOf"]} == {"calculator", "finish"}


HOSTILE_ACTIONS = [
    ("not json at all", "not valid JSON"),
    ('{"tool": "calculator", "args": {"expression": "1+', "cut off"),
    ('{"tool": "rm_rf", "args": {"path": "/"}}', "unknown tool 'rm_rf'"),
    ('{"tool": "calculator", "args": {"expression": 5}}', "invalid arguments for tool 'calculator'"),
    ('{"tool": "calculator", "args": {"expression": "1", "extra": true}}', "invalid arguments"),
    ('{"tool": "calculator", "args": "1 + 1"}', '"args" must be a JSON object'),
    ('{"tool": "finish", "args": {}}', '"finish" takes exactly one argument'),
    ('{"tool": "finish", "args": {"answer": 42}}', '"finish" takes exactly one argument'),
    ('[1, 2, 3]', 'exactly the keys "tool" and "args"'),
    ('{"tool": "calculator", "args": {"expression": "1"}, "why": "x"}', 'exactly the keys'),
    ("\x00" * 50 + "{", "not valid JSON"),
]


@pytest.mark.parametrize("text,expected", HOSTILE_ACTIONS)
def test_hostile_action_becomes_an_observation_and_the_loop_goes_on(text: str, expected: str) -> None:
    llm = ScriptedLLM(actions=[text, FINISH_42])
    out, trace = run(ReAct(tools=["calculator"], max_steps=3), llm)
    bad, good = out["trajectory"]
    assert not bad["valid"] and bad["action"] is None
    assert expected in bad["error"] and bad["observation"].startswith("Invalid action: ")
    assert good["valid"] and out["answer"] == "42" and out["stop_reason"] == "finish"
    # The model sees its own output and the reason it was rejected.
    assert f"Observation 1: Invalid action: {bad['error']}" in llm.requests[2]["prompt"]
    action_spans = trace.find("action")
    assert action_spans[0].outputs["valid"] is False and action_spans[0].outputs["text"] == text
    assert action_spans[0].outputs["problem"] == bad["error"] and action_spans[0].error is None  # data, not a crash


def test_truncated_action_is_an_invalid_step_not_an_exception() -> None:
    llm = ScriptedLLM(actions=[TruncatedOutput('{"tool": "calculator", "args": {"expr', 96), FINISH_42])
    out, _ = run(ReAct(tools=["calculator"]), llm)
    first = out["trajectory"][0]
    assert not first["valid"] and "cut off after 96 tokens" in first["observation"]
    assert first["action_text"] == '{"tool": "calculator", "args": {"expr'
    assert out["answer"] == "42"


def test_tool_errors_and_timeouts_become_observations() -> None:
    llm = ScriptedLLM(actions=[
        '{"tool": "explode", "args": {"reason": "on purpose"}}',
        '{"tool": "sleepy", "args": {"seconds": 30}}',
        '{"tool": "calculator", "args": {"expression": "1 / 0"}}',
        FINISH_42,
    ])
    agent = ReAct(tools=[explode, sleepy, "calculator"], tool_timeout_s=0.2, max_steps=5)
    out, trace = run(agent, llm)
    boom, slow, zero, _ = out["trajectory"]
    assert boom["tool_ok"] is False and "tool blew up: on purpose" in boom["observation"]
    assert slow["tool_ok"] is False and "did not finish within 0.2 s" in slow["observation"]
    assert zero["tool_ok"] is False and "division by zero" in zero["observation"]
    assert out["answer"] == "42"
    assert [s.name for s in trace.find("tool")] == ["explode", "sleepy", "calculator"]


def test_repeated_identical_action_is_not_rerun_and_then_stops_the_run() -> None:
    calls: list[str] = []

    @tool
    def count(item: str) -> str:
        """Counts calls."""
        calls.append(item)
        return f"seen {item}"

    llm = ScriptedLLM(actions=['{"tool": "count", "args": {"item": "x"}}'])
    out, _ = run(ReAct(tools=[count], max_steps=10, max_repeats=1), llm)
    assert out["stop_reason"] == "repeated_action" and out["answer"] is None
    assert calls == ["x"]  # the tool ran once
    assert len(out["trajectory"]) == 3
    assert out["trajectory"][1]["repeated"] and "already did this action in step 1" in out["trajectory"][1]["observation"]


def test_the_same_invalid_action_again_counts_as_a_repeat() -> None:
    llm = ScriptedLLM(actions=["{broken"])
    out, _ = run(ReAct(tools=[echo], max_steps=10, max_repeats=1), llm)
    assert out["stop_reason"] == "repeated_action" and len(out["trajectory"]) == 3
    assert out["trajectory"][1]["observation"].endswith("(the same invalid action as in step 1)")


def test_the_answer_is_bounded_so_a_finish_action_fits_its_token_budget() -> None:
    def answer_schema(agent: ReAct) -> dict[str, Any]:
        finish = [b for b in agent.constraint.value["anyOf"] if b["properties"]["tool"]["const"] == "finish"]
        return finish[0]["properties"]["args"]["properties"]["answer"]

    agent = ReAct(tools=["calculator"])  # action max_tokens 96
    bound = answer_schema(agent)["maxLength"]
    longest = '{"tool": "finish", "args": {"answer": "' + "x" * bound + '"}}'
    assert len(longest) + 8 <= 96  # a token holds at least one character, plus whitespace slack
    assert answer_schema(agent.with_(answer_max_chars=300))["maxLength"] == 300
    wider = agent.with_(action_params=agent.action_params.with_(max_tokens=200))
    assert answer_schema(wider)["maxLength"] == bound + 104
    with pytest.raises(ConfigError, match="too small for a finish action"):
        step_from_config({"type": "react", "tools": ["calculator"], "action_params": {"max_tokens": 40}})


def test_step_limit_ends_the_run_and_the_fallback_answers() -> None:
    llm = ScriptedLLM(actions=['{"tool": "echo", "args": {"text": "a"}}', '{"tool": "echo", "args": {"text": "b"}}'])
    out, _ = run(ReAct(tools=[echo], max_steps=2), llm)
    assert out["stop_reason"] == "max_steps" and out["answer"] is None and len(out["trajectory"]) == 2
    with_fallback = ReAct(tools=[echo], max_steps=2, fallback=FixedAnswer())
    out, trace = run(with_fallback, ScriptedLLM(actions=llm.actions))
    assert out["stop_reason"] == "max_steps" and out["answer"] == "from the fallback"
    assert trace.find("step")[0].annotations["fallback"] == "FixedAnswer"


def test_fallback_must_write_the_answer_field() -> None:
    with pytest.raises(ValueError, match="fallback step must write 'reply'"):
        ReAct(tools=[echo], output="reply", fallback=FixedAnswer())


def test_context_overflow_ends_the_run_cleanly() -> None:
    overflow = ContextLengthExceeded(400, "too long", 5000, 4096)
    llm = ScriptedLLM(thoughts=["ok", overflow], actions=['{"tool": "echo", "args": {"text": "a"}}'])
    out, trace = run(ReAct(tools=[echo], max_steps=5), llm)
    assert out["stop_reason"] == "context_length" and len(out["trajectory"]) == 1
    assert trace.find("agent_step")[1].error is not None


def test_long_observations_are_clipped() -> None:
    llm = ScriptedLLM(actions=['{"tool": "echo", "args": {"text": "abcdefghij", "times": 500}}', FINISH_42])
    out, _ = run(ReAct(tools=[echo], max_observation_chars=200), llm)
    observation = out["trajectory"][0]["observation"]
    assert observation.startswith("abcdefghij abcdefghij") and observation.endswith("more characters cut]")
    assert len(observation) < 260


def test_trace_shows_thought_action_arguments_observation_and_timing() -> None:
    llm = ScriptedLLM(thoughts=["compute it", "done"], actions=[CALC, FINISH_42])
    _, trace = run(ReAct(tools=["calculator"]), llm)
    step_span = trace.find("agent_step")[0]
    assert [c.kind for c in step_span.children] == ["thought", "action", "tool"]
    thought, action, call = step_span.children
    assert thought.outputs["thought"] == "compute it" and thought.children[0].kind == "llm"
    assert action.outputs["action"] == {"tool": "calculator", "args": {"expression": "6 * 7"}}
    assert call.inputs == {"args": {"expression": "6 * 7"}} and call.outputs["observation"] == "42"
    assert call.outputs["ok"] is True and call.latency_s is not None and call.latency_s >= 0
    assert step_span.outputs["observation"] == "42"
    annotations = trace.find("step")[0].annotations
    assert annotations == {"stop_reason": "finish", "steps": 2, "valid_actions": 2}
    json.dumps(trace.to_dict())  # the whole trace is serializable


def test_a_batch_of_hostile_runs_has_no_failed_items() -> None:
    """Every malformed output in one concurrent batch: each run ends normally, none raises."""
    agent = ReAct(tools=["calculator", echo], max_steps=3)
    texts = [text for text, _ in HOSTILE_ACTIONS]

    class PerQuestion(ScriptedLLM):
        def _reply(self, request: dict[str, Any]) -> Any:
            prompt = request["prompt"]
            index = int(prompt.split("Question: hostile ")[1].split("\n")[0])
            if request["constraint"] is None:
                return super()._reply(request)
            self.requests.append(request)
            from agentkit.llm.types import Choice, Completion

            return Completion(model="scripted", choices=[Choice(text=texts[index])])

    batch = asyncio.run(run_many(agent, [{"question": f"hostile {i}"} for i in range(len(texts))],
                                 llm=PerQuestion(), concurrency=8, progress=False))  # type: ignore[arg-type]
    assert batch.errors == []
    for item in batch.results:
        assert item.output is not None and item.output["stop_reason"] in ("max_steps", "repeated_action")
        assert not any(step["valid"] for step in item.output["trajectory"])


DEMO = {
    "question": "What is 2 + 2?",
    "steps": [
        {"thought": "Use the calculator.", "action": {"tool": "calculator", "args": {"expression": "2 + 2"}},
         "observation": "4"},
        {"thought": "It is 4.", "action": {"tool": "finish", "args": {"answer": "4"}}},
    ],
}


def test_demonstrations_are_rendered_before_the_question() -> None:
    llm = ScriptedLLM(actions=[FINISH_42])
    run(ReAct(tools=["calculator"], demonstrations=[DEMO]), llm)
    prompt = llm.requests[0]["prompt"]
    demo = ('Question: What is 2 + 2?\nThought 1: Use the calculator.\n'
            'Action 1: {"tool": "calculator", "args": {"expression": "2 + 2"}}\nObservation 1: 4\n'
            'Thought 2: It is 4.\nAction 2: {"tool": "finish", "args": {"answer": "4"}}\n')
    assert demo in prompt and prompt.index(demo) < prompt.index("Question: What is 6 times 7?")


def test_demonstrations_from_a_record_field() -> None:
    agent = ReAct(tools=["calculator"], demos_field="demos")
    assert agent.reads(PromptLibrary()) == {"question", "demos"}
    llm = ScriptedLLM(actions=[FINISH_42])
    asyncio.run(agent.run({"question": "q?", "demos": [DEMO]}, Context(llm=llm)))  # type: ignore[arg-type]
    assert "Question: What is 2 + 2?" in llm.requests[0]["prompt"]


@pytest.mark.parametrize("change,where,message", [
    ({"tool": "search"}, ("demonstrations", 0, "steps", 0, "action"), "unknown tool 'search'"),
    ({"args": {"expression": 4}}, ("demonstrations", 0, "steps", 0, "action"), "invalid arguments"),
    ({"tool": "finish", "args": {"answer": "4"}}, ("demonstrations", 0, "steps", 0, "action"), "only the last step"),
])
def test_demonstrations_are_checked_against_the_tools(change: dict[str, Any], where: tuple[Any, ...],
                                                      message: str) -> None:
    bad = json.loads(json.dumps(DEMO))
    bad["steps"][0]["action"].update(change)
    with pytest.raises(ConfigError) as caught:
        step_from_config({"type": "react", "tools": ["calculator"], "demonstrations": [bad]})
    (loc, text), = caught.value.problems
    assert loc == where and message in text


def test_tool_config_forms_and_round_trip(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello from a file")
    config = {"type": "react", "tools": ["calculator", {"read_file": {"root": str(tmp_path)}},
                                         "agentkit.agents.tool:load_builtin"], "max_steps": 3}
    with pytest.raises(ConfigError):  # load_builtin is a function with **settings: not a tool signature
        step_from_config(config)
    config["tools"][2] = f"{Path(__file__).resolve()}:echo"
    agent = step_from_config(config)
    assert isinstance(agent, ReAct) and list(agent.tool_map) == ["calculator", "read_file", "echo"]
    data, _ = load_yaml(dump_step_yaml(agent))
    assert data["tools"][:2] == ["calculator", {"read_file": {"root": str(tmp_path)}}]
    assert step_from_config(data).to_config() == agent.to_config()
    llm = ScriptedLLM(actions=['{"tool": "read_file", "args": {"path": "notes.txt"}}', FINISH_42])
    out, _ = run(agent, llm)
    assert out["trajectory"][0]["observation"] == "hello from a file"


def test_unknown_tools_are_config_errors_with_their_position() -> None:
    with pytest.raises(ConfigError) as caught:
        step_from_config({"type": "react", "tools": ["calculator", "no_such_tool", "nope.module:fn"]})
    locs = [loc for loc, _ in caught.value.problems]
    assert locs == [("tools", 1), ("tools", 2)]
    assert "unknown tool 'no_such_tool'" in caught.value.problems[0][1]


def test_factories_make_fresh_tools_for_every_run() -> None:
    spec = ToolSpec(ref=f"{Path(__file__).resolve()}:counter_tools", settings={"start": 10})
    first, second = spec.load(), spec.load()
    assert [t.name for t in first] == ["tick"] and first[0] is not second[0]
    agent = ReAct(tools=[spec])
    outs = []
    for _ in range(2):
        llm = ScriptedLLM(actions=['{"tool": "tick", "args": {}}', '{"tool": "tick", "args": {"by": 2}}', FINISH_42])
        out, _ = run(agent, llm)
        outs.append([step["observation"] for step in out["trajectory"][:2]])
    assert outs == [["11", "13"], ["11", "13"]]  # no state leaked from the first run into the second


def counter_tools(start: int) -> list[Tool]:
    """A per-run tool with state, as a factory (used by the test above)."""
    state = {"value": start}

    @tool
    def tick(by: int = 1) -> str:
        """Adds to a counter."""
        state["value"] += by
        return str(state["value"])

    return [tick]


def test_chat_templates_go_to_the_chat_endpoint() -> None:
    template = ("=== system ===\n{{ system }}\n=== user ===\nQuestion: {{ question }}\n"
                "{% for s in steps %}{{ s.thought }} | {{ s.action }} | {{ s.observation }}\n{% endfor %}"
                "{% if thought is not none %}Thought: {{ thought }}\nAction:{% else %}Thought:{% endif %}")
    llm = ScriptedLLM(actions=[CALC, FINISH_42])
    out, _ = run(ReAct(tools=["calculator"], prompt=template), llm)
    assert out["answer"] == "42"
    assert all("messages" in r for r in llm.requests)
    assert llm.requests[2]["messages"][1]["content"].endswith(f"I will act. | {CALC} | 42\nThought:")


def test_tool_arguments_named_like_span_fields() -> None:
    @tool
    def label(name: str, kind: str) -> str:
        """Labels a thing."""
        return f"{kind}:{name}"

    llm = ScriptedLLM(actions=['{"tool": "label", "args": {"name": "x", "kind": "y"}}', FINISH_42])
    out, trace = run(ReAct(tools=[label]), llm)
    assert out["trajectory"][0]["observation"] == "y:x" and trace.find("tool")[0].inputs == {"args": {"name": "x", "kind": "y"}}


def test_tool_result_details_reach_the_trace() -> None:
    @tool
    def detailed(x: int) -> ToolResult:
        """Returns details."""
        return ToolResult(ok=True, output=str(x), details={"source": "test"})

    llm = ScriptedLLM(actions=['{"tool": "detailed", "args": {"x": 3}}', FINISH_42])
    _, trace = run(ReAct(tools=[detailed]), llm)
    assert trace.find("tool")[0].outputs["details"] == {"source": "test"}


@pytest.mark.llm
async def test_real_model_produces_valid_actions_on_every_step(client: Any) -> None:
    """The embedded model, the shipped calculator agent, a few questions at once: every step decodes validly."""
    from agentkit.agents.spec import load_agent

    agent = load_agent(EXAMPLES / "calculator.yaml").step.with_(max_steps=3)
    questions = [{"question": q} for q in ("What is 345 multiplied by 27?", "What is 1234 plus 4321?",
                                           "A box holds 24 eggs. How many eggs are in 15 boxes?")]
    batch = await run_many(agent, questions, llm=client, concurrency=8, progress=False)
    assert batch.errors == []
    steps = [step for item in batch.results for step in item.output["trajectory"]]  # type: ignore[index]
    assert steps and all(step["valid"] for step in steps)
    assert any(step["action"]["tool"] == "calculator" for step in steps)
    for item in batch.results:
        assert item.trace is not None and len(item.trace.find("llm")) == 2 * len(item.output["trajectory"])  # type: ignore[index]
