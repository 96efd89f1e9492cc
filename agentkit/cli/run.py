"""``agentkit run FILE``: run an agent spec or a pipeline YAML on one input or a JSONL file of inputs.

An agent (a root with ``kind: agent``, ``tools`` or ``strategy``) takes the
question as an argument and prints its answer; a pipeline takes ``--input``
(into its single input field, or ``--field``) or ``--input-json``. With
``--input-file`` every line is run concurrently and one JSON line per result
is written as it finishes. ``--trace`` prints each step as it happens (to
stderr); ``--json`` prints a machine-readable result with the whole trace.
When no server answers and the model is the embedded default, ``run`` offers
to start it (``--start-server`` starts it without asking).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentkit.agents.spec import AgentSpec
    from agentkit.core.cache import ResponseCache
    from agentkit.core.step import Record, Step
    from agentkit.core.trace import Span, SpanListener
    from agentkit.llm.client import AsyncLLMClient
    from agentkit.prompting.templates import PromptLibrary

OBSERVATION_DISPLAY_CHARS = 400


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "run",
        help="run an agent spec or a pipeline YAML",
        description="Run an agent (prints its answer) or a pipeline (prints the fields it writes) on one "
        "input, or on every line of a JSONL file.",
    )
    parser.add_argument("file", metavar="FILE", help="an agent spec or pipeline YAML")
    parser.add_argument("question", nargs="?", help="the input text (same as --input)")
    source = parser.add_argument_group("input")
    source.add_argument("--input", help="the input text; goes to --field")
    source.add_argument("--field", help="the input field for the text (default: the agent's input, or the "
                        "pipeline's single input field)")
    source.add_argument("--input-json", metavar="JSON", help="a whole input record, e.g. '{\"question\": \"...\"}'")
    source.add_argument("--input-file", metavar="JSONL", help="one record (or one string, for --field) per line; "
                        "runs them concurrently and writes one JSON line per result")
    source.add_argument("--out", metavar="PATH", help="with --input-file: write the result lines here, not stdout")
    source.add_argument("--concurrency", type=int, default=32, help="with --input-file: runs in flight (default 32)")
    show = parser.add_argument_group("output")
    show.add_argument("--trace", action="store_true", help="print every step as it happens (stderr); with "
                      "--input-file, add each trace to its result line")
    show.add_argument("--json", action="store_true", help="print one JSON result with the trace")
    server = parser.add_argument_group("server and cache")
    server.add_argument("--url", help="the server's base URL (default: the spec's llm.url, else AGENTKIT_LLM_URL)")
    server.add_argument("--start-server", action="store_true", help="start the embedded model without asking "
                        "when no server answers")
    cache = server.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="PATH", help="reuse responses from this SQLite cache (off by default)")
    cache.add_argument("--no-cache", action="store_true", help="do not cache responses (the default)")
    parser.set_defaults(func=_run)


# --- what to run -------------------------------------------------------------------


@dataclass(frozen=True)
class Runnable:
    """A step loaded from YAML with what running it needs: its input field, server and templates."""

    path: Path
    step: Step
    prompts: PromptLibrary
    input_field: str | None
    output_field: str | None
    url: str | None = None
    model: str | None = None
    spec: AgentSpec | None = None

    @property
    def uses_embedded_model(self) -> bool:
        from agentkit.llm.server import DEFAULT_SERVED_NAME

        return self.model in (None, DEFAULT_SERVED_NAME)


def load_runnable(path: str | Path) -> Runnable:
    """An agent spec or a pipeline, told apart by the YAML root; raises YAMLConfigError with file:line:col."""
    from agentkit.agents.spec import is_agent_config, load_agent, prompt_library_for
    from agentkit.core.yamlconfig import load_step_yaml, load_yaml

    path = Path(path)
    data, _ = load_yaml(path.read_text(encoding="utf-8"), str(path))
    prompts = prompt_library_for(path)
    if is_agent_config(data):
        spec = load_agent(path)
        return Runnable(path, spec.step, prompts, spec.input, spec.output, spec.llm.url, spec.llm.model, spec)
    step = load_step_yaml(path)
    needed = sorted(step.reads(prompts))
    return Runnable(path, step, prompts, needed[0] if len(needed) == 1 else None, _main_output(step))


def _main_output(step: Step) -> str | None:
    """The field a pipeline's result is shown by: ``answer``, else its last step's ``output``, else none."""
    from agentkit.core.pipeline import Pipeline

    writes = step.writes()
    if "answer" in writes:
        return "answer"
    last = step.steps[-1] if isinstance(step, Pipeline) and step.steps else step
    output = getattr(last, "output", None)
    return output if isinstance(output, str) and output in writes else None


def _inputs(args: argparse.Namespace, runnable: Runnable) -> list[Record] | Record:
    """The input record, or the list of records of --input-file."""
    field = args.field or runnable.input_field
    text = args.input if args.input is not None else args.question
    given = [name for name, value in (("a question", text), ("--input-json", args.input_json),
                                      ("--input-file", args.input_file)) if value is not None]
    if len(given) != 1:
        raise UsageError("give exactly one input: a question (or --input), --input-json or --input-file"
                         + (f"; got {', '.join(given)}" if given else ""))
    if args.input_json is not None:
        record = json.loads(args.input_json)
        if not isinstance(record, dict):
            raise UsageError("--input-json must be a JSON object")
        return record
    if text is not None:
        return {_need_field(field, runnable): text}
    records = []
    with open(args.input_file, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            value = json.loads(line)
            if isinstance(value, str):
                value = {_need_field(field, runnable): value}
            if not isinstance(value, dict):
                raise UsageError(f"{args.input_file}:{number}: a line must be a JSON object or string")
            records.append(value)
    return records


def _need_field(field: str | None, runnable: Runnable) -> str:
    if field is None:
        reads = ", ".join(sorted(runnable.step.reads(runnable.prompts))) or "nothing"
        raise UsageError(f"{runnable.path} reads {reads}; say which field gets the text with --field, "
                         "or give --input-json")
    return field


class UsageError(ValueError):
    """A command-line mistake; printed without a traceback."""


# --- the server --------------------------------------------------------------------


def healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url.removesuffix("/v1") + "/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def llm_server(url: str | None, *, start: bool, embedded: bool) -> Iterator[str]:
    """A server that answers: the configured one, else (asked, or with ``start``) the embedded model."""
    from agentkit.cli.demo import server_for
    from agentkit.llm.client import resolve_urls

    candidate = resolve_urls(url)[0]
    if healthy(candidate):
        yield url or candidate
        return
    if not embedded:
        raise UsageError(f"no LLM server answers at {candidate}, and this spec names another model than the "
                         "embedded default: start its server and pass --url")
    question = f"No LLM server answers at {candidate}. Start the embedded model (about a minute on a CPU)? [Y/n] "
    if not start and not _confirm(question):
        raise UsageError(f"no LLM server answers at {candidate}; start one with `agentkit serve`, "
                         "or pass --start-server")
    with server_for(url) as started:
        yield started


def _confirm(question: str) -> bool:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    print(question, end="", file=sys.stderr, flush=True)
    try:
        return input().strip().lower() in ("", "y", "yes")
    except EOFError:
        return False


# --- showing a run as it happens ---------------------------------------------------


class TracePrinter:
    """A span listener that prints thoughts, actions, observations and pipeline steps as they finish."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream
        self.depth = 0
        self.step_number = 0
        self.inside_agent_call = 0

    def write(self, text: str) -> None:
        stream = self.stream or sys.stderr
        indent = "  " * max(0, self.depth - 1)
        print(indent + text.replace("\n", "\n" + indent + "    "), file=stream, flush=True)

    def __call__(self, span: Span, event: str) -> None:
        if event == "start":
            self._start(span)
        else:
            self._end(span)

    def _start(self, span: Span) -> None:
        if span.kind == "step":
            self.depth += 1
            self.write(f"> {span.name}")
        elif span.kind == "agent_step":
            self.step_number = int(span.inputs.get("step", self.step_number + 1))
        elif span.kind in ("thought", "action"):
            self.inside_agent_call += 1

    def _end(self, span: Span) -> None:
        out, n = span.outputs, self.step_number
        if span.kind == "thought":
            self.inside_agent_call -= 1
            self.write(f"  Thought {n}: {out.get('thought', '')}  ({_duration(span)})")
        elif span.kind == "action":
            self.inside_agent_call -= 1
            self.write(f"  Action {n}: {out.get('text', '')}  ({_duration(span)})")
            if not out.get("valid"):
                self.write(f"    invalid: {out.get('problem')}")
        elif span.kind == "agent_step" and out.get("observation") is not None:
            self.write(f"  Observation {n}: {_clip(str(out['observation']))}")
        elif span.kind == "agent_step" and span.error:
            self.write(f"  step {n} failed: {span.error}")
        elif span.kind == "llm" and not self.inside_agent_call:
            tokens = (out.get("usage") or {}).get("completion_tokens", "?")
            self.write(f"  llm {span.name}: {tokens} tokens  ({_duration(span)})" + (" cached" if out.get("cache_hit") else ""))
        elif span.kind == "step":
            status = f"  !! {span.error}" if span.error else ""
            self.write(f"< {span.name}  ({_duration(span)}){status}")
            self.depth -= 1


