"""Tools a ReAct agent may call, and the JSON action format it calls them with.

A :class:`Tool` is a function plus what a model needs to call it: a name, a
description and a pydantic model of its arguments (derived from type hints and
defaults, or given). ``call`` never raises for a tool's own failures: bad
arguments, exceptions and timeouts all become ``ToolResult(ok=False)`` with an
error message the model can read and act on.

Actions are decoded under :func:`action_schema`, an ``anyOf`` with one object
per tool (``{"tool": {"const": name}, "args": <its schema>}``) plus ``finish``,
so vLLM's structured outputs (xgrammar or guidance) can only produce a known
tool with well-typed arguments. :func:`parse_action` checks the text again,
because a decode can still be cut off by ``max_tokens``.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import json
import re
import sys
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from agentkit.resources import resource_dir

FINISH = "finish"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# Schema keywords whose values are JSON data, not sub-schemas.
_DATA_KEYWORDS = {"default", "const", "enum", "examples"}


class ToolArgumentError(ValueError):
    """Arguments that do not fit a tool's argument model."""

    def __init__(self, tool: str, problems: list[str], signature: str) -> None:
        self.tool = tool
        self.problems = problems
        super().__init__(f"invalid arguments for tool '{tool}': {'; '.join(problems)}. Expected: {signature}")


class UnknownToolError(LookupError):
    """A tool name that is not registered; the message lists the ones that are."""

    def __init__(self, name: str, available: Iterable[str]) -> None:
        self.name = name
        names = ", ".join(sorted(available)) or "(none)"
        super().__init__(f"unknown tool '{name}'; available tools: {names}")


class ToolResult(BaseModel):
    """What one tool call produced: an output for the model, or an error it can act on.

    A tool may return a ``ToolResult`` itself to report failure or extra
    ``details`` (e.g. which sandbox isolation applied); ``call`` then only
    stamps the latency.
    """

    ok: bool
    output: str = ""
    error: str | None = None
    latency_s: float = 0.0
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def observation(self) -> str:
        """The text a ReAct loop shows the model after the call."""
        if self.ok:
            return self.output
        return f"Error: {self.error}" + (f"\n{self.output}" if self.output else "")


