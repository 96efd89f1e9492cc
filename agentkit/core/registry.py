"""Names for YAML: maps a step's ``type`` to its class, and builds steps from config.

Built-in step modules are imported only when one of their names is asked for,
so ``import agentkit`` stays fast. User steps are named ``module:Class``.
Validation errors keep their full path (``steps.1.params.temperature``) so the
YAML loader can point at the exact line and column.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, PlainSerializer, ValidationError

from agentkit.core.step import Step

S = TypeVar("S", bound=type[Step])
Loc = tuple[str | int, ...]

_REGISTRY: dict[str, type[Step]] = {}

# Step type name -> the module that registers it (imported on first use).
BUILTIN_STEPS: dict[str, str] = {
    "pipeline": "agentkit.core.pipeline",
    "generate": "agentkit.prompting.steps",
    "extract": "agentkit.prompting.steps",
    "react": "agentkit.agents.react",
    "demonstrations": "agentkit.icl.steps",
    "classify": "agentkit.icl.steps",
    "retrieve": "agentkit.rag.steps",
    "rag_answer": "agentkit.rag.steps",
    "cot": "agentkit.reasoning.cot",
    "auto_cot": "agentkit.reasoning.autocot",
    "two_phase": "agentkit.reasoning.two_phase",
    "self_consistency": "agentkit.reasoning.consistency",
    "least_to_most": "agentkit.reasoning.least_to_most",
}


class ConfigError(ValueError):
    """Invalid configuration; each problem has a path into the config and a message."""

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, loc)) or '<root>'}: {msg}" for loc, msg in problems))


def register(name: str) -> Callable[[S], S]:
    """Class decorator: ``@register("generate")`` makes the step buildable from YAML."""

    def decorate(cls: S) -> S:
        cls.type_name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def step_class(name: str) -> type[Step]:
    if name not in _REGISTRY and name in BUILTIN_STEPS:
        importlib.import_module(BUILTIN_STEPS[name])
    if name not in _REGISTRY and ":" in name:
        module, _, attr = name.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if not (isinstance(cls, type) and issubclass(cls, Step)):
            raise ValueError(f"{name} is not a Step subclass")
        return cls
    if name not in _REGISTRY:
        known = sorted(set(_REGISTRY) | set(BUILTIN_STEPS))
        raise ValueError(f"unknown step type {name!r}; known types: {', '.join(known)} (or 'module:Class')")
    return _REGISTRY[name]


def step_from_config(data: Any) -> Step:
    """Build a step from its config mapping (``{"type": ..., ...}``)."""
    if isinstance(data, Step):
        return data
    if not isinstance(data, dict) or "type" not in data:
        raise ConfigError([((), "a step must be a mapping with a 'type' key")])
    try:
        cls = step_class(str(data["type"]))
    except (ValueError, ImportError, AttributeError) as exc:
        raise ConfigError([(("type",), str(exc))]) from None
    body = {k: v for k, v in data.items() if k != "type"}
    try:
        return cls.model_validate(body)
    except ValidationError as exc:
        raise ConfigError(flatten_errors(exc)) from None


def flatten_errors(exc: ValidationError) -> list[tuple[Loc, str]]:
    """Pydantic errors as (path, message), unwrapping nested step errors."""
    problems: list[tuple[Loc, str]] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        inner = (error.get("ctx") or {}).get("error")
        if isinstance(inner, ConfigError):
            problems.extend((loc + sub, msg) for sub, msg in inner.problems)
        else:
            problems.append((loc, error["msg"].removeprefix("Value error, ")))
    return problems


def _serialize(step: Step) -> dict[str, Any]:
    return step.to_config()


StepRef = Annotated[Step, BeforeValidator(step_from_config), PlainSerializer(_serialize, return_type=dict)]
"""A field holding a nested step: built from config, written back as config."""
