"""``agentkit demo``: start the embedded model, answer a question, show the trace, stop."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

DEMO_QUESTION = "What is the capital of France?"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo",
        help="start the embedded model, run a small pipeline, print answer and trace, stop",
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
    from agentkit.core.context import Context
    from agentkit.core.pipeline import Pipeline
    from agentkit.llm.client import AsyncLLMClient
    from agentkit.llm.types import SamplingParams
    from agentkit.prompting.steps import Generate

    pipeline = Pipeline(
        steps=[Generate(prompt="qa.chat.j2", output="answer", params=SamplingParams(max_tokens=64, temperature=0.0))]
    )

    async def run(url: str) -> None:
        async with AsyncLLMClient(url) as llm:
            ctx = Context(llm=llm)
            result = await pipeline.run({"question": args.question}, ctx)
        print(f"Q: {args.question}\nA: {result['answer'].strip()}\n")
        print(ctx.span.render())

    with server_for(args.url) as url:
        asyncio.run(run(url))
    return 0
