"""YAML agent specs: strict validation with file:line:col, the shipped examples, settings, strategies."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agentkit.agents.react import ReAct
from agentkit.agents.spec import AgentSpec, agent_from_config, is_agent_config, load_agent
from agentkit.core.registry import ConfigError
from agentkit.core.yamlconfig import YAMLConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agents"

GOOD = """\
kind: agent
name: calc
description: test agent
llm: {temperature: 0.0, max_tokens: 32}
tools:
  - calculator
demonstrations:
  - question: What is 2 + 2?
    steps:
      - thought: Use the calculator.
        action: {tool: calculator, args: {expression: "2 + 2"}}
        observation: "4"
      - thought: It is 4.
        action: {tool: finish, args: {answer: "4"}}
limits: {max_steps: 3}
"""


def write(tmp_path: Path, text: str, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problem(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(YAMLConfigError) as caught:
        load_agent(path)
    return str(caught.value).replace(str(path), "agent.yaml")


@pytest.fixture
def small_indexes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The RAG examples name indexes relative to the working directory: make tiny ones there."""
    from agentkit.rag.bm25 import BM25Index
    from agentkit.rag.documents import Document, chunk_documents

    monkeypatch.chdir(tmp_path)
    docs = [Document(id="d1", title="Kevin Loader", text="Kevin Loader is a British film producer."),
            Document(id="d2", title="Ly49Q", text="Ly49Q is crucial for neutrophil polarization.")]
    for name in ("scifact-bm25", "hotpotqa-dev-bm25"):
        BM25Index.build(chunk_documents(docs)).save(tmp_path / "indexes" / name)


def test_a_good_spec_builds_a_react_step(tmp_path: Path) -> None:
    spec = load_agent(write(tmp_path, GOOD))
    step = spec.step
    assert isinstance(step, ReAct) and step.label == "calc"
    assert list(step.tool_map) == ["calculator"] and step.max_steps == 3
    assert step.thought_params.max_tokens == 32 and step.thought_params.temperature == 0.0
    assert step.thought_params.stop == ("\n",) and step.action_params.max_tokens == 96
    assert len(step.demonstrations) == 1


@pytest.mark.parametrize("name", ["calculator", "python", "rag_scifact", "hotpotqa"])
def test_the_shipped_examples_load(name: str, small_indexes: None) -> None:
    spec = load_agent(EXAMPLES / f"{name}.yaml")
    assert spec.name and spec.description and spec.is_react
    assert spec.step.demonstrations, "every example teaches its tools with at least one demonstration"
    round_tripped = agent_from_config(spec.to_config())
    assert round_tripped.step.to_config() == spec.step.to_config()


def test_hotpotqa_example_falls_back_to_self_consistency(small_indexes: None) -> None:
    step = load_agent(EXAMPLES / "hotpotqa.yaml").step
    assert isinstance(step, ReAct) and step.fallback is not None and step.fallback.type_name == "self_consistency"
    assert set(step.tool_map) == {"search", "lookup"}