@dataclass(frozen=True)
class Tool:
    """A callable the agent may use: ``fn(**args)`` with arguments checked by ``args_model``."""

    name: str
    description: str
    args_model: type[BaseModel]
    fn: Callable[..., Any]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {_NAME.pattern}")
        if self.name == FINISH:
            raise ValueError(f"'{FINISH}' is reserved for the agent's final answer")

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        args_model: type[BaseModel] | None = None,
    ) -> Tool:
        """Build a tool from ``fn``; the argument model comes from its signature unless given."""
        summary, arg_docs = _split_docstring(inspect.getdoc(fn) or "")
        name = name or fn.__name__
        if args_model is None:
            args_model = _args_model_from_signature(fn, name, arg_docs)
        else:
            _check_model_fits(fn, args_model)
        return cls(name=name, description=description or summary, args_model=args_model, fn=fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the plain function, so a decorated function stays usable from Python."""
        return self.fn(*args, **kwargs)

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments, self-contained (no ``$ref``) and without titles."""
        schema = self.args_model.model_json_schema()
        inlined: dict[str, Any] = _inline_refs(schema, schema.get("$defs", {}), ())
        return inlined

    @property
    def signature(self) -> str:
        """A compact form for prompts and error messages, e.g. ``calculator(expression: string)``."""
        schema = self.json_schema()
        required = set(schema.get("required", []))
        parts = []
        for arg, sub in schema.get("properties", {}).items():
            part = f"{arg}: {_type_name(sub)}"
            if arg not in required and "default" in sub:
                part += f" = {json.dumps(sub['default'])}"
            parts.append(part)
        return f"{self.name}({', '.join(parts)})"

    def validate(self, args: Mapping[str, Any] | None) -> BaseModel:
        """Check ``args`` against the argument model; raise :class:`ToolArgumentError` if they do not fit."""
        if args is None:
            args = {}
        if not isinstance(args, Mapping):
            problem = f"arguments must be a JSON object, got {type(args).__name__}"
            raise ToolArgumentError(self.name, [problem], self.signature)
        try:
            return self.args_model.model_validate(dict(args))
        except ValidationError as error:
            raise ToolArgumentError(self.name, _describe_errors(error), self.signature) from None

    async def call(self, args: Mapping[str, Any] | None, timeout: float | None = 30.0) -> ToolResult:
        """Validate ``args``, run the tool within ``timeout`` seconds and report the outcome.

        Sync functions run in a worker thread; a timed-out thread cannot be
        stopped and finishes in the background (its result is dropped), so
        tools that start processes must clean them up on cancellation.
        """
        start = time.perf_counter()
        try:
            validated = self.validate(args)
        except ToolArgumentError as error:
            return ToolResult(ok=False, error=str(error), latency_s=time.perf_counter() - start)
        task = asyncio.ensure_future(self._invoke(validated))
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})  # let the tool's cleanup (e.g. killing a process) run
        latency = time.perf_counter() - start
        if not done:
            message = f"tool '{self.name}' did not finish within {timeout:g} s"
            return ToolResult(ok=False, error=message, latency_s=latency)
        if task.cancelled():
            return ToolResult(ok=False, error=f"tool '{self.name}' was cancelled", latency_s=latency)
        raised = task.exception()
        if raised is not None:
            return ToolResult(ok=False, error=f"{type(raised).__name__}: {raised}", latency_s=latency)
        value = task.result()
        if isinstance(value, ToolResult):
            return value.model_copy(update={"latency_s": latency})
        return ToolResult(ok=True, output=_render(value), latency_s=latency)

    async def _invoke(self, validated: BaseModel) -> Any:
        kwargs = {field: getattr(validated, field) for field in type(validated).model_fields}
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(**kwargs)
        return await asyncio.to_thread(self.fn, **kwargs)


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, args_model: type[BaseModel] | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    args_model: type[BaseModel] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a function into a :class:`Tool`: ``@tool`` or ``@tool(name=..., description=...)``."""
    if fn is not None:
        return Tool.from_function(fn)

    def decorate(f: Callable[..., Any]) -> Tool:
        return Tool.from_function(f, name=name, description=description, args_model=args_model)

    return decorate


class ToolRegistry:
    """The tools one agent may use, by name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.register(t)

    def register(self, item: Tool | Callable[..., Any]) -> Tool:
        """Add a tool (or a plain function, wrapped with :func:`tool`); names must be unique."""
        t = item if isinstance(item, Tool) else Tool.from_function(item)
        if t.name in self._tools:
            raise ValueError(f"a tool named '{t.name}' is already registered")
        self._tools[t.name] = t
        return t

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownToolError(name, self._tools) from None

    def load(self, spec: str) -> Tool:
        """Register a user tool given as ``"package.module:function"`` or ``"path/to/file.py:function"``."""
        return self.register(load_tool(spec))

    def builtin(self, name: str, **settings: Any) -> Tool:
        """Register a built-in tool from the bundled ``tools/`` folder, configured by ``settings``."""
        return self.register(load_builtin(name, **settings))

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools


def import_attribute(ref: str) -> Any:
    """The object named by ``"package.module:attribute"`` or ``"path/to/file.py:attribute"``."""
    module_part, sep, attribute = ref.rpartition(":")
    if not sep or not module_part or not attribute:
        raise ValueError(f"{ref!r} must look like 'package.module:function' or 'path/to/file.py:function'")
    if module_part.endswith(".py"):
        path = Path(module_part)
        module = _import_file(path, f"agentkit_user_tools.{path.stem}")
    else:
        module = importlib.import_module(module_part)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"{module_part} has no attribute '{attribute}' (from {ref!r})") from None


def load_tool(spec: str) -> Tool:
    """The tool named by ``"module:attribute"`` or ``"file.py:attribute"`` (a Tool or a function)."""
    found = import_attribute(spec)
    if isinstance(found, Tool):
        return found
    if callable(found):
        return Tool.from_function(found)
    raise TypeError(f"{spec!r} is a {type(found).__name__}, not a Tool or a function")


