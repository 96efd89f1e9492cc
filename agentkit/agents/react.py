"""ReAct (Yao et al., 2022): think, act, observe, until the agent finishes.

Each step makes two LLM calls on the same growing transcript: a free-text
thought (one line), then an action decoded under the JSON schema of the tool
set (``action_schema``: the tool name is one of the tools or ``finish``, the
arguments follow that tool's schema). The decoded text is checked again
(``parse_action``) and the arguments validated before the tool runs. Whatever
goes wrong in the model's output (invalid JSON, an unknown tool, wrong argument
types, a cut-off action) or in the tool (an exception, a timeout) becomes the
observation the model sees next; it never raises out of the loop. A step limit,
a repeated-identical-action check and a per-tool timeout bound every run.

When the loop ends without an answer, an optional ``fallback`` step (e.g.
chain-of-thought with self-consistency, as the ReAct paper's ReAct -> CoT-SC)
answers instead. The step is frozen configuration; a run's state lives in the
``process`` call, so one agent serves many concurrent runs.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, PrivateAttr, model_validator

from agentkit.agents.tool import (
    FINISH,
    Action,
    ActionError,
    Tool,
    action_schema,
    import_attribute,
    load_builtin,
    load_tool,
    parse_action,
)
from agentkit.core.context import Context
from agentkit.core.registry import ConfigError, Loc, StepRef, register
from agentkit.core.step import Record, Step
from agentkit.llm.errors import ContextLengthExceeded, TruncatedOutput
from agentkit.llm.types import Completion, Constraint, SamplingParams
from agentkit.prompting.templates import PromptLibrary

DEFAULT_PROMPT = "agents/react.j2"
DEFAULT_SYSTEM = "Answer the question. Use the tools when they help, and check their results before you finish."
FINISH_DESCRIPTION = "give the final answer and stop"
# Names the loop passes to the template; any other template variable is read from the record.
LOOP_VARIABLES = frozenset({"question", "system", "tools", "demonstrations", "steps", "thought"})
STOP_REASONS = ("finish", "max_steps", "repeated_action", "context_length")
MIN_ANSWER_CHARS = 16
WHITESPACE_SLACK = 8  # tokens the decoder may spend on JSON whitespace


class ToolSpec(BaseModel):
    """A tool named in config: a built-in (``calculator``) or ``module:function`` / ``file.py:function``.

    Settings configure a built-in (``read_file`` with ``root``); on a
    ``module:factory`` reference they are the factory's arguments, and it
    returns a Tool or a list of Tools (e.g. ``agentkit.rag.browse:browse_tools``
    with ``index``). ``load`` is called for every run, so a factory's per-run
    state (a search session) is never shared. A tool given as a Python object
    keeps it in ``tool`` and is written back as ``module:name``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    ref: str
    settings: dict[str, Any] = Field(default_factory=dict)
    tool: Tool | None = Field(default=None, exclude=True, repr=False)

    def load(self) -> list[Tool]:
        if self.tool is not None:
            return [self.tool]
        if ":" not in self.ref:
            return [load_builtin(self.ref, **self.settings)]
        if not self.settings:
            return [load_tool(self.ref)]
        made = import_attribute(self.ref)(**self.settings)
        tools = made if isinstance(made, list | tuple) else [made]
        if not tools or not all(isinstance(t, Tool) for t in tools):
            raise TypeError(f"'{self.ref}' with settings must return a Tool or a list of Tools")
        return list(tools)


def _tool_spec(value: Any) -> Any:
    """Accept ``"calculator"``, ``{"read_file": {"root": "."}}``, a Tool, or a ToolSpec (or its dict)."""
    if isinstance(value, Tool):
        return ToolSpec(ref=f"{getattr(value.fn, '__module__', '?')}:{value.name}", tool=value)
    if isinstance(value, str):
        return {"ref": value}
    if isinstance(value, dict) and len(value) == 1 and "ref" not in value:
        ((ref, settings),) = value.items()
        if settings is not None and not isinstance(settings, dict):
            raise ValueError(f"settings of tool '{ref}' must be a mapping, got {type(settings).__name__}")
        return {"ref": ref, "settings": settings or {}}
    return value


def _compact_tool_spec(spec: ToolSpec) -> str | dict[str, Any]:
    return {spec.ref: spec.settings} if spec.settings else spec.ref


ToolRef = Annotated[ToolSpec, BeforeValidator(_tool_spec), PlainSerializer(_compact_tool_spec)]
"""A tool in config: a name (``calculator``), a reference (``pkg.mod:fn``) or ``{name: {settings}}``."""


