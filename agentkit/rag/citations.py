"""Citations in generated answers: ``[2]`` markers, the passages they name, and refusals.

Models cite in several shapes: ``[2]``, ``[1, 3]``, ``[1][3]``, ``[2-4]``,
``[Passage 2]``. Only bracketed numbers count, because a bare ``2`` or ``(2)``
is too often part of the answer itself. Numbers with no passage behind them are
kept apart as invalid, so a hallucinated citation is told from no citation.

The answer prompt asks for :data:`NOT_IN_CONTEXT` when the passages do not hold
the answer; :func:`is_unanswerable` also recognises the usual paraphrases.
:func:`citation_pattern` and :func:`citation_schema` are the optional decoding
constraints that force the citation format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NOT_IN_CONTEXT = "Not in the context."
MAX_RANGE = 20  # a range [a-b] wider than this is not a citation (e.g. "[1990-2020]")

_LABEL = r"(?:passages?|sources?|documents?|docs?|refs?|references?)\.?\s*"
_NUMBER_LIST = rf"(?:{_LABEL})?\d+(?:\s*(?:,|;|-|–|and|&)\s*(?:{_LABEL})?\d+)*"
_BRACKETED = re.compile(rf"\[\s*({_NUMBER_LIST})\s*\]", re.IGNORECASE)
_PART = re.compile(r"(\d+)(?:\s*[-–]\s*(\d+))?")

_SOURCE = r"(?:context|passages?|documents?|sources?|texts?|provided information)"
_REFUSALS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"\bnot\s+(?:\w+\s+){{0,2}}in\s+the\s+(?:given\s+|provided\s+|above\s+)?{_SOURCE}\b",
        (
            rf"\b{_SOURCE}\s+(?:does|do|did)\s*(?:not|n't)\s+(?:\w+\s+)?"
            r"(?:contain|mention|say|provide|include|state|answer|discuss|address|specify|give|tell)"
        ),
        r"\b(?:cannot|can't|can\s+not|unable\s+to)\s+(?:be\s+)?(?:answer(?:ed)?|determine[d]?)\b",
        r"\b(?:no|not\s+enough|insufficient)\s+(?:relevant\s+)?information\b",
        r"\bi\s+(?:do\s+not|don't)\s+know\b",
    )
]


@dataclass(frozen=True)
class Citations:
    """Passage numbers an answer cites (1-based, in order of first mention, no repeats)."""

    numbers: tuple[int, ...]
    invalid: tuple[int, ...] = ()  # cited, but there is no passage with that number


def parse_citations(text: str, n_passages: int) -> Citations:
    """The bracketed passage numbers in ``text``; numbers outside ``1..n_passages`` go to ``invalid``."""
    valid: list[int] = []
    invalid: list[int] = []
    for group in _BRACKETED.finditer(text):
        for number in _numbers(group.group(1)):
            target = valid if 1 <= number <= n_passages else invalid
            if number not in target:
                target.append(number)
    return Citations(tuple(valid), tuple(invalid))


def _numbers(inner: str) -> list[int]:
    numbers: list[int] = []
    for part in _PART.finditer(inner):
        low, high = int(part.group(1)), part.group(2)
        if high is None:
            numbers.append(low)
        elif 0 <= int(high) - low <= MAX_RANGE:
            numbers.extend(range(low, int(high) + 1))
        else:
            numbers.extend((low, int(high)))
    return numbers


def cited_passages(numbers: Sequence[int], passages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``{doc_id, title, text}`` of each cited passage, in citation order."""
    return [
        {
            "doc_id": passages[n - 1]["doc_id"],
            "title": passages[n - 1].get("title", ""),
            "text": passages[n - 1]["text"],
        }
        for n in numbers
        if 1 <= n <= len(passages)
    ]


def is_unanswerable(text: str) -> bool:
    """Whether ``text`` says the passages do not hold the answer (empty text counts as no answer)."""
    if not text.strip():
        return True
    return any(p.search(text) for p in _REFUSALS)


def citation_pattern(n_passages: int, sentences: int = 2, sentence_chars: int = 200) -> str:
    """A regex for vLLM that forces ``sentence [n]`` answers (or :data:`NOT_IN_CONTEXT`).

    Each sentence is bounded, so the model must reach a citation instead of
    rambling until ``max_tokens``; at most ``sentences`` cited sentences.
    """
    if n_passages < 1 or sentences < 1:
        raise ValueError("need at least one passage and one sentence")
    number = "(" + "|".join(str(i) for i in range(1, n_passages + 1)) + ")"
    sentence = rf"[^\[\]\n]{{1,{sentence_chars}}}( ?\[{number}\]){{1,3}}\.?"
    more = f"( {sentence}){{0,{sentences - 1}}}" if sentences > 1 else ""
    return rf"({re.escape(NOT_IN_CONTEXT)}|{sentence}{more})"


def citation_schema(n_passages: int, answer_chars: int = 400) -> dict[str, Any]:
    """A JSON schema for ``{"answer": ..., "citations": [n, ...]}`` with at least one valid citation,
    or the refusal ``{"answer": NOT_IN_CONTEXT, "citations": []}``."""
    if n_passages < 1:
        raise ValueError("need at least one passage")
    cited = {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "minLength": 1, "maxLength": answer_chars},
            "citations": {
                "type": "array",
                "items": {"enum": list(range(1, n_passages + 1))},
                "minItems": 1,
                "maxItems": 3,
            },
        },
        "required": ["answer", "citations"],
        "additionalProperties": False,
    }
    refused = {
        "type": "object",
        "properties": {"answer": {"const": NOT_IN_CONTEXT}, "citations": {"type": "array", "maxItems": 0}},
        "required": ["answer", "citations"],
        "additionalProperties": False,
    }
    return {"anyOf": [cited, refused]}