def _duration(span: Span) -> str:
    seconds = span.latency_s or 0.0
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _clip(text: str) -> str:
    return text if len(text) <= OBSERVATION_DISPLAY_CHARS else text[:OBSERVATION_DISPLAY_CHARS] + " ..."


# --- running -----------------------------------------------------------------------


def new_fields(record: Record | None, source: Record) -> Record:
    """What a run added to its input."""
    return {k: v for k, v in (record or {}).items() if k not in source or source[k] is not v}


async def run_one(runnable: Runnable, record: Record, llm: AsyncLLMClient, cache: ResponseCache | None = None,
                  listener: SpanListener | None = None) -> dict[str, Any]:
    """Run once; the result holds the new fields (or the error), the latency and the trace (a Span)."""
    from agentkit.core.context import Context
    from agentkit.core.trace import Span

    root = Span("run", runnable.step.label, listener=listener)
    started = time.perf_counter()
    output, error = None, None
    try:
        ctx = Context(llm=llm, span=root, cache=cache, prompts=runnable.prompts)
        output = new_fields(await runnable.step.run(record, ctx), record)
    except Exception as exc:  # reported as the run's error, like run_many does per item
        error = f"{type(exc).__name__}: {exc}"
    finally:
        root.finish()
    return {"input": record, "output": output, "error": error,
            "latency_s": round(time.perf_counter() - started, 3), "trace": root}


