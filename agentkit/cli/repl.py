"""``agentkit repl [AGENT.yaml]``: ask an agent questions, or chat with the model, interactively.

With an agent file each line is a question for the agent, whose thoughts,
actions and observations print as they happen. Without one it is a plain chat
that keeps the conversation, with the reply streamed token by token. Input
history persists across sessions (``$AGENTKIT_HOME/repl_history``); Esc-Enter
(or a line ending in ``\\``) continues the input on a new line. Ctrl-C stops
the running generation and returns to the prompt; Ctrl-D exits. ``/help``
lists the commands.

The chat reply is streamed over the server's SSE endpoint directly (the client
has no streaming call); the request is still recorded as an ``llm`` span, so
``/trace``, ``/prompt`` and ``/save`` show it like any other call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self, TypeVar

if TYPE_CHECKING:
    from agentkit.agents.react import ReAct
    from agentkit.cli.run import Runnable
    from agentkit.core.trace import Span
    from agentkit.llm.client import AsyncLLMClient
    from agentkit.llm.types import SamplingParams

HELP = """\
Type a question (an agent) or a message (plain chat). Esc-Enter or a trailing \\ continues on a new line.
  /trace          the last run's trace
  /prompt         the exact last prompt sent to the model
  /demos          the agent's demonstrations
  /tools          the agent's tools
  /set [KEY VAL]  show or change a setting, e.g. /set temperature 0.2, /set max_steps 3
  /agent FILE     load an agent spec (or pipeline YAML); /agent alone goes back to plain chat
  /reset          forget the conversation and traces
  /save FILE      write the conversation and traces as JSONL
  /help           this text
