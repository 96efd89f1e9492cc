"""Summaries, tables and report.md for eval runs, and paired comparisons of two runs.

Every mean carries a 95% percentile-bootstrap interval, so a reader sees at a
glance whether two strategies differ by more than the sample allows. Errored
items count as wrong: a strategy that crashes half the time does not get to
report its accuracy on the other half.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentkit.evals.runner import RESULTS, RUN_INFO, PointRun, read_rows
from agentkit.evals.spec import EvalSpec, check_metric, score_all, short_names, value_label

Row = dict[str, Any]
TOKEN_KINDS = ("prompt_tokens", "completion_tokens", "cached_tokens")


@dataclass
class Summary:
    """One sweep point (or the single run) reduced to the numbers a table shows."""

    label: str
    params: dict[str, Any]
    items: int
    errors: int
    unparsed: int  # the pipeline ran but its answer could not be extracted
    metrics: dict[str, tuple[float, float, float]]  # name -> (mean, low, high)
    tokens: dict[str, int]
    wall_s: float
    model: str = ""
    error_samples: list[str] = field(default_factory=list)
    shown: dict[str, str] = field(default_factory=dict)  # params as labels show them (a prompt as #1)

    def show(self, key: str) -> str:
        return self.shown.get(key) or _fmt_value(self.params[key])

    @property
    def items_per_s(self) -> float:
        return self.items / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def tokens_per_item(self) -> float:
        spent = self.tokens["prompt_tokens"] + self.tokens["completion_tokens"]
        return spent / self.items if self.items else 0.0


def wall_time(rows: Sequence[Row], sessions: Sequence[dict[str, Any]]) -> float:
    """Seconds spent producing ``rows``: per session, from its start to its last finished item.

    Computed from the rows themselves, so a run killed with SIGKILL still has its time.
    """
    last: dict[int, float] = {}
    for row in rows:
        session = int(row.get("session", 0))
        last[session] = max(last.get(session, 0.0), float(row.get("finished", 0.0)))
    total = 0.0
    for session, finished in last.items():
        if session < len(sessions):
            total += max(0.0, finished - float(sessions[session]["started"]))
    return total


def summarize(rows: Sequence[Row], metrics: Sequence[str], sessions: Sequence[dict[str, Any]] = (),
              label: str = "-", params: dict[str, Any] | None = None,
              shown: dict[str, str] | None = None) -> Summary:
    """Scores are recomputed from prediction and gold, so metrics added later apply to old rows."""
    from agentkit.evals.metrics import bootstrap_ci

    scored = [score_all(metrics, row["prediction"], row["gold"]) if not row.get("error") else
              {m: 0.0 for m in metrics} for row in rows]
    tokens = {kind: sum(int((row.get("tokens") or {}).get(kind, 0)) for row in rows) for kind in TOKEN_KINDS}
    errors = [row["error"] for row in rows if row.get("error")]
    return Summary(
        label=label,
        params=dict(params or {}),
        items=len(rows),
        errors=len(errors),
        unparsed=sum(1 for row in rows if not row.get("error") and row.get("extraction_error")),
        metrics={m: bootstrap_ci([s[m] for s in scored]) for m in metrics} if rows else {},
        tokens=tokens,
        wall_s=wall_time(rows, sessions),
        model=next((str(s["model"]) for s in reversed(sessions) if s.get("model")), ""),
        error_samples=list(dict.fromkeys(errors))[:5],
        shown=dict(shown or {}),
    )


def summarize_runs(spec: EvalSpec, runs: Sequence[PointRun]) -> list[Summary]:
    return [summarize(run.rows, spec.metrics, run.sessions, run.point.label, run.point.params, run.point.shown)
            for run in runs]


class _ReadableDumper(yaml.SafeDumper):  # type: ignore[misc]
    """Multi-line strings (prompts) as ``|`` blocks, as a person would write them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReadableDumper.add_representer(str, _str)


def dump_yaml(value: Any) -> str:
    return str(yaml.dump(value, Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=100))


# --- tables --------------------------------------------------------------------------


