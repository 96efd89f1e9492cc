"""Tools, the registry and the action format a ReAct loop decodes and parses."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

import jsonschema
import pytest
from pydantic import BaseModel, ConfigDict, Field

import agentkit
from agentkit.agents.tool import (
    Action,
    ActionError,
    Tool,
    ToolArgumentError,
    ToolRegistry,
    ToolResult,
    UnknownToolError,
    action_schema,
    builtin_names,
    load_builtin,
    parse_action,
    tool,
)
from agentkit.llm.client import AsyncLLMClient
from agentkit.llm.errors import TruncatedOutput
from agentkit.llm.types import Constraint, SamplingParams
from agentkit.resources import resource_dir


@tool
def search_books(
    query: str, limit: int = 5, sort: Literal["title", "year"] = "title", author: str | None = None
) -> list[str]:
    """Find books whose title matches a query.

    Args:
        query: words to look for in titles
        limit: at most this many results,
            counted after sorting
    """
    return [f"{query} #{i}" for i in range(limit)]


class Location(BaseModel):
    city: str
    country: str = "NL"


class WeatherArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    where: Location
    days: int = Field(1, ge=1, le=7, description="forecast length")


def forecast(where: Location, days: int) -> dict[str, object]:
    """Weather forecast for a place."""
    return {"city": where.city, "days": days}


WEATHER = Tool.from_function(forecast, args_model=WeatherArgs)


@tool(name="fail", description="Always fails.")
def failing(reason: str) -> str:
    raise ValueError(f"cannot do it: {reason}")


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


# -- schema derivation --------------------------------------------------------


def test_schema_from_type_hints_and_defaults() -> None:
    schema = search_books.json_schema()
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["query"]
    props = schema["properties"]
    assert props["query"] == {"type": "string", "description": "words to look for in titles"}
    assert props["limit"]["type"] == "integer" and props["limit"]["default"] == 5
    assert props["limit"]["description"] == "at most this many results, counted after sorting"
    assert props["sort"]["enum"] == ["title", "year"]
    assert {"type": "null"} in props["author"]["anyOf"]
    assert search_books.name == "search_books"
    assert search_books.description == "Find books whose title matches a query."
    assert search_books.signature == (
        "search_books(query: string, limit: integer = 5, "
        'sort: "title" | "year" = "title", author: string | null = null)'
    )


def test_schema_from_pydantic_model_is_self_contained() -> None:
    schema = WEATHER.json_schema()
    assert "$ref" not in json.dumps(schema) and "$defs" not in schema and "title" not in schema
    assert schema["additionalProperties"] is False
    where = schema["properties"]["where"]
    assert where["required"] == ["city"] and "additionalProperties" not in where  # the model ignores extra keys
    assert schema["properties"]["days"] == {
        "default": 1,
        "description": "forecast length",
        "maximum": 7,
        "minimum": 1,
        "type": "integer",
    }
    jsonschema.Draft202012Validator.check_schema(schema)


def test_a_property_named_title_survives_title_stripping() -> None:
    @tool
    def rename(title: str) -> str:
        """Rename."""
        return title

    assert rename.json_schema()["properties"] == {"title": {"type": "string"}}


def test_explicit_model_must_fit_the_function() -> None:
    with pytest.raises(TypeError, match="fields without a parameter"):
        Tool.from_function(lambda where: where, args_model=WeatherArgs)


def test_tool_names_are_checked_and_finish_is_reserved() -> None:
    with pytest.raises(ValueError, match="reserved"):
        tool(name="finish")(lambda answer: answer)
    with pytest.raises(ValueError, match="must match"):
        tool(name="two words")(lambda x: x)


def test_varargs_cannot_become_arguments() -> None:
    with pytest.raises(TypeError, match="plain or keyword"):
        tool(lambda *values: values)


def test_decorated_function_stays_callable() -> None:
    assert search_books("x", limit=2) == ["x #0", "x #1"]


# -- validation ---------------------------------------------------------------


def test_validate_coerces_and_fills_defaults() -> None:
    args = WEATHER.validate({"where": {"city": "Delft"}})
    assert args.where == Location(city="Delft") and args.days == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, "missing required argument 'query'"),
        ({"query": "x", "limit": "many"}, "'limit': Input should be a valid integer"),
        ({"query": "x", "colour": "red"}, "unexpected argument 'colour'"),
        ({"query": "x", "sort": "price"}, "'sort': Input should be 'title' or 'year'"),
        (["x"], "arguments must be a JSON object, got list"),
    ],
)
def test_validation_errors_say_what_is_wrong(args: object, expected: str) -> None:
    with pytest.raises(ToolArgumentError) as caught:
        search_books.validate(args)  # type: ignore[arg-type]
    message = str(caught.value)
    assert expected in message
    assert "Expected: search_books(query: string" in message


def test_nested_validation_error_points_at_the_field() -> None:
    with pytest.raises(ToolArgumentError, match=r"'days': Input should be less than or equal to 7"):
        WEATHER.validate({"where": {"city": "Delft"}, "days": 30})
    with pytest.raises(ToolArgumentError, match=r"missing required argument 'where.city'"):
        WEATHER.validate({"where": {}})


# -- calling --------------------------------------------------------------------


async def test_call_runs_sync_tool_and_renders_output() -> None:
    result = await WEATHER.call({"where": {"city": "Delft"}, "days": 2})
    assert result.ok and result.error is None
    assert json.loads(result.output) == {"city": "Delft", "days": 2}
    assert result.latency_s > 0


async def test_call_runs_async_tool() -> None:
    @tool
    async def shout(text: str) -> str:
        """Upper-case a text."""
        await asyncio.sleep(0)
        return text.upper()

    result = await shout.call({"text": "hi"})
    assert result == ToolResult(ok=True, output="HI", latency_s=result.latency_s)


async def test_raising_tool_becomes_an_observation() -> None:
    result = await failing.call({"reason": "no disk"})
    assert not result.ok
    assert result.error == "ValueError: cannot do it: no disk"
    assert result.observation == "Error: ValueError: cannot do it: no disk"


async def test_bad_arguments_become_an_observation() -> None:
    result = await failing.call({"why": 1})
    assert not result.ok
    assert result.error is not None and "missing required argument 'reason'" in result.error


async def test_async_tool_is_cancelled_at_the_timeout() -> None:
    cleaned_up = asyncio.Event()

    @tool
    async def slow() -> str:
        """Never finishes in time."""
        try:
            await asyncio.sleep(60)
        finally:
            cleaned_up.set()
        return "done"

    result = await slow.call({}, timeout=0.05)
    assert not result.ok
    assert result.error == "tool 'slow' did not finish within 0.05 s"
    assert cleaned_up.is_set()


async def test_sync_tool_times_out() -> None:
    import threading

    release = threading.Event()

    @tool
    def blocked() -> str:
        """Waits for an event that comes too late."""
        release.wait(10)
        return "done"

    result = await blocked.call({}, timeout=0.05)
    release.set()
    assert not result.ok and result.error == "tool 'blocked' did not finish within 0.05 s"


async def test_tool_may_return_its_own_result() -> None:
    @tool
    def partial() -> ToolResult:
        """Reports a failure with details."""
        return ToolResult(ok=False, output="half", error="exit code 3", details={"exit_code": 3})

    result = await partial.call({})
    assert (result.ok, result.output, result.error, result.details) == (False, "half", "exit code 3", {"exit_code": 3})
    assert result.latency_s > 0
    assert result.observation == "Error: exit code 3\nhalf"


# -- registry and resources -----------------------------------------------------


def test_registry_registers_and_looks_up() -> None:
    registry = ToolRegistry([search_books])
    registry.register(forecast)
    assert registry.names == ["search_books", "forecast"]
    assert registry.get("forecast").description == "Weather forecast for a place."
    assert "forecast" in registry and len(registry) == 2
    with pytest.raises(ValueError, match="already registered"):
        registry.register(search_books)
    with pytest.raises(UnknownToolError, match="unknown tool 'forcast'; available tools: forecast, search_books"):
        registry.get("forcast")


def test_registry_loads_user_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_agent_tools.py").write_text(
        "from agentkit.agents.tool import tool\n\n"
        "def shout(text: str) -> str:\n    '''Upper-case.'''\n    return text.upper()\n\n"
        "@tool(name='whisper')\ndef lower(text: str) -> str:\n    return text.lower()\n\n"
        "NOT_A_TOOL = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = ToolRegistry()
    assert registry.load("my_agent_tools:shout").name == "shout"
    assert registry.load(f"{tmp_path / 'my_agent_tools.py'}:lower").name == "whisper"
    assert registry.get("whisper")("HI") == "hi"
    with pytest.raises(TypeError, match="not a Tool or a function"):
        registry.load("my_agent_tools:NOT_A_TOOL")
    with pytest.raises(ValueError, match="has no attribute 'missing'"):
        registry.load("my_agent_tools:missing")
    with pytest.raises(ValueError, match="must look like"):
        registry.load("my_agent_tools")


def test_builtins_load_from_the_tools_folder() -> None:
    assert {"calculator", "python", "read_file"} <= set(builtin_names())
    assert "_sandbox" not in builtin_names()
    registry = ToolRegistry()
    calculator = registry.builtin("calculator")
    assert calculator.signature == "calculator(expression: string)"
    assert calculator.fn.__module__ == "agentkit_tools.calculator"
    assert registry.builtin("read_file", root="/tmp").name == "read_file"
    with pytest.raises(TypeError, match="takes no settings"):
        load_builtin("calculator", precision=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'no_such_limit'"):
        load_builtin("python", no_such_limit=1)
    with pytest.raises(UnknownToolError, match="unknown tool 'web'; available tools: calculator"):
        registry.builtin("web")


def test_builtin_without_defaults_asks_for_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "needy.py").write_text(
        "from agentkit.agents.tool import Tool, tool\n\n"
        "def needy_tool(root: str) -> Tool:\n"
        "    @tool(name='needy')\n"
        "    def needy() -> str:\n"
        "        return root\n\n"
        "    return needy\n"
    )
    monkeypatch.setattr("agentkit.agents.tool.resource_dir", lambda name: tmp_path)
    assert builtin_names() == ["needy"]
    assert load_builtin("needy", root="/data").fn() == "/data"
    with pytest.raises(TypeError, match=r"built-in tool 'needy' needs settings: needy_tool\(root: str\)$"):
        load_builtin("needy")


def test_resource_dir_prefers_the_bundled_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (resource_dir("tools") / "calculator.py").is_file()  # the source checkout
    package = tmp_path / "site" / "agentkit"
    package.mkdir(parents=True)
    monkeypatch.setattr(agentkit, "__file__", str(package / "__init__.py"))
    assert resource_dir("tools") == tmp_path / "site" / "tools"
    (package / "_bundled" / "tools").mkdir(parents=True)
    assert resource_dir("tools") == package / "_bundled" / "tools"


# -- the action format -------------------------------------------------------------


TOOLS = [search_books, WEATHER]


def _validator() -> jsonschema.Draft202012Validator:
    schema = action_schema(TOOLS)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    "action",
    [
        {"tool": "search_books", "args": {"query": "dune"}},
        {"tool": "search_books", "args": {"query": "dune", "limit": 2, "sort": "year", "author": None}},
        {"tool": "forecast", "args": {"where": {"city": "Delft", "country": "NL"}, "days": 3}},
        {"tool": "finish", "args": {"answer": "42"}},
    ],
)
def test_action_schema_accepts_good_actions(action: dict[str, object]) -> None:
    _validator().validate(action)
    assert isinstance(parse_action(json.dumps(action), TOOLS), Action)


@pytest.mark.parametrize(
    "action",
    [
        {"tool": "delete_everything", "args": {}},
        {"tool": "search_books", "args": {"query": 3}},
        {"tool": "search_books", "args": {"query": "dune", "limit": "two"}},
        {"tool": "search_books", "args": {"query": "dune", "colour": "red"}},
        {"tool": "search_books", "args": {}},
        {"tool": "search_books", "args": {"query": "dune"}, "thought": "hmm"},
        {"tool": "search_books"},
        {"tool": "forecast", "args": {"where": {"city": "Delft"}, "hours": 30}},
        {"tool": "forecast", "args": {"where": {"city": "Delft"}, "days": 30}},
        {"tool": "finish", "args": {}},
        {"tool": "finish", "args": {"answer": 42}},
        {"tool": "finish", "args": {"answer": "42", "confidence": 1}},
        ["finish", "42"],
    ],
)
def test_action_schema_and_parse_action_reject_bad_actions(action: object) -> None:
    assert not _validator().is_valid(action)
    assert isinstance(parse_action(json.dumps(action), TOOLS), ActionError)


def test_action_schema_is_one_closed_branch_per_tool_plus_finish() -> None:
    schema = action_schema(TOOLS)
    assert [b["properties"]["tool"] for b in schema["anyOf"]] == [
        {"const": "search_books"},
        {"const": "forecast"},
        {"const": "finish"},
    ]
    for branch in schema["anyOf"]:
        assert branch["required"] == ["tool", "args"] and branch["additionalProperties"] is False
    with pytest.raises(ValueError, match="two tools are named"):
        action_schema([search_books, search_books])


def test_max_string_length_caps_every_free_string() -> None:
    @tool
    def code(
        source: str, lines: list[str], tag: Annotated[str, Field(pattern="^[a-z]+$")], note: str | None = None
    ) -> str:
        """Takes strings."""
        return source

    schema = action_schema([code], max_string_length=50)
    props = schema["anyOf"][0]["properties"]["args"]["properties"]
    assert props["source"]["maxLength"] == 50 and props["lines"]["items"]["maxLength"] == 50
    assert "maxLength" not in props["tag"]  # a pattern keeps its own bound
    assert {"type": "string", "maxLength": 50} in props["note"]["anyOf"]
    assert schema["anyOf"][1]["properties"]["args"]["properties"]["answer"]["maxLength"] == 50
    assert schema["anyOf"][1]["properties"]["tool"] == {"const": "finish"}
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"tool": "finish", "args": {"answer": "a" * 50}})
    assert not validator.is_valid({"tool": "finish", "args": {"answer": "a" * 51}})


def test_parse_action_explains_each_problem() -> None:
    cut = parse_action('{"tool": "search_books", "args": {"query": "du', TOOLS)
    assert isinstance(cut, ActionError) and "not valid JSON" in cut.message and "cut off" in cut.message
    unknown = parse_action('{"tool": "web", "args": {}}', TOOLS)
    assert isinstance(unknown, ActionError)
    assert unknown.message == "unknown tool 'web'; available tools: finish, forecast, search_books"
    wrong = parse_action('{"tool": "search_books", "args": {"query": "x", "limit": "two"}}', TOOLS)
    assert isinstance(wrong, ActionError) and "'limit': Input should be a valid integer" in wrong.message
    assert wrong.text.startswith('{"tool"')
    shape = parse_action('{"tool": "search_books", "args": "dune"}', TOOLS)
    assert isinstance(shape, ActionError) and shape.message == '"args" must be a JSON object, got str'
    done = parse_action('  {"tool": "finish", "args": {"answer": "Paris"}}\n', TOOLS)
    assert isinstance(done, Action) and done.is_finish and done.answer == "Paris"


# -- against the real server ---------------------------------------------------------


@pytest.mark.llm
async def test_vllm_decodes_valid_actions_under_the_schema(client: AsyncLLMClient) -> None:
    registry = ToolRegistry()
    for name in ("calculator", "python", "read_file"):
        registry.builtin(name)
    schema = action_schema(registry, max_string_length=120)
    tool_lines = "\n".join(f"- {t.signature}: {t.description.splitlines()[0]}" for t in registry)
    messages = [
        {
            "role": "system",
            "content": "You are an agent. Answer with one JSON action: "
            '{"tool": NAME, "args": {...}}. Tools:\n'
            f"{tool_lines}\n"
            "- finish(answer: string): give the final answer",
        },
        {"role": "user", "content": "What is 17 * 23, and how many lines does notes.txt have?"},
    ]
    params = SamplingParams(temperature=0.8, max_tokens=400)

    async def decode() -> str:
        try:
            return (await client.chat(messages, params, Constraint.json_schema(schema))).text
        except TruncatedOutput as error:
            return error.text  # counted as a failure below: a cut-off action does not parse

    texts = await asyncio.gather(*(decode() for _ in range(10)))
    validator = jsonschema.Draft202012Validator(schema)
    actions = [parse_action(text, registry) for text in texts]
    print("decoded actions:", *texts, sep="\n  ")
    print("tools chosen:", Counter(a.tool if isinstance(a, Action) else "INVALID" for a in actions))
    for text, action in zip(texts, actions, strict=True):
        assert isinstance(action, Action), (text, action)
        validator.validate(json.loads(text))