def _print_single(result: dict[str, Any], runnable: Runnable, as_json: bool) -> int:
    if as_json:
        print(json.dumps({**result, "trace": result["trace"].to_dict()}, ensure_ascii=False, default=repr))
        return 0 if result["error"] is None else 1
    if result["error"] is not None:
        print(f"error: {result['error']}", file=sys.stderr)
        return 1
    output = result["output"]
    if runnable.output_field and runnable.output_field in output:
        answer = output[runnable.output_field]
        if answer is None:
            reason = output.get("stop_reason") or output.get(f"{runnable.output_field}_error") or "unknown"
            print(f"no answer ({reason})", file=sys.stderr)
            return 1
        print(answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False))
        return 0
    for key, value in output.items():
        print(f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)}")
    return 0


async def _run_single(runnable: Runnable, record: Record, url: str, cache: ResponseCache | None,
                      trace: bool) -> dict[str, Any]:
    from agentkit.llm.client import AsyncLLMClient

    async with AsyncLLMClient(url, model=runnable.model) as llm:
        return await run_one(runnable, record, llm, cache, TracePrinter() if trace else None)


async def run_file(runnable: Runnable, records: list[Record], url: str, cache: ResponseCache | None,
                   out: IO[str], concurrency: int, with_trace: bool) -> tuple[int, int]:
    """Run every record concurrently, writing one JSON line per result as it finishes; (done, failed)."""
    from agentkit.core.batch import ItemResult, run_many
    from agentkit.llm.client import AsyncLLMClient

    def write(item: ItemResult) -> None:
        line: dict[str, Any] = {"index": item.index, "input": item.input, "output": new_fields(item.output, item.input),
                                "error": item.error, "latency_s": round(item.latency_s, 3)}
        if with_trace and item.trace is not None:
            line["trace"] = item.trace.to_dict()
        out.write(json.dumps(line, ensure_ascii=False, default=repr) + "\n")
        out.flush()

    async with AsyncLLMClient(url, model=runnable.model) as llm:
        batch = await run_many(runnable.step, records, llm=llm, concurrency=concurrency, cache=cache,
                               prompts=runnable.prompts, on_result=write, desc=runnable.step.label)
    done = [r for r in batch.results if not r.cancelled]
    return len(done), sum(r.error is not None for r in done)


def _run(args: argparse.Namespace) -> int:
    from agentkit.core.yamlconfig import YAMLConfigError

    try:
        runnable = load_runnable(args.file)
        inputs = _inputs(args, runnable)
    except (YAMLConfigError, UsageError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        try:
            url = stack.enter_context(llm_server(args.url or runnable.url, start=args.start_server,
                                                 embedded=runnable.uses_embedded_model))
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        cache = None
        if args.cache and not args.no_cache:
            from agentkit.core.cache import ResponseCache

            cache = ResponseCache(args.cache)
            stack.callback(cache.close)
        if isinstance(inputs, dict):
            result = asyncio.run(_run_single(runnable, inputs, url, cache, args.trace))
            return _print_single(result, runnable, args.json)
        out = stack.enter_context(open(args.out, "w", encoding="utf-8")) if args.out else sys.stdout
        done, failed = asyncio.run(run_file(runnable, inputs, url, cache, out, args.concurrency, args.trace))
        print(f"{done} of {len(inputs)} inputs run, {failed} failed", file=sys.stderr)
        return 0 if failed == 0 and done == len(inputs) else 1
