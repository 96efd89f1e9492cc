"""``agentkit eval``: run eval specs (resumable), print and write reports; compare two runs.

    agentkit eval SPEC.yaml [SPEC.yaml ...] [--limit N] [--out DIR]
    agentkit eval run SPEC.yaml ...            (the same; ``run`` is the default)
    agentkit eval compare DIR_A DIR_B [--metric M]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

USAGE = "agentkit eval [run] SPEC.yaml [SPEC.yaml ...] [options]\n       agentkit eval compare DIR_A DIR_B [--metric M]"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "eval",
        help="run eval specs and write reports, or compare two runs",
        usage=USAGE,
        description="Runs every item of an eval spec through its pipeline, appending each finished item to "
        "OUT/results.jsonl at once. Rerunning the same command skips finished items, so an interrupted run "
        "(Ctrl-C, crash, kill) resumes. Prints a summary table and writes OUT/report.md and PNG plots.",
    )
    parser.add_argument("targets", nargs="+", metavar="SPEC.yaml | compare DIR_A DIR_B",
                        help="eval spec files, or 'compare' and two result folders")
    parser.add_argument("--limit", type=int, help="run only the first N items (or a seeded N, if the spec has a seed)")
    parser.add_argument("--out", help="results folder (default runs/<spec name>; with several specs, the parent)")
    parser.add_argument("--url", help="LLM server base URL (default AGENTKIT_LLM_URL or http://127.0.0.1:8000/v1)")
    parser.add_argument("--concurrency", type=int, help="items in flight at once (default: the spec's, else 8)")
    parser.add_argument("--data-dir", help="data sets folder (default: the spec's dataset.path, else shared/data)")
    parser.add_argument("--fresh", action="store_true", help="discard stored results and start over")
    parser.add_argument("--retry-errors", action="store_true", help="rerun items that finished with an error")
    parser.add_argument("--retry-timeout", type=float, default=30.0,
                        help="seconds the client retries an unreachable server before the run pauses (default 30)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--metric", help="compare: the metric to compare (default: the first of run A's spec)")
    parser.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    targets = list(args.targets)
    if targets[0] == "compare":
        if len(targets) != 3:
            print(f"usage: {USAGE.splitlines()[1].strip()}", file=sys.stderr)
            return 2
        return _compare(targets[1], targets[2], args.metric)
    if targets[0] == "run":
        targets = targets[1:]
    if not targets:
        print(f"usage: {USAGE.splitlines()[0]}", file=sys.stderr)
        return 2
    status = 0
    for target in targets:
        out = Path(args.out) / Path(target).stem if args.out and len(targets) > 1 else args.out
        status = max(status, _run_one(target, out, args))
        if status == 130:
            break
    return status


def _run_one(spec_path: str, out: str | Path | None, args: argparse.Namespace) -> int:
    from agentkit.core.registry import ConfigError
    from agentkit.core.step import WiringError
    from agentkit.core.yamlconfig import YAMLConfigError
    from agentkit.evals import plots, report
    from agentkit.evals.runner import RunMismatch, run_eval
    from agentkit.evals.spec import load_spec
    from agentkit.llm.client import AsyncLLMClient

    try:
        loaded = load_spec(spec_path)
    except (YAMLConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spec = loaded.spec
    out_dir = Path(out) if out else Path("runs") / spec.name

    async def main() -> list[report.Summary]:
        async with AsyncLLMClient(args.url, retry_timeout=args.retry_timeout) as llm:
            runs = await run_eval(loaded, out_dir, llm=llm, limit=args.limit, data_dir=args.data_dir,
                                  concurrency=args.concurrency, fresh=args.fresh, retry_errors=args.retry_errors,
                                  progress=False if args.no_progress else None)
        return report.summarize_runs(spec, runs)

    try:
        summaries = asyncio.run(main())
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished items are saved under {out_dir}; rerun the same command to resume",
              file=sys.stderr)
        return 130
    except (YAMLConfigError, ConfigError, WiringError, RunMismatch, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    paths = [] if args.no_plots else plots.plot_sweep(summaries, spec.metrics[0], out_dir)
    report_path = report.write_report(out_dir, spec, summaries, paths, source=spec_path)
    models = ", ".join(sorted({s.model for s in summaries if s.model}))
    print(f"\n{spec.name}: {spec.dataset.loader} {spec.dataset.split}, {summaries[0].items if summaries else 0} items"
          + (f", model {models}" if models else ""))
    print(report.format_table(summaries, spec.metrics))
    print(f"\nreport: {report_path}" + "".join(f"\nplot: {p}" for p in paths))
    return 0


def _compare(dir_a: str, dir_b: str, metric: str | None) -> int:
    from agentkit.evals import report

    try:
        comparison = report.compare_dirs(dir_a, dir_b, metric)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.format_comparison(comparison, dir_a, dir_b))
    return 0
