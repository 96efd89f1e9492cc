"""Wiring checks, YAML errors that point at the line, round trips, templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agentkit.core.pipeline import Pipeline
from agentkit.core.registry import step_from_config
from agentkit.core.step import WiringError
from agentkit.core.yamlconfig import YAMLConfigError, dump_step_yaml, load_step_yaml
from agentkit.llm.types import Constraint, SamplingParams
from agentkit.prompting.steps import Extract, Generate
from agentkit.prompting.templates import PromptLibrary, TemplateError


def test_wiring_error_names_step_and_field() -> None:
    pipeline = Pipeline(
        steps=[
            Generate(prompt="Q: {{ question }}", output="draft"),
            Extract(kind="number", input="completion", name="get-number"),
        ]
    )
    with pytest.raises(WiringError) as info:
        pipeline.check({"question"})
    assert info.value.step == "get-number" and info.value.missing == {"completion"}
    assert "draft" in str(info.value)  # says what is available
    assert pipeline.check({"question", "completion"}) >= {"answer", "draft"}


def test_yaml_errors_point_at_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "steps:\n"
        "  - type: generate\n"
        "    prompt: qa.j2\n"
        "    params:\n"
        "      max_tokens: lots\n"
        "  - type: extract\n"
        "    kind: number\n"
        "    colour: red\n"
    )
    with pytest.raises(YAMLConfigError) as info:
        load_step_yaml(path)
    lines = info.value.lines
    assert any(line.startswith(f"{path}:5:19: steps.0.params.max_tokens") for line in lines), lines
    assert any(line.startswith(f"{path}:8:13: steps.1.colour") for line in lines), lines


def test_yaml_syntax_error_and_unknown_type(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("steps:\n  - type: generate\n    prompt: [unclosed\n")
    with pytest.raises(YAMLConfigError, match=r"broken.yaml:\d+:\d+: YAML syntax error"):
        load_step_yaml(broken)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("steps:\n  - type: genrate\n")
    with pytest.raises(YAMLConfigError, match=r"unknown.yaml:2:\d+: steps.0.type: unknown step type 'genrate'"):
        load_step_yaml(unknown)


def test_round_trip_is_equal(tmp_path: Path) -> None:
    pipeline = Pipeline(
        name="classify",
        steps=[
            Generate(
                prompt="Text: {{ text }}\nLabel:",
                params=SamplingParams(max_tokens=3, temperature=0.0, stop=("\n",), seed=3),
                constraint=Constraint.choice(["a", "b"]),
            ),
            Extract(kind="label", labels=("a", "b")),
        ],
    )
    path = tmp_path / "p.yaml"
    path.write_text(dump_step_yaml(pipeline))
    assert load_step_yaml(path) == pipeline
    assert step_from_config(pipeline.to_config()) == pipeline


def test_with_returns_changed_copy() -> None:
    step = Generate(prompt="x")
    hotter = step.with_(params=SamplingParams(temperature=1.0))
    assert step.params.temperature is None and hotter.params.temperature == 1.0
    with pytest.raises(ValidationError):
        step.prompt = "y"  # type: ignore[misc]


def test_user_templates_override_builtins(tmp_path: Path) -> None:
    (tmp_path / "qa.j2").write_text("MINE {{ question }}")
    assert PromptLibrary([tmp_path]).get("qa.j2").render(question="q") == "MINE q"
    assert PromptLibrary().get("qa.j2").render(question="q").startswith("Answer the question")


def test_template_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("line one\n{{ present }}\n{{ missing_var }}\n")
    library = PromptLibrary([tmp_path])
    with pytest.raises(TemplateError, match=r"t.j2:3: 'missing_var' is undefined"):
        library.get("t.j2").render(present=1)
    (tmp_path / "s.j2").write_text("ok\n{% if %}\n")
    with pytest.raises(TemplateError, match=r"s.j2:2:"):
        library.get("s.j2")


def test_chat_template_messages() -> None:
    template = PromptLibrary().get("=== system ===\nBe brief.\n=== user ===\n{{ q }}\n=== assistant ===\nSure")
    assert template.render_messages(q="Hi?") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi?"},
        {"role": "assistant", "content": "Sure"},
    ]
