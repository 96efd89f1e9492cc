"""``agentkit serve``: run a supervised vLLM server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "serve",
        help="start vLLM's OpenAI-compatible server (embedded default model unless --model)",
        description="Without --model: the embedded SmolLM2-135M-Instruct on the CPU, with settings that are "
        "fast and stable on small machines. With --model NAME_OR_PATH: any model vLLM serves; arguments after "
        "`--` go to vLLM unchanged (e.g. `agentkit serve --model Qwen/Qwen2.5-7B-Instruct -- "
        "--gpu-memory-utilization 0.9`). The engine is restarted if it dies; Ctrl-C stops everything.",
    )
    parser.add_argument("--model", help="model name or path (default: the embedded model)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log", help="file for vLLM's log (default: a temporary file)")
    parser.add_argument("--no-restart", action="store_true", help="do not restart a dead engine")
    parser.add_argument("vllm_args", nargs=argparse.REMAINDER, help="extra vLLM flags after --")
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from agentkit.llm.server import ServerStartError, VLLMServer

    extra = [a for a in args.vllm_args if a != "--"]
    tty = sys.stderr.isatty()

    def progress(message: str) -> None:
        if tty:
            print(f"\r{message}", end="", file=sys.stderr, flush=True)

    server = VLLMServer(
        args.model, host=args.host, port=args.port, extra_args=extra, log_path=args.log,
        restart=not args.no_restart, on_progress=progress,
    )  # fmt: skip
    signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops cleanly, like Ctrl-C
    try:
        url = server.start()
        if tty:
            print(file=sys.stderr)
        print(f"vLLM ready: {url}  (log: {server.log_path}; Ctrl-C to stop)", flush=True)
        threading.Event().wait()
    except ServerStartError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping vLLM ...", file=sys.stderr, flush=True)
    finally:
        server.stop()
    return 0


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
