"""Traces: a tree of spans recording what every step and LLM call did.

A span keeps its inputs, outputs, annotations (demonstrations picked, votes,
tool calls) and, for LLM calls, the exact prompt or messages sent. Traces export
as JSONL and print as a tree, so the prompt that was sent is never hidden.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SpanListener = Callable[["Span", str], None]


@dataclass
class Span:
    """One node of a trace: a pipeline, a step, an LLM call, a tool call."""

    kind: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    children: list[Span] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    ended: float | None = None
    error: str | None = None
    listener: SpanListener | None = field(default=None, repr=False, compare=False)

    def child(self, kind: str, name: str, **inputs: Any) -> Span:
        span = Span(kind=kind, name=name, inputs=inputs, listener=self.listener)
        self.children.append(span)
        if self.listener:
            self.listener(span, "start")
        return span

    def annotate(self, **values: Any) -> None:
        self.annotations.update(values)

    def finish(self, error: BaseException | None = None, **outputs: Any) -> None:
        self.outputs.update(outputs)
        if error is not None:
            self.error = f"{type(error).__name__}: {error}"
        self.ended = time.time()
        if self.listener:
            self.listener(self, "end")

    @property
    def latency_s(self) -> float | None:
        return None if self.ended is None else self.ended - self.started

    def walk(self) -> Iterator[Span]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, kind: str) -> list[Span]:
        return [s for s in self.walk() if s.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "inputs": _jsonable(self.inputs),
            "outputs": _jsonable(self.outputs),
            "annotations": _jsonable(self.annotations),
            "started": self.started,
            "latency_s": self.latency_s,
            "error": self.error,
            "children": [c.to_dict() for c in self.children],
        }

    def render(self, width: int = 100) -> str:
        """A readable tree; prompts are shown in full, other values shortened."""
        lines: list[str] = []
        self._render(lines, "", width)
        return "\n".join(lines)

    def _render(self, lines: list[str], indent: str, width: int) -> None:
        latency = f" {self.latency_s * 1000:.0f} ms" if self.latency_s is not None else ""
        status = f"  !! {self.error}" if self.error else ""
        lines.append(f"{indent}{self.kind}: {self.name}{latency}{status}")
        pad = indent + "  "
        for label, values in (("in", self.inputs), ("out", self.outputs), ("note", self.annotations)):
            for key, value in values.items():
                full = key in ("prompt", "messages")
                lines.append(f"{pad}{label}.{key} = {_show(value, None if full else width)}")
        for child in self.children:
            child._render(lines, pad, width)


def write_jsonl(spans: list[Span], path: str | Path) -> None:
    """One trace per line, appended."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(span.to_dict(), ensure_ascii=False) + "\n" for span in spans)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "model_dump"):
        return _jsonable(value.model_dump())
    return repr(value)


def _show(value: Any, width: int | None) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict) and "role" in value[0]:
        return "\n" + "\n".join(f"    [{m['role']}] {m['content']}" for m in value)
    text = value if isinstance(value, str) else json.dumps(_jsonable(value), ensure_ascii=False)
    if width is None:
        return "\n    " + text.replace("\n", "\n    ") if "\n" in text else text
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."
