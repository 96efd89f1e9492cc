"""``agentkit demo``: start the embedded model, run the calculator agent on a question, show the trace, stop."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

DEMO_QUESTION = "What is 345 multiplied by 27?"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo",
        help="start the embedded model, run the calculator agent, print its steps, answer and trace, stop",
        description="Uses a server at --url / AGENTKIT_LLM_URL when one answers; otherwise starts the "
        "embedded default (about a minute on a CPU) and stops it at the end.",
    )
    parser.add_argument("--url", help="an already running server's base URL")
    parser.add_argument("question", nargs="?", default=DEMO_QUESTION)
    parser.set_defaults(func=_demo)


@contextmanager
def server_for(url: str | None) -> Iterator[str]:
    """A reachable server: the given/configured one if it answers, else the embedded one."""
    import httpx

    from agentkit.llm.client import resolve_urls
    from agentkit.llm.server import VLLMServer

    candidate = resolve_urls(url)[0]
    try:
        if httpx.get(candidate.removesuffix("/v1") + "/health", timeout=2.0).status_code == 200:
            yield candidate
            return
    except httpx.HTTPError:
        pass
    if url or os.environ.get("AGENTKIT_LLM_URL"):
        print(f"no server answers at {candidate}; starting the embedded model instead", file=sys.stderr)
    tty = sys.stderr.isatty()
    with VLLMServer(on_progress=(lambda m: print(f"\r{m}", end="", file=sys.stderr, flush=True)) if tty else None) as server:
        if tty:
            print(file=sys.stderr)
        print(f"embedded vLLM ready at {server.url}", file=sys.stderr)
        yield server.url


def _demo(args: argparse.Namespace) -> int:
    """Run the calculator agent (examples/agents/calculator.yaml): its steps as they happen, the answer, the trace."""
    from agentkit.cli.run import TracePrinter, load_runnable, run_one
    from agentkit.llm.client import AsyncLLMClient
    from agentkit.resources import resource_dir

    agent = load_runnable(resource_dir("examples") / "agents" / "calculator.yaml")

    async def run(url: str) -> int:
        print(f"Q: {args.question}\n", flush=True)
        async with AsyncLLMClient(url) as llm:
            result = await run_one(agent, {"question": args.question}, llm, listener=TracePrinter(sys.stdout))
        trace = result["trace"]
        if result["error"]:
            print(f"\nerror: {result['error']}", file=sys.stderr)
            return 1
        output = result["output"]
        print(f"\nA: {output['answer']}  (stopped: {output['stop_reason']})\n\nTrace:")
        print(trace.render())
        return 0

    with server_for(args.url) as url:
        return asyncio.run(run(url))