class DemoAction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class DemoStep(BaseModel):
    """One step of a demonstration; every step but the final ``finish`` has an observation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    thought: str
    action: DemoAction
    observation: str | None = None


class Demonstration(BaseModel):
    """A worked trajectory shown to the model before the question (few-shot ReAct)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    steps: list[DemoStep] = Field(min_length=1)


@register("react")
class ReAct(Step):
    """Answer ``input`` by thought -> action -> observation steps; writes the answer, trajectory and stop reason.

    ``trajectory`` lists every step (thought, action text, parsed action,
    validity, observation, timings); ``stop_reason`` is one of
    ``finish``, ``max_steps``, ``repeated_action``, ``context_length``.
    Demonstrations come from ``demonstrations`` and, when ``demos_field`` is
    set, from that record field (e.g. written by an ICL selector).
    """

    tools: list[ToolRef] = Field(default_factory=list)
    input: str = "question"
    output: str = "answer"
    system: str = DEFAULT_SYSTEM
    prompt: str = DEFAULT_PROMPT
    demonstrations: list[Demonstration] = Field(default_factory=list)
    demos_field: str | None = None
    thought_params: SamplingParams = SamplingParams(max_tokens=64, temperature=0.0, stop=("\n",))
    action_params: SamplingParams = SamplingParams(max_tokens=96, temperature=0.0)
    max_steps: int = Field(default=5, ge=1)
    max_repeats: int = Field(default=1, ge=0, description="identical repeated actions tolerated before the run stops")
    tool_timeout_s: float = Field(default=30.0, gt=0)
    max_observation_chars: int = Field(default=1500, ge=100)
    answer_max_chars: int | None = Field(default=None, ge=1, description="None: what fits in action_params.max_tokens")
    fallback: StepRef | None = None

    _tools: dict[str, Tool] = PrivateAttr(default_factory=dict)
    _constraint: Constraint | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self) -> ReAct:
        """Load the tools and check the demonstrations against them, so bad config fails at load time."""
        problems: list[tuple[Loc, str]] = []
        tools: dict[str, Tool] = {}
        for i, spec in enumerate(self.tools):
            try:
                loaded = spec.load()
            except (ValueError, TypeError, LookupError, ImportError, OSError, SyntaxError) as exc:
                problems.append(
                    (("tools", i), f"{type(exc).__name__}: {exc}" if isinstance(exc, ImportError) else str(exc))
                )
                continue
            for t in loaded:
                if t.name in tools:
                    problems.append((("tools", i), f"a tool named '{t.name}' is already listed"))
                tools[t.name] = t
        if not problems:
            for i, demo in enumerate(self.demonstrations):
                problems += [(("demonstrations", i, *loc), msg) for loc, msg in demo_problems(demo, tools.values())]
        if self.fallback is not None and self.output not in self.fallback.writes():
            problems.append((("fallback",), f"the fallback step must write '{self.output}'"))
        answer_chars = self.answer_max_chars or fitting_answer_chars(self.action_params.max_tokens)
        if answer_chars < MIN_ANSWER_CHARS:
            needed = MIN_ANSWER_CHARS - fitting_answer_chars(0)
            problems.append((("action_params", "max_tokens"), f"too small for a finish action; give at least {needed}"))
        if problems:
            raise ConfigError(problems)
        self._tools = tools
        self._constraint = Constraint.json_schema(bounded_answer(action_schema(tools.values()), answer_chars))
        return self

    @property
    def tool_map(self) -> dict[str, Tool]:
        """The tools loaded when the step was built (their names, descriptions and schemas)."""
        return dict(self._tools)

    def fresh_tools(self) -> dict[str, Tool]:
        """This run's tools: loaded again, so per-run state (a search session) is never shared between runs."""
        tools = {t.name: t for spec in self.tools for t in spec.load()}
        if tools.keys() != self._tools.keys():
            raise RuntimeError(f"tool factories returned {sorted(tools)}, expected {sorted(self._tools)}")
        return tools

    @property
    def constraint(self) -> Constraint:
        assert self._constraint is not None
        return self._constraint

    def reads(self, prompts: PromptLibrary) -> set[str]:
        extra = {self.demos_field} if self.demos_field else set()
        return (prompts.variables(self.prompt) - LOOP_VARIABLES) | {self.input} | extra

    def writes(self) -> set[str]:
        return {self.output, "trajectory", "stop_reason"}

    def tool_views(self) -> list[dict[str, str]]:
        """What the template shows of each tool: its signature and the first paragraph of its description."""
        views = [
            {"name": t.name, "signature": t.signature, "description": _first_paragraph(t.description)}
            for t in self._tools.values()
        ]
        views.append({"name": FINISH, "signature": f"{FINISH}(answer: string)", "description": FINISH_DESCRIPTION})
        return views

    def demonstration_views(self, record: Record) -> list[dict[str, Any]]:
        demos = list(self.demonstrations)
        if self.demos_field:
            picked = record.get(self.demos_field) or []
            demos += [d if isinstance(d, Demonstration) else Demonstration.model_validate(d) for d in picked]
        return [
            {"question": d.question,
             "steps": [{"thought": s.thought, "action": action_text(s.action.tool, s.action.args),
                        "observation": s.observation} for s in d.steps]}
            for d in demos
        ]  # fmt: skip

    async def process(self, record: Record, ctx: Context) -> Record:
        tools = self.fresh_tools()
        variables = {
            **record,
            "question": str(record[self.input]),
            "system": self.system,
            "tools": self.tool_views(),
            "demonstrations": self.demonstration_views(record),
            "steps": [],
        }
        trajectory: list[dict[str, Any]] = []
        done: dict[str, int] = {}  # canonical action -> the step that first ran it
        repeats = 0
        answer: str | None = None
        stop: str | None = None
        for number in range(1, self.max_steps + 1):
            step_ctx = ctx.child("agent_step", f"step {number}", step=number)
            try:
                entry = await self._think_and_act(step_ctx, variables, tools)
            except ContextLengthExceeded as exc:
                step_ctx.span.finish(error=exc)
                stop = "context_length"
                break
            entry["step"] = number
            action = entry.pop("_action")
            valid = isinstance(action, Action)
            # The same invalid text again counts as a repeat too: a deterministic decoder would loop on it.
            key = entry["action_text"] if valid else f"invalid: {entry['action_text']}"
            if isinstance(action, Action) and action.is_finish:
                answer, stop = action.answer, "finish"
            elif key in done:
                repeats += 1
                entry["repeated"] = True
                entry["observation"] = (
                    f"You already did this action in step {done[key]}; its observation is above. "
                    "Do something different, or finish." if valid
                    else f"{entry['observation']} (the same invalid action as in step {done[key]})"
                )
                if repeats > self.max_repeats:
                    stop = "repeated_action"
            else:
                done[key] = number
                if isinstance(action, Action):
                    entry.update(await self._call_tool(step_ctx, tools[action.tool], action))
            step_ctx.span.finish(
                thought=entry["thought"], action=entry["action_text"], observation=entry["observation"]
            )
            trajectory.append(entry)
            if stop is not None:
                break
            variables["steps"] = [*variables["steps"], self._transcript_step(entry)]
        stop = stop or "max_steps"
        ctx.annotate(stop_reason=stop, steps=len(trajectory), valid_actions=sum(e["valid"] for e in trajectory))
        if answer is None and self.fallback is not None:
            ctx.annotate(fallback=self.fallback.label)
            answer = (await self.fallback.run(record, ctx)).get(self.output)
        return {self.output: answer, "trajectory": trajectory, "stop_reason": stop}

    async def _think_and_act(self, ctx: Context, variables: dict[str, Any], tools: dict[str, Tool]) -> dict[str, Any]:
        """One thought and one decoded action; an invalid action comes back as data, with its error."""
        started = time.perf_counter()
        thought_ctx = ctx.child("thought", "thought")
        completion = await self._generate(thought_ctx, {**variables, "thought": None}, self.thought_params)
        thought = " ".join(completion.text.split())
        thought_ctx.span.finish(thought=thought)
        thought_s = time.perf_counter() - started

        action_ctx = ctx.child("action", "action")
        try:
            completion = await self._generate(
                action_ctx, {**variables, "thought": thought}, self.action_params, self.constraint
            )
            parsed: Action | ActionError = parse_action(completion.text, tools.values())
        except TruncatedOutput as exc:
            parsed = ActionError(
                message=f"the action was cut off after {self.action_params.max_tokens} tokens; write a shorter one",
                text=exc.text,
            )
        action_s = time.perf_counter() - started - thought_s
        entry: dict[str, Any] = {
            "thought": thought,
            "action_text": parsed.text if isinstance(parsed, ActionError) else action_text(parsed.tool, parsed.args),
            "action": parsed.model_dump() if isinstance(parsed, Action) else None,
            "valid": isinstance(parsed, Action),
            "error": parsed.message if isinstance(parsed, ActionError) else None,
            "observation": f"Invalid action: {parsed.message}" if isinstance(parsed, ActionError) else None,
            "thought_s": round(thought_s, 3),
            "action_s": round(action_s, 3),
        }
        # ("problem", not "error": Span.finish's error= marks the span failed; a rejected action is data.)
        action_ctx.span.finish(action=entry["action"], valid=entry["valid"], problem=entry["error"],
                               text=completion_text(parsed))
        return {**entry, "_action": parsed}

    async def _call_tool(self, ctx: Context, tool: Tool, action: Action) -> dict[str, Any]:
        tool_ctx = ctx.child("tool", action.tool, args=action.args)  # not **args: a tool may take "name" or "kind"
        result = await tool.call(action.args, timeout=self.tool_timeout_s)
        observation = _clip(result.observation, self.max_observation_chars)
        outputs: dict[str, Any] = {"ok": result.ok, "observation": observation, "latency_s": round(result.latency_s, 3)}
        if result.details:
            outputs["details"] = result.details
        tool_ctx.span.finish(**outputs)
        return {"observation": observation, "tool_ok": result.ok, "tool_s": round(result.latency_s, 3)}

    async def _generate(
        self, ctx: Context, variables: dict[str, Any], params: SamplingParams, constraint: Constraint | None = None
    ) -> Completion:
        template = ctx.prompts.get(self.prompt)
        if template.is_chat:
            return await ctx.chat(template.render_messages(**variables), params, constraint)
        # The prompt must end where the model continues ("Thought 2:"), not after the file's last newline.
        return await ctx.complete(template.render(**variables).rstrip("\n"), params, constraint)

    @staticmethod
    def _transcript_step(entry: dict[str, Any]) -> dict[str, str]:
        return {"thought": entry["thought"], "action": entry["action_text"], "observation": entry["observation"] or ""}


