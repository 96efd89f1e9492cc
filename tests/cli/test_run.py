"""``agentkit run``: agents and pipelines, one input or a JSONL file, streaming trace, JSON, cache."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path

import pytest
from react_fakes import ScriptedLLM

from agentkit.cli.main import main
from agentkit.cli.run import TracePrinter, UsageError, _inputs, load_runnable, run_one

ROOT = Path(__file__).resolve().parents[2]
CALCULATOR = ROOT / "examples" / "agents" / "calculator.yaml"
QA = ROOT / "examples" / "pipelines" / "zero_shot_qa.yaml"
SST2 = ROOT / "examples" / "pipelines" / "classify_sst2.yaml"


def args(**given: object) -> argparse.Namespace:
    base = {"question": None, "input": None, "field": None, "input_json": None, "input_file": None}
    return argparse.Namespace(**{**base, **given})


def test_agents_and_pipelines_are_told_apart_by_their_root() -> None:
    agent = load_runnable(CALCULATOR)
    assert agent.spec is not None and agent.input_field == "question" and agent.output_field == "answer"
    assert agent.uses_embedded_model
    qa, sst2 = load_runnable(QA), load_runnable(SST2)
    assert qa.spec is None and qa.input_field == "question" and qa.output_field == "answer"
    assert sst2.input_field == "text" and sst2.output_field == "label"


def test_inputs_go_to_the_right_field(tmp_path: Path) -> None:
    agent, sst2 = load_runnable(CALCULATOR), load_runnable(SST2)
    assert _inputs(args(question="2+2?"), agent) == {"question": "2+2?"}
    assert _inputs(args(input="great film"), sst2) == {"text": "great film"}
    assert _inputs(args(input="x", field="claim"), agent) == {"claim": "x"}
    assert _inputs(args(input_json='{"text": "a", "id": 3}'), sst2) == {"text": "a", "id": 3}
    lines = tmp_path / "in.jsonl"
    lines.write_text('"plain string"\n\n{"text": "an object", "id": 1}\n')
    assert _inputs(args(input_file=str(lines)), sst2) == [{"text": "plain string"}, {"text": "an object", "id": 1}]
    with pytest.raises(UsageError, match="exactly one input"):
        _inputs(args(question="a", input_json="{}"), agent)
    with pytest.raises(UsageError, match="exactly one input"):
        _inputs(args(), agent)
    two_fields = tmp_path / "two.yaml"
    two_fields.write_text("steps:\n  - {type: generate, prompt: '{{ a }} {{ b }}', output: answer}\n")
    with pytest.raises(UsageError, match="reads a, b; say which field"):
        _inputs(args(input="x"), load_runnable(two_fields))


def test_config_errors_exit_2_with_file_line_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: agent\nname: x\ntools:\n  - calculator\nlimits: {max_stepz: 3}\n")
    assert main(["run", str(bad), "q"]) == 2
    assert f"{bad}:5:21: limits.max_stepz: Extra inputs are not permitted" in capsys.readouterr().err


def test_no_server_and_no_terminal_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(CALCULATOR), "q", "--url", "http://127.0.0.1:9/v1"]) == 2
    err = capsys.readouterr().err
    assert "no LLM server answers at http://127.0.0.1:9/v1" in err and "--start-server" in err


def test_trace_printer_streams_thoughts_actions_and_observations() -> None:
    stream = io.StringIO()
    llm = ScriptedLLM(thoughts=["I will compute it.", "Retry.", "Done."], actions=[
        '{"tool": "calculator", "args": {"expression": 5}}',
        '{"tool": "calculator", "args": {"expression": "345 * 27"}}',
        '{"tool": "finish", "args": {"answer": "9315"}}',
    ])
    result = asyncio.run(run_one(load_runnable(CALCULATOR), {"question": "345 * 27?"}, llm,  # type: ignore[arg-type]
                                 listener=TracePrinter(stream)))
    assert result["error"] is None and result["output"]["answer"] == "9315"
    lines = stream.getvalue().splitlines()
    assert lines[0] == "> calculator" and lines[-1].startswith("< calculator")
    assert lines[1].startswith("  Thought 1: I will compute it.  (")
    assert lines[2].startswith('  Action 1: {"tool": "calculator", "args": {"expression": 5}}')
    assert lines[3].startswith("    invalid: invalid arguments for tool 'calculator'")
    assert lines[4].startswith("  Observation 1: Invalid action:")
    assert any(line == "  Observation 2: 9315" for line in lines)
    assert any(line.startswith('  Action 3: {"tool": "finish"') for line in lines)


def test_trace_printer_shows_pipeline_steps_and_llm_calls() -> None:
    stream = io.StringIO()
    result = asyncio.run(run_one(load_runnable(QA), {"question": "Capital of France?"},
                                 ScriptedLLM(thoughts=["Paris"]), listener=TracePrinter(stream)))  # type: ignore[arg-type]
    assert result["output"] == {"answer": "Paris"}
    lines = stream.getvalue().splitlines()
    assert lines[0] == "> pipeline" and lines[1] == "  > generate"
    assert lines[2].startswith("    llm chat:") and lines[3].startswith("  < generate")


@pytest.mark.llm
def test_run_an_agent_for_real(llm_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(CALCULATOR), "What is 345 multiplied by 27?", "--url", llm_url, "--json", "--trace"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["error"] is None and code == (0 if result["output"]["answer"] is not None else 1)
    trajectory = result["output"]["trajectory"]
    assert trajectory and all(step["valid"] for step in trajectory)
    assert result["trace"]["kind"] == "run" and result["trace"]["children"][0]["name"] == "calculator"
    assert "Thought 1:" in captured.err and "Action 1:" in captured.err


@pytest.mark.llm
def test_run_pipelines_for_real(llm_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(QA), "--input", "What is the capital of France?", "--url", llm_url]) == 0
    assert capsys.readouterr().out.strip()

    from agentkit.evals.loaders import load_dataset

    reviews = load_dataset("sst2", "dev")[:6]
    source = tmp_path / "reviews.jsonl"
    source.write_text("".join(json.dumps({"text": r["text"], "gold": r["label"]}) + "\n" for r in reviews))
    cache, out = tmp_path / "cache.sqlite", tmp_path / "labels.jsonl"
    command = ["run", str(SST2), "--input-file", str(source), "--out", str(out), "--url", llm_url,
               "--cache", str(cache), "--trace"]
    assert main(command) == 0
    first = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda r: r["index"])
    assert [r["index"] for r in first] == list(range(6)) and all(r["error"] is None for r in first)
    assert all(r["output"]["label"] in ("negative", "positive") for r in first)
    assert main(command) == 0  # again, from the cache
    second = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda r: r["index"])
    assert [r["output"] for r in second] == [r["output"] for r in first]
    calls = [c for r in second for c in _walk(r["trace"]) if c["kind"] == "llm"]
    assert len(calls) == 6 and all(c["outputs"]["cache_hit"] for c in calls)
    assert "6 of 6 inputs run, 0 failed" in capsys.readouterr().err


def _walk(span: dict) -> list[dict]:  # type: ignore[type-arg]
    return [span, *(s for child in span["children"] for s in _walk(child))]
