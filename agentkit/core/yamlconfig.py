"""YAML that points at the line: load with positions, report errors as file:line:col.

The YAML is composed into nodes first, so every value keeps where it stood.
Validation problems (from ``ConfigError``) are mapped back to the nearest
position along their path. Writing back uses the same config dicts that
``to_config()`` makes, so a loaded pipeline round-trips to an equal one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from agentkit.core.registry import ConfigError, Loc, step_from_config
from agentkit.core.step import Step

T = TypeVar("T")
Positions = dict[Loc, tuple[int, int]]


class YAMLConfigError(ValueError):
    """One or more problems, each starting with ``file:line:col``."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def _construct(node: yaml.Node, loc: Loc, positions: Positions) -> Any:
    positions[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(key_node.value if isinstance(key_node, yaml.ScalarNode) else "").get_single_data()
            key = key if isinstance(key, str) else str(key)
            result[key] = _construct(value_node, loc + (key,), positions)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, loc + (i,), positions) for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    return loader.construct_object(node, deep=True)


def load_yaml(text: str, filename: str = "<string>") -> tuple[Any, Positions]:
    """Parse YAML; syntax errors become YAMLConfigError with the line and column."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise YAMLConfigError([f"{where}: YAML syntax error: {exc.problem}"]) from None
    positions: Positions = {}
    if node is None:
        raise YAMLConfigError([f"{filename}:1:1: the file is empty"])
    return _construct(node, (), positions), positions


def locate(loc: Loc, positions: Positions) -> tuple[int, int]:
    for end in range(len(loc), -1, -1):
        if loc[:end] in positions:
            return positions[loc[:end]]
    return (1, 1)


def format_problems(error: ConfigError, filename: str, positions: Positions, prefix: Loc = ()) -> YAMLConfigError:
    lines = []
    for loc, message in error.problems:
        line, col = locate(prefix + loc, positions)
        path = ".".join(map(str, prefix + loc)) or "<root>"
        lines.append(f"{filename}:{line}:{col}: {path}: {message}")
    return YAMLConfigError(lines)


def build(data: Any, builder: Callable[[Any], T], filename: str, positions: Positions, prefix: Loc = ()) -> T:
    """Apply a config builder; its ConfigError becomes a YAMLConfigError pointing at the line."""
    try:
        return builder(data)
    except ConfigError as exc:
        raise format_problems(exc, filename, positions, prefix) from None


def load_step_yaml(path: str | Path) -> Step:
    """A pipeline (or any step) from a YAML file whose root is a step mapping."""
    path = Path(path)
    data, positions = load_yaml(path.read_text(encoding="utf-8"), str(path))
    if isinstance(data, dict) and "type" not in data and "steps" in data:
        data = {"type": "pipeline", **data}
    return build(data, step_from_config, str(path), positions)


def dump_step_yaml(step: Step) -> str:
    return str(yaml.safe_dump(step.to_config(), sort_keys=False, allow_unicode=True, width=100))