def fitting_answer_chars(max_tokens: int | None) -> int:
    """The longest finish answer (in characters) whose action surely fits in ``max_tokens``.

    A token holds at least one character, so an action of n characters takes at
    most n tokens; the rest of the action's text and a little whitespace slack
    are taken off. Without this bound a model that rambles in its answer is
    cut off by ``max_tokens`` and its action is lost (measured: 10 of 106
    HotpotQA steps with the 135M model before the bound, see docs/agents.md).
    """
    return (max_tokens or 0) - len(action_text(FINISH, {"answer": ""})) - WHITESPACE_SLACK


def bounded_answer(schema: dict[str, Any], max_chars: int) -> dict[str, Any]:
    """``schema`` (from ``action_schema``) with ``maxLength`` on the finish answer; the input is not changed."""
    branches = []
    for branch in schema["anyOf"]:
        if branch["properties"]["tool"].get("const") == FINISH:
            branch = copy.deepcopy(branch)
            branch["properties"]["args"]["properties"]["answer"]["maxLength"] = max_chars
        branches.append(branch)
    return {**schema, "anyOf": branches}


def action_text(tool: str, args: dict[str, Any]) -> str:
    """The canonical one-line JSON of an action, as the transcript shows it and the repeat check compares it."""
    return json.dumps({"tool": tool, "args": args}, ensure_ascii=False)


def completion_text(parsed: Action | ActionError) -> str:
    return parsed.text if isinstance(parsed, ActionError) else action_text(parsed.tool, parsed.args)


def demo_problems(demo: Demonstration, tools: Any) -> list[tuple[Loc, str]]:
    """Why a demonstration would teach the model a wrong action (empty when it is fine)."""
    problems: list[tuple[Loc, str]] = []
    last = len(demo.steps) - 1
    for j, step in enumerate(demo.steps):
        parsed = parse_action(action_text(step.action.tool, step.action.args), tools)
        if isinstance(parsed, ActionError):
            problems.append((("steps", j, "action"), parsed.message))
        elif parsed.is_finish != (j == last):
            where = "only the last step" if parsed.is_finish else "the last step"
            problems.append((("steps", j, "action"), f"{where} of a demonstration must be a '{FINISH}' action"))
        elif not parsed.is_finish and step.observation is None:
            problems.append((("steps", j), "a tool step needs the observation it produced"))
    return problems


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f" [... {len(text) - limit} more characters cut]"
