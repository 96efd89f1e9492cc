"""Reasoning strategies as steps: chain-of-thought (zero-shot, few-shot, Auto-CoT),
two-phase answering, self-consistency and least-to-most.

Each strategy is a registered step type (``cot``, ``auto_cot``, ``two_phase``,
``self_consistency``, ``least_to_most``), so YAML builds it by name and
strategies nest like any steps. Classes load on first access, so importing
this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ChainOfThought": "agentkit.reasoning.cot",
    "AutoCoT": "agentkit.reasoning.autocot",
    "TwoPhase": "agentkit.reasoning.two_phase",
    "SelfConsistency": "agentkit.reasoning.consistency",
    "Adaptive": "agentkit.reasoning.consistency",
    "LeastToMost": "agentkit.reasoning.least_to_most",
    "AnswerFormat": "agentkit.reasoning.answer",
}
__all__ = ["Adaptive", "AnswerFormat", "AutoCoT", "ChainOfThought", "LeastToMost", "SelfConsistency", "TwoPhase"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agentkit.reasoning' has no attribute {name!r}")