@pytest.mark.parametrize("old,new,expected", [
    ("description: test agent", "description: test agent\ncolour: blue", "agent.yaml:4:9: colour: Extra inputs are not permitted"),
    ("llm: {temperature: 0.0, max_tokens: 32}", "llm: {temperature: 0.0, max_tokenz: 32}",
     "agent.yaml:4:37: llm.max_tokenz: Extra inputs are not permitted"),
    ("  - calculator", "  - calculator\n  - telepathy", "agent.yaml:7:5: tools.1: unknown tool 'telepathy'"),
    ('{expression: "2 + 2"}', "{expression: 4}",
     "agent.yaml:11:17: demonstrations.0.steps.0.action: invalid arguments for tool 'calculator'"),
    ("limits: {max_steps: 3}", "limits: {max_steps: 0}", "agent.yaml:15:21: limits.max_steps: Input should be greater"),
    ("kind: agent", "kind: robot", "agent.yaml:1:7: kind: Input should be 'agent'"),
    ("max_tokens: 32}", "max_tokens: 32, action_max_tokens: 30}",
     "agent.yaml:4:60: llm.action_max_tokens: too small for a finish action"),
    ("        observation: \"4\"\n", "", "agent.yaml:10:9: demonstrations.0.steps.0: a tool step needs the observation"),
])
def test_errors_point_at_file_line_and_column(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert expected in problem(tmp_path, GOOD.replace(old, new, 1))


def test_yaml_syntax_errors_point_at_the_line(tmp_path: Path) -> None:
    assert "agent.yaml:6:3: YAML syntax error" in problem(tmp_path, GOOD.replace("tools:", "tools: [", 1))


def test_a_pipeline_strategy_rejects_react_only_keys(tmp_path: Path) -> None:
    pipeline = ("kind: agent\nname: qa\nstrategy:\n  type: pipeline\n  steps:\n"
                "    - {type: generate, prompt: qa.j2, output: answer}\n")
    spec = load_agent(write(tmp_path, pipeline))
    assert not spec.is_react and spec.step.type_name == "pipeline" and spec.step.writes() == {"answer"}
    message = problem(tmp_path, pipeline + "tools: [calculator]\nllm: {temperature: 0.5}\n")
    assert "tools: only used by strategy 'react'" in message
    assert "llm.temperature: only url and model apply" in message
    bad_step = problem(tmp_path, pipeline.replace("prompt: qa.j2, ", ""))
    assert "agent.yaml:6:7: strategy.steps.0.prompt: Field required" in bad_step
    assert "strategy must be 'react'" in problem(tmp_path, "name: x\nstrategy: reflexion\n")


def test_tool_files_are_found_next_to_the_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "my_tools.py").write_text(
        "def shout(text: str) -> str:\n    '''Upper-cases text.'''\n    return text.upper()\n")
    write(folder, "name: shouty\ntools:\n  - my_tools.py:shout\n", "shouty.yaml")
    monkeypatch.chdir(tmp_path)  # not the spec's folder
    spec = load_agent(folder / "shouty.yaml")
    assert list(spec.step.tool_map) == ["shout"]  # type: ignore[attr-defined]
    assert spec.step.tool_map["shout"].fn("hi") == "HI"  # type: ignore[attr-defined]


def test_tool_settings_configure_built_ins(tmp_path: Path) -> None:
    spec = agent_from_config({"name": "reader", "tools": [{"read_file": {"root": str(tmp_path), "max_bytes": 10}}]})
    (tmp_path / "a.txt").write_text("0123456789abcdef")
    reader = spec.step.tool_map["read_file"]  # type: ignore[attr-defined]
    assert reader.fn("a.txt").startswith("0123456789\n[truncated")
    with pytest.raises(ConfigError, match="takes no settings"):
        agent_from_config({"name": "calc", "tools": [{"calculator": {"precise": True}}]})


def test_settings_change_sampling_and_limits() -> None:
    spec = agent_from_config({"name": "calc", "tools": ["calculator"], "llm": {"max_tokens": 40}})
    changed = spec.with_settings(temperature=0.2, max_steps=2)
    step = changed.step
    assert isinstance(step, ReAct)
    assert step.thought_params.temperature == 0.2 and step.action_params.temperature == 0.2
    assert step.max_steps == 2 and step.thought_params.max_tokens == 40
    assert spec.step.max_steps == 5  # type: ignore[attr-defined]  # the original is unchanged
    assert changed.settings()["temperature"] == 0.2
    with pytest.raises(ConfigError, match="not a setting"):
        spec.with_settings(colour="blue")
    with pytest.raises(ConfigError):
        spec.with_settings(temperature=-1)


def test_agent_and_pipeline_roots_are_told_apart() -> None:
    assert is_agent_config({"kind": "agent", "name": "x"})
    assert is_agent_config({"name": "x", "tools": ["calculator"]})
    assert not is_agent_config({"type": "pipeline", "steps": []})
    assert not is_agent_config({"steps": [{"type": "generate", "prompt": "qa.j2"}]})
    assert not is_agent_config({"type": "react", "tools": ["calculator"]})  # a step config, not a spec


def test_spec_is_immutable_configuration() -> None:
    spec = AgentSpec(name="calc", tools=["calculator"])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        spec.name = "other"  # type: ignore[misc]
    assert spec.to_config() == {"name": "calc", "tools": ["calculator"]}