Ctrl-C stops a running generation; Ctrl-D (or /exit) quits."""


CHAT_DEFAULTS: dict[str, Any] = {"temperature": 0.7, "max_tokens": 256, "top_p": None, "seed": None, "system": None}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "repl",
        help="interactive agent or chat session",
        description="Ask an agent questions (or chat with the model) interactively. /help inside lists commands.",
    )
    parser.add_argument("agent", nargs="?", metavar="AGENT.yaml", help="an agent spec; plain chat without one")
    parser.add_argument("--url", help="the server's base URL (default: the spec's llm.url, else AGENTKIT_LLM_URL)")
    parser.add_argument("--start-server", action="store_true", help="start the embedded model without asking "
                        "when no server answers")
    parser.set_defaults(func=_repl)


def history_path() -> Path:
    from agentkit.llm.model import agentkit_home

    return agentkit_home() / "repl_history"


class Repl:
    """The session's state and commands, independent of the terminal (tests drive ``handle`` directly)."""

    def __init__(self, llm: AsyncLLMClient, out: IO[str] | None = None) -> None:
        self.llm = llm
        self.out = out or sys.stdout
        self.runnable: Runnable | None = None
        self.chat_settings = dict(CHAT_DEFAULTS)
        self.messages: list[dict[str, str]] = []
        self.turns: list[dict[str, Any]] = []
        self.last_trace: Span | None = None

    @property
    def prompt_text(self) -> str:
        return f"{self.runnable.step.label}> " if self.runnable else "chat> "

    def say(self, text: str = "", end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    def use(self, path: str | None) -> None:
        """Load an agent (or pipeline) file; ``None`` returns to plain chat."""
        from agentkit.cli.run import load_runnable

        self.runnable = load_runnable(path) if path else None
        if self.runnable is None:
            self.say("plain chat with the model")
            return
        react = self._react()
        tools = react.tool_map if react else {}
        self.say(f"agent {self.runnable.step.label}" + (f" (tools: {', '.join(tools)})" if tools else ""))

    async def handle(self, line: str) -> bool:
        """Run one input line; False means the session should end."""
        text = line.strip()
        if not text:
            return True
        if text.startswith("/"):
            return self.command(text)
        await self.ask(line.strip("\n"))
        return True

    # --- commands ------------------------------------------------------------------

    def command(self, text: str) -> bool:
        name, _, rest = text.partition(" ")
        rest = rest.strip()
        handlers: dict[str, Callable[[str], None]] = {
            "/help": lambda _: self.say(HELP),
            "/trace": self._trace,
            "/prompt": self._prompt,
            "/demos": self._demos,
            "/tools": self._tools,
            "/set": self._set,
            "/agent": self._agent,
            "/reset": self._reset,
            "/save": self._save,
        }
        if name in ("/exit", "/quit"):
            return False
        handler = handlers.get(name)
        if handler is None:
            self.say(f"unknown command {name}; /help lists the commands")
            return True
        try:
            handler(rest)
        except Exception as exc:  # a bad argument must not end the session
            self.say(f"error: {exc}")
        return True

    def _trace(self, _: str) -> None:
        self.say(self.last_trace.render() if self.last_trace else "no run yet")

    def _prompt(self, _: str) -> None:
        calls = self.last_trace.find("llm") if self.last_trace else []
        if not calls:
            self.say("no prompt sent yet")
            return
        inputs = calls[-1].inputs
        if "messages" in inputs:
            self.say("\n".join(f"=== {m['role']} ===\n{m['content']}" for m in inputs["messages"]))
        else:
            self.say(str(inputs.get("prompt", inputs)))

    def _demos(self, _: str) -> None:
        step = self._react()
        views = step.demonstration_views({}) if step else []
        if not views:
            self.say("no demonstrations")
        for demo in views:
            self.say(f"Question: {demo['question']}")
            for i, s in enumerate(demo["steps"], 1):
                self.say(f"Thought {i}: {s['thought']}\nAction {i}: {s['action']}")
                if s["observation"] is not None:
                    self.say(f"Observation {i}: {s['observation']}")
            self.say()

    def _tools(self, _: str) -> None:
        step = self._react()
        views = step.tool_views() if step else []
        self.say("\n".join(f"{v['signature']}: {v['description']}" for v in views) or "no tools (plain chat)")

    def _react(self) -> ReAct | None:
        from agentkit.agents.react import ReAct

        step = self.runnable.step if self.runnable else None
        return step if isinstance(step, ReAct) else None

    def _set(self, rest: str) -> None:
        import yaml

        current = self.runnable.spec.settings() if self.runnable and self.runnable.spec else self.chat_settings
        if not rest:
            self.say("\n".join(f"{k} = {v}" for k, v in current.items()))
            return
        key, _, raw = rest.partition(" ")
        value = yaml.safe_load(raw) if raw.strip() else None
        if self.runnable and self.runnable.spec:
            spec = self.runnable.spec.with_settings(**{key: value})
            self.runnable = replace(self.runnable, spec=spec, step=spec.step)
        elif self.runnable:
            raise ValueError("a pipeline has no settings here; change them in its YAML")
        else:
            self.chat_settings = _checked_chat_settings({**self.chat_settings, key: value})
            value = self.chat_settings[key]
        self.say(f"{key} = {value}")

    def _agent(self, rest: str) -> None:
        self.use(rest or None)
        self.messages = []

    def _reset(self, _: str) -> None:
        self.messages, self.turns, self.last_trace = [], [], None
        self.say("conversation and traces cleared")

    def _save(self, rest: str) -> None:
        if not rest:
            raise ValueError("give a file name: /save FILE")
        with open(rest, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(turn, ensure_ascii=False, default=repr) + "\n" for turn in self.turns)
        self.say(f"{len(self.turns)} messages written to {rest}")

    # --- asking --------------------------------------------------------------------

    async def ask(self, text: str) -> None:
        from agentkit.core.trace import Span

        agent = self.runnable.step.label if self.runnable else None
        self.last_trace = None
        self.turns.append({"role": "user", "content": text, **({"agent": agent} if agent else {})})
        reply: dict[str, Any] = {"role": "assistant", "content": None}
        try:
            if self.runnable:
                reply.update(await self._ask_agent(text))
            else:
                self.last_trace = Span("run", "chat")
                reply["content"] = await self._chat(text, self.last_trace)
        except asyncio.CancelledError:
            reply["interrupted"] = True
            raise
        finally:
            if self.last_trace is not None:
                self.last_trace.finish()
                reply["trace"] = self.last_trace.to_dict()
            self.turns.append(reply)

    async def _ask_agent(self, text: str) -> dict[str, Any]:
        from agentkit.cli.run import TracePrinter, new_fields
        from agentkit.core.context import Context
        from agentkit.core.trace import Span

        assert self.runnable is not None
        record = self._record(text)
        root = self.last_trace = Span("run", self.runnable.step.label, listener=TracePrinter(self.out))
        result = await self.runnable.step.run(record, Context(llm=self.llm, span=root, prompts=self.runnable.prompts))
        output = new_fields(result, record)
        field = self.runnable.output_field
        if field and field in output:
            answer = output[field]
            shown = f"no answer ({output.get('stop_reason', 'unknown')})" if answer is None else answer
            self.say(f"answer: {shown}")
            return {"content": answer, "output": output}
        for key, value in output.items():
            self.say(f"{key}: {value}")
        return {"content": json.dumps(output, ensure_ascii=False, default=repr), "output": output}

    def _record(self, text: str) -> dict[str, Any]:
        assert self.runnable is not None
        if self.runnable.input_field:
            return {self.runnable.input_field: text}
        record = json.loads(text)
        if not isinstance(record, dict):
            raise TypeError("this pipeline reads several fields: type a JSON object")
        return record

    async def _chat(self, text: str, root: Span) -> str:
        system = self.chat_settings["system"]
        messages = [*([{"role": "system", "content": system}] if system else []), *self.messages,
                    {"role": "user", "content": text}]
        reply = await stream_chat(self.llm, root, messages, _chat_params(self.chat_settings),
                                  lambda piece: self.say(piece, end=""))
        self.say()
        self.messages += [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]
        return reply


def _checked_chat_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Chat settings validated like an agent's LLM settings (the same bounds), plus an optional system prompt."""
    from agentkit.agents.spec import LLMSettings

    unknown = set(settings) - set(CHAT_DEFAULTS)
    if unknown:
        raise ValueError(f"not a setting: {', '.join(sorted(unknown))}; settings: {', '.join(CHAT_DEFAULTS)}")
    if settings["system"] is not None and not isinstance(settings["system"], str):
        raise ValueError("system must be a text")
    sampling = LLMSettings.model_validate({k: v for k, v in settings.items() if k != "system"})
    return {**sampling.model_dump(include=set(CHAT_DEFAULTS)), "system": settings["system"]}


def _chat_params(settings: dict[str, Any]) -> SamplingParams:
    from agentkit.llm.types import SamplingParams

    return SamplingParams(**{k: v for k, v in settings.items() if k != "system"})


async def stream_chat(llm: AsyncLLMClient, parent: Span, messages: Sequence[dict[str, str]], params: SamplingParams,
                      on_text: Callable[[str], None]) -> str:
    """A chat completion streamed piece by piece to ``on_text``, recorded as an ``llm`` span under ``parent``."""
    import httpx

    from agentkit.llm.errors import BadRequest

    span = parent.child("llm", "chat", messages=list(messages))
    span.annotate(params=params.model_dump(exclude_none=True), streamed=True)
    payload = {"model": await llm.model(), "messages": list(messages), **params.request_fields(), "stream": True}
    key = os.environ.get("AGENTKIT_LLM_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    pieces: list[str] = []
    finish_reason = None
    started = time.perf_counter()
    timeout = httpx.Timeout(600.0, connect=5.0)
    try:
        async with (httpx.AsyncClient(timeout=timeout, headers=headers) as http,
                    http.stream("POST", llm.urls[0] + "/chat/completions", json=payload) as response):
            if response.status_code >= 400:
                raise BadRequest(response.status_code, (await response.aread()).decode(errors="replace"))
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                for choice in json.loads(line.removeprefix("data: ")).get("choices", []):
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece:
                        pieces.append(piece)
                        on_text(piece)
                    finish_reason = choice.get("finish_reason") or finish_reason
    except BaseException as exc:
        span.finish(error=exc, partial="".join(pieces))
        raise
    text = "".join(pieces)
    span.finish(choices=[{"index": 0, "text": text, "finish_reason": finish_reason}],
                latency_s=time.perf_counter() - started)
    return text


# --- the terminal ------------------------------------------------------------------


Reader = Callable[[str], Awaitable[str]]
T = TypeVar("T")


def terminal_reader() -> Reader:
    """prompt_toolkit input with persistent history and multi-line editing."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add("enter")
    def _submit_or_continue(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.document.text_before_cursor.endswith("\\"):
            buffer.delete_before_cursor(1)
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(
        history=FileHistory(str(path)), key_bindings=bindings, prompt_continuation="... "
    )

    async def read(prompt: str) -> str:
        return str(await session.prompt_async(prompt, handle_sigint=False))

    return read


def pipe_reader() -> Reader:
    """Lines from a non-terminal stdin (scripts); no prompt is shown."""

    async def read(prompt: str) -> str:
        line: str = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            raise EOFError
        return line

    return read


class Interrupted(Exception):
    """The running turn was stopped with Ctrl-C."""


class Interrupter:
    """For a whole session, Ctrl-C (SIGINT) cancels the running turn instead of ending the process.

    Installed once, so a Ctrl-C that lands just before or after a turn is
    ignored rather than killing the session; at the prompt, prompt_toolkit
    reads Ctrl-C as a key (it clears the line).
    """

    def __init__(self) -> None:
        self.current: asyncio.Future[Any] | None = None

    def __enter__(self) -> Self:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self.interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)

    def interrupt(self) -> None:
        if self.current is not None and not self.current.done():
            self.current.cancel()

    async def run(self, work: Awaitable[T]) -> T:
        """Await ``work``; raises Interrupted when Ctrl-C cancelled it."""
        task: asyncio.Future[T] = asyncio.ensure_future(work)
        self.current = task
        try:
            return await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            raise Interrupted from None
        finally:
            self.current = None


async def session(url: str, agent: str | None, reader: Reader, model: str | None = None) -> int:
    from agentkit.llm.client import AsyncLLMClient

    async with AsyncLLMClient(url, model=model) as llm:
        repl = Repl(llm)
        repl.use(agent)
        repl.say("/help lists the commands; Ctrl-D exits.")
        with Interrupter() as interrupter:
            while True:
                try:
                    line = await reader(repl.prompt_text)
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    break
                try:
                    if not await interrupter.run(repl.handle(line)):
                        break
                except Interrupted:
                    repl.say("\ninterrupted")
                except Exception as exc:  # a failed turn (server error, bad input) must not end the session
                    repl.say(f"error: {type(exc).__name__}: {exc}")
    return 0


def _repl(args: argparse.Namespace) -> int:
    from agentkit.cli.run import UsageError, llm_server, load_runnable
    from agentkit.core.yamlconfig import YAMLConfigError

    try:
        runnable = load_runnable(args.agent) if args.agent else None
    except (YAMLConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    url = args.url or (runnable.url if runnable else None)
    embedded = runnable.uses_embedded_model if runnable else True
    try:
        with llm_server(url, start=args.start_server, embedded=embedded) as live_url:
            reader = terminal_reader() if sys.stdin.isatty() else pipe_reader()
            return asyncio.run(session(live_url, args.agent, reader, runnable.model if runnable else None))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
