"""How demonstrations become prompt text: one template per demonstration, joined.

The demonstration template sees ``input``, ``output``, ``label``, ``rationale``
and ``id``. Rendering it with marker values splits it into the text before the
input, between input and output, and after the output; entropy ordering uses
those parts to sample probe inputs and to score labels in the same format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentkit.icl.pool import Example
from agentkit.prompting.templates import Template

_INPUT = "\x00INPUT\x00"
_OUTPUT = "\x00OUTPUT\x00"


def truncate(text: str, max_chars: int | None) -> str:
    """Cut at a word boundary before ``max_chars`` and mark the cut with '...'."""
    if max_chars is None or len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else text[:max_chars]
    return cut.rstrip() + "..."


def split_label_suffix(text: str) -> tuple[str, str]:
    """(prompt, continuation prefix): trailing spaces move to the continuation, so
    ``"Sentiment: "`` + ``"positive"`` is scored as ``"Sentiment:"`` + ``" positive"``,
    the way the tokenizer sees it in running text."""
    stripped = text.rstrip(" \t")
    return stripped, text[len(stripped):]


@dataclass(frozen=True)
class DemoFormat:
    template: Template
    separator: str = ""
    max_chars: int | None = None

    def render_one(self, example: Example) -> str:
        return self.template.render(
            input=truncate(example.input, self.max_chars),
            output=example.output,
            label=example.label,
            rationale=example.rationale,
            id=example.id,
        )

    def render(self, examples: Sequence[Example]) -> str:
        return "".join(self.render_one(e) + self.separator for e in examples)

    def parts(self) -> tuple[str, str, str]:
        """(before input, between input and output, after output) of one demonstration."""
        text = self.template.render(input=_INPUT, output=_OUTPUT, label="", rationale="", id="")
        if text.count(_INPUT) != 1 or text.count(_OUTPUT) != 1 or text.index(_INPUT) > text.index(_OUTPUT):
            raise ValueError("the demonstration template must show {{ input }} once, then {{ output }} once")
        before, rest = text.split(_INPUT)
        between, after = rest.split(_OUTPUT)
        return before, between, after + self.separator