def _fmt_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def table_rows(summaries: Sequence[Summary], metrics: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Header and cells shared by the terminal and the markdown table."""
    keys = list(summaries[0].params) if summaries else []
    short = short_names(keys)
    header = [short[k] for k in keys] + [f"{m} [95% CI]" for m in metrics]
    header += ["items", "errors", "no answer", "prompt tok", "completion tok", "cached tok", "wall s", "items/s"]
    cells = []
    for s in summaries:
        row = [s.show(k) for k in keys]
        for m in metrics:
            mean, low, high = s.metrics.get(m, (float("nan"),) * 3)
            row.append(f"{mean:.3f} [{low:.3f}, {high:.3f}]")
        row += [str(s.items), str(s.errors), str(s.unparsed)]
        row += [f"{s.tokens[kind]:,}" for kind in TOKEN_KINDS]
        row += [f"{s.wall_s:.1f}", f"{s.items_per_s:.2f}"]
        cells.append(row)
    return header, cells


def format_table(summaries: Sequence[Summary], metrics: Sequence[str]) -> str:
    header, cells = table_rows(summaries, metrics)
    widths = [max(len(c) for c in column) for column in zip(header, *cells, strict=True)]
    numeric = [i >= len(header) - 8 for i in range(len(header))]
    lines = []
    for row in [header, *cells]:
        aligned = (c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True))
        lines.append("  ".join(aligned))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(summaries: Sequence[Summary], metrics: Sequence[str]) -> str:
    header, cells = table_rows(summaries, metrics)
    numeric = [i >= len(header) - 8 for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines)


def write_report(out_dir: str | Path, spec: EvalSpec, summaries: Sequence[Summary], plots: Sequence[Path],
                 source: str = "") -> Path:
    """``report.md``: what was run on which data, the table, the plots, the errors seen."""
    out_dir = Path(out_dir)
    ds = spec.dataset
    items = summaries[0].items if summaries else 0
    models = sorted({s.model for s in summaries if s.model})
    lines = [f"# Eval: {spec.name}", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    if source:
        lines.append(f"- spec: `{source}`")
    lines += [
        f"- data: `{ds.loader}` split `{ds.split}`, {items} items"
        + (f" (seeded sample, seed {ds.seed})" if ds.seed is not None else ""),
        f"- model: {', '.join(models) or 'unknown'}",
        (f"- prediction field `{spec.prediction}` against gold field `{spec.gold}`; "
         "errored items count as wrong; intervals are 95% percentile bootstrap (1000 resamples)"),
        "",
        "## Results",
        "",
        markdown_table(summaries, spec.metrics),
        "",
    ]
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    failing = [s for s in summaries if s.error_samples]
    if failing:
        lines += ["## Errors", ""]
        for s in failing:
            where = f"{s.label}: " if s.params else ""
            lines += [f"- {where}{s.errors} errors, e.g. `{e[:300]}`" for e in s.error_samples[:3]]
        lines.append("")
    lines += ["## Pipeline", "", "```yaml", dump_yaml(spec.pipeline.to_config()).rstrip(), "```"]
    if spec.sweep:
        lines += ["", "## Sweep", ""] + _sweep_lines(spec.sweep)
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _sweep_lines(sweep: dict[str, list[Any]]) -> list[str]:
    """Each swept path and its values; long ones (prompts, steps) in full under their labels."""
    lines = []
    for key, values in sweep.items():
        shown = [value_label(v, i) for i, v in enumerate(values)]
        if all(label == str(v) for label, v in zip(shown, values, strict=True)):
            lines.append(f"- `{key}`: {', '.join(shown)}")
            continue
        lines.append(f"- `{key}`:")
        for label, value in zip(shown, values, strict=True):
            text = value if isinstance(value, str) else dump_yaml(value)
            lines += [f"  - `{label}`:", "", "    ```", *("    " + line for line in text.splitlines()), "    ```", ""]
    return lines


# --- paired comparison ------------------------------------------------------------------


@dataclass
class Comparison:
    metric: str
    n: int
    mean_a: float
    mean_b: float
    wins_a: int
    wins_b: int
    ties: int
    p_value: float
    only_a: int
    only_b: int


def load_run_dir(folder: str | Path) -> tuple[dict[str, Row], dict[str, Any]]:
    """The rows and run.json of one results folder (not a sweep's parent folder)."""
    folder = Path(folder)
    if not (folder / RESULTS).exists():
        points = sorted(p.parent.name for p in folder.glob(f"*/{RESULTS}"))
        hint = f"; it is a sweep, pick one of its points: {', '.join(points)}" if points else ""
        raise FileNotFoundError(f"no {RESULTS} in {folder}{hint}")
    info_path = folder / RUN_INFO
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    return read_rows(folder / RESULTS), info


def _item_scores(rows: dict[str, Row], metric: str) -> dict[str, float]:
    return {item_id: 0.0 if row.get("error") else score_all([metric], row["prediction"], row["gold"])[metric]
            for item_id, row in rows.items()}


def compare_dirs(dir_a: str | Path, dir_b: str | Path, metric: str | None = None) -> Comparison:
    """Per-item wins and losses on the items both runs share, and a paired bootstrap p-value."""
    from agentkit.evals.metrics import paired_bootstrap

    rows_a, info_a = load_run_dir(dir_a)
    rows_b, _ = load_run_dir(dir_b)
    metric = check_metric(metric or (info_a.get("metrics") or ["accuracy"])[0])
    shared = [item_id for item_id in rows_a if item_id in rows_b]
    if not shared:
        raise ValueError(f"{dir_a} and {dir_b} share no items; a paired comparison needs the same data")
    scores_a, scores_b = _item_scores(rows_a, metric), _item_scores(rows_b, metric)
    a = [scores_a[i] for i in shared]
    b = [scores_b[i] for i in shared]
    return Comparison(
        metric=metric,
        n=len(shared),
        mean_a=sum(a) / len(a),
        mean_b=sum(b) / len(b),
        wins_a=sum(x > y for x, y in zip(a, b, strict=True)),
        wins_b=sum(y > x for x, y in zip(a, b, strict=True)),
        ties=sum(x == y for x, y in zip(a, b, strict=True)),
        p_value=paired_bootstrap(a, b, n_resamples=10_000),
        only_a=len(rows_a) - len(shared),
        only_b=len(rows_b) - len(shared),
    )


def format_comparison(c: Comparison, name_a: str, name_b: str) -> str:
    lines = [
        f"paired comparison on {c.n} shared items ({c.metric})",
        f"  A {name_a}: {c.mean_a:.3f}",
        f"  B {name_b}: {c.mean_b:.3f}",
        f"  difference A - B: {c.mean_a - c.mean_b:+.3f}",
        f"  per item: A better {c.wins_a}, B better {c.wins_b}, tied {c.ties}",
        f"  paired bootstrap p = {c.p_value:.4f} (two-sided, 10000 resamples)"
        + ("  -> not significant at 0.05" if c.p_value >= 0.05 else "  -> significant at 0.05"),
    ]
    if c.only_a or c.only_b:
        lines.append(f"  not compared: {c.only_a} items only in A, {c.only_b} only in B")
    return "\n".join(lines)
