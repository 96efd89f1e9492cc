"""``agentkit``: the command line. Each command lives in its own module.

A command module exposes ``register(subparsers)``, which adds its parser and
sets ``func`` to a handler returning the exit code. Modules import their heavy
dependencies inside the handler, so ``agentkit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "agentkit.cli.model",
    "agentkit.cli.serve",
    "agentkit.cli.demo",
    "agentkit.cli.run",
    "agentkit.cli.repl",
    "agentkit.cli.eval",
    "agentkit.cli.index",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentkit",
        description="Prompting strategies, RAG and ReAct agents on a local vLLM server.",
        epilog="Server URL: --url, else AGENTKIT_LLM_URL, else http://127.0.0.1:8000/v1. "
        "Start the embedded default model with `agentkit serve`.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what agentkit does (INFO level)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command not built yet in this checkout
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