def builtin_names() -> list[str]:
    """Names of the built-in tools shipped in the ``tools/`` folder."""
    return sorted(p.stem for p in resource_dir("tools").glob("*.py") if not p.stem.startswith("_"))


def load_builtin(name: str, **settings: Any) -> Tool:
    """A built-in tool: ``TOOL`` from ``tools/<name>.py``, or ``<name>_tool(**settings)`` when configured."""
    available = builtin_names()
    if name not in available:
        raise UnknownToolError(name, available)
    module = _import_file(resource_dir("tools") / f"{name}.py", f"agentkit_tools.{name}")
    factory = getattr(module, f"{name}_tool", None)
    if settings:
        if factory is None:
            raise TypeError(f"built-in tool '{name}' takes no settings (got {', '.join(settings)})")
        configured: Tool = factory(**settings)
        return configured
    found = getattr(module, "TOOL", None) or getattr(module, name, None)
    if isinstance(found, Tool):
        return found
    if factory is not None:
        params = inspect.signature(factory).replace(return_annotation=inspect.Signature.empty)
        raise TypeError(f"built-in tool '{name}' needs settings: {name}_tool{params}")
    raise TypeError(f"{module.__file__} defines neither TOOL nor a @tool function named '{name}'")


class Action(BaseModel):
    """One decoded step: call ``tool`` with ``args``, or ``finish`` with ``args["answer"]``."""

    tool: str
    args: dict[str, Any]

    @property
    def is_finish(self) -> bool:
        return self.tool == FINISH

    @property
    def answer(self) -> str | None:
        return self.args["answer"] if self.is_finish else None


class ActionError(BaseModel):
    """Why a decoded text is not a valid action; ``message`` is written for the model."""

    message: str
    text: str


_FINISH_ARGS: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


def action_schema(tools: Iterable[Tool], max_string_length: int | None = None) -> dict[str, Any]:
    """The JSON schema of one action: an ``anyOf`` with one closed object per tool, plus ``finish``.

    Grammar-constrained JSON is only guaranteed complete if it ends before
    ``max_tokens``; a small model can ramble inside a string until it is cut
    off. ``max_string_length`` caps every string without its own ``maxLength``
    or ``pattern``, so choosing ``max_tokens`` well above it (escapes and
    whitespace need tokens too) makes every decode close.
    """
    branches = []
    seen: set[str] = set()
    for t in tools:
        if t.name in seen:
            raise ValueError(f"two tools are named '{t.name}'")
        seen.add(t.name)
        branches.append(_action_branch(t.name, t.json_schema()))
    branches.append(_action_branch(FINISH, _FINISH_ARGS))
    schema = {"anyOf": branches}
    return schema if max_string_length is None else _cap_strings(schema, max_string_length)


def parse_action(text: str, tools: Iterable[Tool]) -> Action | ActionError:
    """Check a decoded action; problems come back as an :class:`ActionError`, never raised."""
    by_name = {t.name: t for t in tools}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        cut_off = error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string")
        hint = " (the output looks cut off; allow more max_tokens)" if cut_off else ""
        message = f"the action is not valid JSON: {error.msg} at position {error.pos}{hint}"
        return ActionError(message=message, text=text)
    if not isinstance(data, dict) or set(data) != {"tool", "args"}:
        return ActionError(message='an action must be a JSON object with exactly the keys "tool" and "args"', text=text)
    name, args = data["tool"], data["args"]
    if not isinstance(args, dict):
        return ActionError(message=f'"args" must be a JSON object, got {type(args).__name__}', text=text)
    if name == FINISH:
        if set(args) != {"answer"} or not isinstance(args["answer"], str):
            return ActionError(message='"finish" takes exactly one argument, "answer" (a string)', text=text)
        return Action(tool=FINISH, args=args)
    if not isinstance(name, str) or name not in by_name:
        return ActionError(message=str(UnknownToolError(str(name), [*by_name, FINISH])), text=text)
    try:
        by_name[name].validate(args)
    except ToolArgumentError as error:
        return ActionError(message=str(error), text=text)
    return Action(tool=name, args=args)


