"""Every reasoning example pipeline builds from YAML, checks its wiring, and round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit.core.registry import step_from_config
from agentkit.core.yamlconfig import YAMLConfigError, dump_step_yaml, load_step_yaml, load_yaml
from agentkit.prompting.templates import default_library

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "pipelines").glob("reasoning_*.yaml"))


def test_there_is_one_example_per_strategy() -> None:
    types = set()
    for path in EXAMPLES:
        for step in load_step_yaml(path).steps:  # type: ignore[attr-defined]
            types.add(step.type_name)
    assert {"cot", "auto_cot", "two_phase", "self_consistency", "least_to_most"} <= types


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_builds_checks_and_round_trips(path: Path) -> None:
    step = load_step_yaml(path)
    assert step.check({"question"}, default_library()) >= {"answer"}
    again, _ = load_yaml(dump_step_yaml(step))
    assert step_from_config(again).to_config() == step.to_config()


def test_a_bad_value_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("steps:\n  - type: self_consistency\n    n: 0\n    inner: {type: cot}\n")
    with pytest.raises(YAMLConfigError, match=r"bad.yaml:3:\d+: steps.0.n"):
        load_step_yaml(path)
