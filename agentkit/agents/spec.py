"""YAML agents: one file says what an agent is, and builds the step that runs it.

An agent spec holds a name and description, LLM settings, a system prompt or
template, tools (built-in names, ``module:function`` or ``file.py:function``,
with settings), a strategy (``react``, or any step/pipeline config),
demonstrations and limits. It is validated strictly: unknown keys, unknown
tools and demonstrations whose actions do not fit the tools are errors that
``load_agent`` reports as ``file:line:col``. The spec is plain configuration;
``spec.step`` is the (immutable) step built from it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from agentkit.agents.react import DEFAULT_PROMPT, DEFAULT_SYSTEM, Demonstration, ReAct, ToolRef
from agentkit.core.registry import ConfigError, Loc, StepRef, flatten_errors, step_from_config
from agentkit.core.step import Step
from agentkit.core.yamlconfig import build, load_yaml
from agentkit.llm.types import SamplingParams
from agentkit.prompting.templates import PromptLibrary

AGENT_KEYS = ("kind", "tools", "strategy")  # any of these at the root marks an agent, not a pipeline
REACT_ONLY = ("system", "prompt", "tools", "demonstrations", "demos_field", "fallback", "limits")


class LLMSettings(BaseModel):
    """Where the model is and how it samples; ``max_tokens`` bounds a thought, ``action_max_tokens`` an action."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    model: str | None = None
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = None
    max_tokens: int = Field(default=64, ge=1)
    action_max_tokens: int = Field(default=96, ge=16)


class Limits(BaseModel):
    """What bounds one run of a ReAct agent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_steps: int = Field(default=5, ge=1)
    max_repeats: int = Field(default=1, ge=0)
    tool_timeout_s: float = Field(default=30.0, gt=0.0)
    max_observation_chars: int = Field(default=1500, ge=100)
    answer_max_chars: int | None = Field(default=None, ge=1)  # None: what fits in llm.action_max_tokens


def _strategy(value: Any) -> Any:
    if isinstance(value, str):
        if value != "react":
            raise ValueError(f"strategy must be 'react' or a step mapping (with 'type'), got {value!r}")
        return value
    return step_from_config(value)


def _dump_strategy(value: str | Step) -> Any:
    return value if isinstance(value, str) else value.to_config()


Strategy = Annotated[str | Step, BeforeValidator(_strategy), PlainSerializer(_dump_strategy)]


class AgentSpec(BaseModel):
    """An agent as configuration; ``step`` is what runs it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["agent"] = "agent"
    name: str
    description: str = ""
    llm: LLMSettings = LLMSettings()
    system: str = DEFAULT_SYSTEM
    prompt: str = DEFAULT_PROMPT
    tools: list[ToolRef] = Field(default_factory=list)
    strategy: Strategy = "react"
    demonstrations: list[Demonstration] = Field(default_factory=list)
    demos_field: str | None = None
    fallback: StepRef | None = None
    limits: Limits = Limits()
    input: str = "question"
    output: str = "answer"

    _step: Step | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _build(self) -> AgentSpec:
        self._step = self._react() if self.strategy == "react" else self._pipeline()
        return self

    def _react(self) -> ReAct:
        sampling: dict[str, Any] = {"temperature": self.llm.temperature, "top_p": self.llm.top_p, "seed": self.llm.seed}
        try:
            return ReAct(
                name=self.name,
                tools=self.tools,
                input=self.input,
                output=self.output,
                system=self.system,
                prompt=self.prompt,
                demonstrations=self.demonstrations,
                demos_field=self.demos_field,
                thought_params=SamplingParams(max_tokens=self.llm.max_tokens, stop=("\n",), **sampling),
                action_params=SamplingParams(max_tokens=self.llm.action_max_tokens, **sampling),
                fallback=self.fallback,
                **self.limits.model_dump(),
            )
        except ValidationError as exc:
            raise ConfigError([(_spec_loc(loc), msg) for loc, msg in flatten_errors(exc)]) from None

    def _pipeline(self) -> Step:
        problems: list[tuple[Loc, str]] = [
            ((key,), "only used by strategy 'react'") for key in REACT_ONLY if key in self.model_fields_set
        ]
        problems += [
            (("llm", key), "only url and model apply to a step strategy; set sampling in its steps")
            for key in sorted(self.llm.model_fields_set - {"url", "model"})
        ]
        if problems:
            raise ConfigError(problems)
        assert isinstance(self.strategy, Step)
        return self.strategy

    @property
    def step(self) -> Step:
        assert self._step is not None
        return self._step

    @property
    def is_react(self) -> bool:
        return isinstance(self._step, ReAct)

    def settings(self) -> dict[str, Any]:
        """The values ``with_settings`` can change (LLM settings and limits), flat."""
        return {**self.llm.model_dump(), **self.limits.model_dump()}

    def with_settings(self, **changes: Any) -> AgentSpec:
        """A copy with LLM settings or limits changed (``temperature=0.2``, ``max_steps=3``), validated."""
        unknown = set(changes) - set(LLMSettings.model_fields) - set(Limits.model_fields)
        if unknown:
            raise ConfigError([((key,), f"not a setting; settings: {', '.join(self.settings())}") for key in unknown])
        llm = {k: v for k, v in changes.items() if k in LLMSettings.model_fields}
        limits = {k: v for k, v in changes.items() if k in Limits.model_fields}
        return agent_from_config({
            **{key: getattr(self, key) for key in self.model_fields_set},
            "llm": {**self.llm.model_dump(exclude_unset=True), **llm},
            "limits": {**self.limits.model_dump(exclude_unset=True), **limits},
        })  # fmt: skip

    def to_config(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)


