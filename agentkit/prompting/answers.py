"""Answer extractors: turn a model's text into the task's answer, or say why not.

A failed extraction is returned as such (``value=None`` with a reason), never
mapped silently to a default answer, so accuracy counts it as wrong and the
trace shows why.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class Extraction:
    value: Any
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _fail(reason: str) -> Extraction:
    return Extraction(None, reason)


_NUMBER = r"-?\$?\s?-?\d[\d,]*(?:\.\d+)?|-?\$?\s?-?\.\d+"
_GSM8K = re.compile(r"####\s*(" + _NUMBER + ")")
_ANSWER_IS = re.compile(r"answer(?: is|:)\s*[:=]?\s*\**\s*(" + _NUMBER + ")", re.IGNORECASE)
_ANY_NUMBER = re.compile(_NUMBER)


def normalize_number(text: str) -> str | None:
    """'$1,234.50' -> '1234.5'; '-3' -> '-3'; unparseable -> None."""
    cleaned = text.replace(",", "").replace("$", "").replace(" ", "")
    negative = cleaned.count("-") % 2 == 1
    cleaned = cleaned.replace("-", "")
    try:
        number = float(cleaned)
    except ValueError:
        return None
    number = -number if negative else number
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def extract_number(text: str) -> Extraction:
    """GSM8K's '#### 42', then 'The answer is 42', then the last number in the text."""
    for pattern in (_GSM8K, _ANSWER_IS):
        match = pattern.search(text)
        if match:
            value = normalize_number(match.group(1))
            if value is not None:
                return Extraction(value)
    numbers = _ANY_NUMBER.findall(text)
    for candidate in reversed(numbers):
        value = normalize_number(candidate)
        if value is not None:
            return Extraction(value)
    return _fail("no number in the output")


def extract_letter(text: str, letters: str = "ABCDE") -> Extraction:
    """An option letter: 'answer is (B)', '(B)', or a lone capital letter."""
    cls = f"[{letters}]"
    for pattern in (
        rf"answer(?: is|:)\s*\(?({cls})\b",
        rf"\(({cls})\)",
        rf"(?<![A-Za-z])({cls})(?![A-Za-z])",
    ):
        match = re.search(pattern, text, re.IGNORECASE if pattern.startswith("answer") else 0)
        if match:
            return Extraction(match.group(1).upper())
    return _fail(f"no option letter {letters} in the output")


def extract_yes_no(text: str) -> Extraction:
    """'yes'/'no' after 'answer is' if present, else the first one in the text."""
    lowered = text.lower()
    match = re.search(r"answer(?: is|:)\s*\W*\s*(yes|no)\b", lowered) or re.search(r"\b(yes|no)\b", lowered)
    return Extraction(match.group(1)) if match else _fail("neither yes nor no in the output")


def extract_label(text: str, labels: Sequence[str]) -> Extraction:
    """The label the text names: an exact match, else the one mentioned first."""
    stripped = text.strip().strip(".").strip().lower()
    by_lower = {label.lower(): label for label in labels}
    if stripped in by_lower:
        return Extraction(by_lower[stripped])
    found = []
    for label in labels:
        match = re.search(rf"(?<!\w){re.escape(label.lower())}(?!\w)", text.lower())
        if match:
            found.append((match.start(), -len(label), label))
    if not found:
        return _fail(f"none of the labels {list(labels)} in the output")
    return Extraction(min(found)[2])


def extract_regex(text: str, pattern: str) -> Extraction:
    """The first match; its first group when the pattern has one."""
    match = re.search(pattern, text)
    if not match:
        return _fail(f"pattern {pattern!r} did not match")
    return Extraction(match.group(1) if match.groups() else match.group(0))


def load_model_class(path: str) -> type[BaseModel]:
    module, _, attr = path.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise TypeError(f"{path} is not a pydantic model")
    return cls


def extract_json(text: str, model: type[BaseModel] | None = None) -> Extraction:
    """The first JSON object or array in the text, validated against ``model``."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return _fail("no JSON in the output")
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        return _fail(f"invalid JSON: {exc}")
    if model is None:
        return Extraction(value)
    try:
        return Extraction(model.model_validate(value))
    except ValidationError as exc:
        return _fail(f"JSON does not match {model.__name__}: {exc.errors()[0]['msg']}")