def _action_branch(name: str, args_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"tool": {"const": name}, "args": args_schema},
        "required": ["tool", "args"],
        "additionalProperties": False,
    }


def _args_model_from_signature(fn: Callable[..., Any], name: str, arg_docs: dict[str, str]) -> type[BaseModel]:
    hints = _type_hints(fn)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(f"tool '{name}': parameter '{param.name}' must be a plain or keyword argument")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints.get(param.name, Any), Field(default, description=arg_docs.get(param.name)))
    model_name = "".join(part.capitalize() for part in re.split(r"[_-]", name)) + "Args"
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except NameError as error:
        raise TypeError(f"cannot resolve the type hints of {fn.__qualname__}: {error}") from None


def _check_model_fits(fn: Callable[..., Any], model: type[BaseModel]) -> None:
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    fields = set(model.model_fields)
    missing = [p.name for p in params.values() if p.default is p.empty and p.name not in fields]
    unknown = sorted(fields - set(params))
    if missing or unknown:
        raise TypeError(
            f"{model.__name__} does not fit {fn.__qualname__}: "
            f"parameters without a field: {missing or 'none'}; fields without a parameter: {unknown or 'none'}"
        )


def _split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The text before a Google-style ``Args:`` section, and the per-argument descriptions in it."""
    lines = doc.splitlines()
    if "Args:" not in (line.strip() for line in lines):
        return doc.strip(), {}
    start = [line.strip() for line in lines].index("Args:")
    args: dict[str, str] = {}
    indent: int | None = None
    current = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if depth == 0:
            break
        indent = depth if indent is None else indent
        match = re.match(r"(\w+)\s*(?:\(.*?\))?:\s*(.*)", line.strip())
        if depth == indent and match:
            current = match[1]
            args[current] = match[2]
        elif current:
            args[current] += " " + line.strip()
    return "\n".join(lines[:start]).strip(), args


def _inline_refs(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """Replace ``$ref`` by the definition it points to and drop titles, so the schema can be nested anywhere."""
    if isinstance(node, list):
        return [_inline_refs(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"].rsplit("/", 1)[-1]
        if ref in seen:
            raise TypeError(f"recursive argument type '{ref}' cannot be decoded as a tool argument")
        target = {**defs[ref], **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline_refs(target, defs, (*seen, ref))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "properties":
            out[key] = {prop: _inline_refs(sub, defs, seen) for prop, sub in value.items()}
        elif key in _DATA_KEYWORDS:
            out[key] = value
        else:
            out[key] = _inline_refs(value, defs, seen)
    return out


def _cap_strings(node: Any, limit: int) -> Any:
    if isinstance(node, list):
        return [_cap_strings(item, limit) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {prop: _cap_strings(sub, limit) for prop, sub in value.items()}
        else:
            out[key] = value if key in _DATA_KEYWORDS else _cap_strings(value, limit)
    if out.get("type") == "string" and "pattern" not in out:  # xgrammar cannot combine pattern and length
        out.setdefault("maxLength", limit)
    return out


def _type_name(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "type" in schema:
        kind = schema["type"]
        if kind == "array" and isinstance(schema.get("items"), dict):
            return f"array[{_type_name(schema['items'])}]"
        return kind if isinstance(kind, str) else " | ".join(kind)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type_name(s) for s in schema[key])
    return "any"


def _describe_errors(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        if item["type"] == "missing":
            problems.append(f"missing required argument '{where}'")
        elif item["type"] == "extra_forbidden":
            problems.append(f"unexpected argument '{where}'")
        else:
            shown = repr(item["input"])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            problems.append(f"'{where}': {item['msg']} (got {shown})")
    return problems


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _import_file(path: Path, module_name: str) -> ModuleType:
    """Import a Python file by path (registered in sys.modules so pydantic can resolve its annotations)."""
    if module_name in sys.modules and getattr(sys.modules[module_name], "__file__", None) == str(path):
        return sys.modules[module_name]
    if not path.is_file():
        raise FileNotFoundError(f"no tool file at {path}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