def _spec_loc(loc: Loc) -> Loc:
    """Where a ReAct setting came from in the spec: most share their name; sampling and limits are nested."""
    if not loc or loc[0] in AgentSpec.model_fields:
        return loc
    if loc[0] in ("thought_params", "action_params"):
        return ("llm", "max_tokens" if loc[0] == "thought_params" else "action_max_tokens")
    return ("limits", *loc) if loc[0] in Limits.model_fields else ()


def is_agent_config(data: Any) -> bool:
    """True for an agent spec's root mapping, False for a step or pipeline's."""
    return isinstance(data, dict) and "type" not in data and any(key in data for key in AGENT_KEYS)


def agent_from_config(data: Any) -> AgentSpec:
    """Build and validate a spec; problems come back as one ConfigError with a path each."""
    if not isinstance(data, dict):
        raise ConfigError([((), "an agent spec must be a mapping")])
    try:
        return AgentSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(flatten_errors(exc)) from None


def load_agent(path: str | Path) -> AgentSpec:
    """An agent from a YAML file; ``file.py:function`` tools are found relative to the file's folder."""
    path = Path(path)
    data, positions = load_yaml(path.read_text(encoding="utf-8"), str(path))
    if isinstance(data, dict) and isinstance(data.get("tools"), list):
        data["tools"] = [_anchor(entry, path.parent) for entry in data["tools"]]
    return build(data, agent_from_config, str(path), positions)


def prompt_library_for(path: str | Path) -> PromptLibrary:
    """Templates next to a spec or pipeline file first, then AGENTKIT_PROMPTS_PATH, then the built-ins."""
    extra = [p for p in os.environ.get("AGENTKIT_PROMPTS_PATH", "").split(os.pathsep) if p]
    return PromptLibrary([Path(path).resolve().parent, *extra])


def _anchor(entry: Any, folder: Path) -> Any:
    """``tools/x.py:fn`` relative to the spec's folder, so the spec works from any working directory."""
    if not isinstance(entry, str):
        return entry
    module, sep, attribute = entry.rpartition(":")
    if sep and module.endswith(".py") and not Path(module).is_absolute():
        return f"{(folder / module).resolve()}:{attribute}"
    return entry
