"""PNG plots of a sweep: the metric against each swept parameter, and against tokens spent.

Uses matplotlib's object API with the Agg canvas (no pyplot, no display, no
global backend switch), imported only when a plot is drawn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentkit.evals.report import Summary
from agentkit.evals.spec import short_names


def _figure(width: float = 6.4, height: float = 4.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def _errorbars(summaries: Sequence[Summary], metric: str) -> tuple[list[float], list[list[float]]]:
    means = [s.metrics[metric][0] for s in summaries]
    spread = [[s.metrics[metric][0] - s.metrics[metric][1] for s in summaries],
              [s.metrics[metric][2] - s.metrics[metric][0] for s in summaries]]
    return means, spread


def plot_parameter(summaries: Sequence[Summary], key: str, metric: str, path: Path) -> Path:
    """Metric (with 95% CI) against one swept parameter; one line per setting of the others."""
    keys = list(summaries[0].params)
    short = short_names(keys)
    others = [k for k in keys if k != key]
    values = list(dict.fromkeys(s.show(key) for s in summaries))
    numeric = all(isinstance(s.params[key], (int, float)) and not isinstance(s.params[key], bool) for s in summaries)
    groups: dict[str, list[Summary]] = {}
    for s in summaries:
        groups.setdefault(", ".join(f"{short[k]}={s.show(k)}" for k in others), []).append(s)
    figure = _figure()
    axes = figure.add_subplot()
    for name, members in groups.items():
        members = sorted(members, key=lambda s: s.params[key] if numeric else values.index(s.show(key)))
        xs = [s.params[key] if numeric else values.index(s.show(key)) for s in members]
        means, spread = _errorbars(members, metric)
        axes.errorbar(xs, means, yerr=spread, marker="o", capsize=3, label=name or None)
    if not numeric:
        axes.set_xticks(range(len(values)), values, rotation=20 if len(values) > 4 else 0)
    axes.set_xlabel(short[key])
    axes.set_ylabel(f"{metric} (95% CI)")
    axes.set_ylim(-0.03, 1.03)  # every metric is in [0, 1]; a fixed scale keeps plots comparable
    axes.set_title(f"{metric} by {short[key]}")
    axes.grid(alpha=0.3)
    if others and len(groups) > 1:
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    return path


def plot_cost(summaries: Sequence[Summary], metric: str, path: Path) -> Path:
    """Metric against tokens spent per item (prompt + completion), one point per strategy."""
    figure = _figure()
    axes = figure.add_subplot()
    xs = [s.tokens_per_item for s in summaries]
    means, spread = _errorbars(summaries, metric)
    axes.errorbar(xs, means, yerr=spread, fmt="o", capsize=3)
    labels: dict[tuple[float, float], list[str]] = {}  # strategies that land on the same spot share a note
    for x, y, s in zip(xs, means, summaries, strict=True):
        labels.setdefault((round(x, 6), round(y, 6)), []).append(s.label)
    for (x, y), names in labels.items():
        axes.annotate("\n".join(names), (x, y), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
    axes.set_xlabel("tokens per item (prompt + completion)")
    axes.set_ylabel(f"{metric} (95% CI)")
    axes.set_ylim(-0.03, 1.03)
    axes.set_title(f"{metric} against tokens spent")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    return path


def plot_sweep(summaries: Sequence[Summary], metric: str, out_dir: str | Path) -> list[Path]:
    """Every plot of a sweep; nothing for a single run (one point says nothing about trends)."""
    summaries = [s for s in summaries if s.items and metric in s.metrics]
    if len(summaries) < 2 or not summaries[0].params:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    short = short_names(list(summaries[0].params))
    paths = [plot_parameter(summaries, key, metric, out_dir / f"{_file_name(metric)}_vs_{_file_name(short[key])}.png")
             for key in summaries[0].params]
    paths.append(plot_cost(summaries, metric, out_dir / f"{_file_name(metric)}_vs_tokens.png"))
    return paths
