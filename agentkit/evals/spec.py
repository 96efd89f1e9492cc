"""Eval specs: which data, which pipeline, which metrics, and which grid of variants.

An eval spec is a YAML file::

    name: sst2-zero-shot
    dataset: {loader: sst2, split: dev, limit: 200}
    pipeline:                      # any step config, or a path to a pipeline YAML
      steps:
        - {type: generate, prompt: "...", params: {max_tokens: 8}}
        - {type: extract, kind: label, labels: [negative, positive]}
    prediction: answer             # field of the pipeline's output
    gold: label                    # field of the data set's record
    metrics: [accuracy]
    sweep:                         # optional grid; dotted paths into the pipeline config
      steps.0.params.temperature: [0.0, 0.7]

The pipeline sees only the fields it reads (plus any named under
``dataset.fields``), never the gold answer, so a leaking prompt is an error and
not a silently perfect score. Every problem is reported as file:line:col.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agentkit.core.registry import ConfigError, Loc, StepRef, flatten_errors, step_from_config
from agentkit.core.step import Step
from agentkit.core.yamlconfig import Positions, YAMLConfigError, build, format_problems, load_step_yaml, load_yaml
from agentkit.prompting.templates import PromptLibrary, default_library

Record = dict[str, Any]

# --- metrics ---------------------------------------------------------------------

_RANKING_METRICS = {"ndcg": 10, "recall": 10, "mrr": None}
_ANSWER_METRICS = ("accuracy", "exact_match", "token_f1", "numeric_match")
_METRIC_NAME = re.compile(r"^(?P<base>[a-z][a-z_0-9]*)(?:@(?P<k>\d+))?$")


def check_metric(name: str) -> str:
    """Raise ValueError unless ``name`` is a known metric (``accuracy``, ``ndcg@10``, ...)."""
    match = _METRIC_NAME.match(name)
    base = match.group("base") if match else ""
    if base in _ANSWER_METRICS and match and match.group("k") is None:
        return name
    if base in _RANKING_METRICS and match and (match.group("k") is None or int(match.group("k")) > 0):
        return name
    known = [*_ANSWER_METRICS, "ndcg@K", "recall@K", "mrr", "mrr@K"]
    raise ValueError(f"unknown metric {name!r}; known: {', '.join(known)}")


def _same(pred: Any, gold: Any) -> bool:
    if isinstance(pred, str) and isinstance(gold, str):
        return pred.strip() == gold.strip()
    return bool(pred == gold)


def _ranking(pred: Any) -> list[str]:
    """Doc ids, best first, from ids or hits (objects or dicts with ``doc_id``)."""
    if not isinstance(pred, list):
        return []
    ids = []
    for hit in pred:
        doc_id = hit.get("doc_id") if isinstance(hit, dict) else getattr(hit, "doc_id", hit)
        ids.append(str(doc_id))
    return ids


def item_score(metric: str, pred: Any, gold: Any) -> float:
    """One item's score in [0, 1]; a missing prediction (None) scores 0."""
    from agentkit.evals import metrics

    match = _METRIC_NAME.match(metric)
    assert match is not None, metric
    base, k = match.group("base"), match.group("k")
    if pred is None:
        return 0.0
    if base == "accuracy":
        return float(_same(pred, gold))
    if base == "exact_match":
        return float(metrics.exact_match(str(pred), str(gold)))
    if base == "token_f1":
        return metrics.token_f1(str(pred), str(gold))
    if base == "numeric_match":
        return float(metrics.numeric_match(pred, gold))
    ranking, relevance = _ranking(pred), {str(d): int(r) for d, r in dict(gold).items()}
    if base == "ndcg":
        return metrics.ndcg_at_k(ranking, relevance, int(k or _RANKING_METRICS["ndcg"] or 10))
    if base == "recall":
        return metrics.recall_at_k(ranking, relevance, int(k or _RANKING_METRICS["recall"] or 10))
    return metrics.mrr(ranking, relevance, int(k) if k else None)


def score_all(metric_names: Sequence[str], pred: Any, gold: Any) -> dict[str, float]:
    return {name: item_score(name, pred, gold) for name in metric_names}


# --- the spec --------------------------------------------------------------------


class DatasetSpec(BaseModel):
    """Where the items come from (``agentkit.evals.loaders``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loader: str
    split: str = "dev"
    path: str | None = None  # data_dir; default: loaders.default_data_dir()
    fields: dict[str, str] = Field(default_factory=dict)  # pipeline input name -> data set field
    id_field: str = "id"
    limit: int | None = Field(default=None, ge=0)
    seed: int | None = None

    @model_validator(mode="after")
    def _known(self) -> DatasetSpec:
        from agentkit.evals import loaders

        if self.loader not in loaders.LOADERS:
            known = ", ".join(sorted(loaders.LOADERS))
            raise ConfigError([(("loader",), f"unknown data set {self.loader!r}; known: {known}")])
        if self.split not in loaders.splits(self.loader):
            known = ", ".join(loaders.splits(self.loader))
            raise ConfigError([(("split",), f"unknown split {self.split!r} for {self.loader}; known: {known}")])
        return self


@dataclass(frozen=True)
class SweepPoint:
    """One variant of the pipeline: its overrides, a readable label and a folder name."""

    label: str
    params: dict[str, Any]  # dotted path -> value
    step: Step
    shown: dict[str, str] = field(default_factory=dict)  # dotted path -> the value as the label shows it

    @property
    def slug(self) -> str:
        text = re.sub(r"[^A-Za-z0-9=._,-]+", "_", self.label).strip("_") or "point"
        if len(text) > 80:
            text = text[:70] + "-" + hashlib.sha1(self.label.encode()).hexdigest()[:8]
        return text


class EvalSpec(BaseModel):
    """A validated eval spec. Build with ``load_spec(path)`` or ``EvalSpec.from_config``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    dataset: DatasetSpec
    pipeline: StepRef
    prediction: str = "answer"
    gold: str = "answer"
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"], min_length=1)
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    concurrency: int = Field(default=8, ge=1)
    trace: bool = True  # keep each item's trace in results.jsonl (off for big retrieval runs)
    prompts: list[str] = Field(default_factory=list)  # extra template folders

    @field_validator("pipeline", mode="before")
    @classmethod
    def _pipeline(cls, value: Any) -> Any:
        """``pipeline: {steps: [...]}`` needs no ``type: pipeline``."""
        if isinstance(value, dict) and "type" not in value and "steps" in value:
            return {"type": "pipeline", **value}
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, names: list[str]) -> list[str]:
        problems: list[tuple[Loc, str]] = []
        for i, name in enumerate(names):
            try:
                check_metric(name)
            except ValueError as exc:
                problems.append(((i,), str(exc)))
        if problems:
            raise ConfigError(problems)
        return names

    @model_validator(mode="after")
    def _wiring(self) -> EvalSpec:
        problems: list[tuple[Loc, str]] = []
        for key, values in self.sweep.items():
            if not values:
                problems.append((("sweep", key), "a swept parameter needs at least one value"))
        for point in self._build_points(problems):
            if self.prediction not in point.step.writes():
                writes = ", ".join(sorted(point.step.writes())) or "nothing"
                where = f" (sweep point {point.label})" if point.params else ""
                problems.append((("prediction",),
                                 f"the pipeline{where} does not write {self.prediction!r}; it writes: {writes}"))
                break
        if problems:
            raise ConfigError(problems)
        return self

    # -- construction -------------------------------------------------------

    @classmethod
    def from_config(cls, data: Any) -> EvalSpec:
        """Validate a config mapping; problems come back as one ConfigError with paths."""
        if not isinstance(data, dict):
            raise ConfigError([((), "an eval spec must be a mapping")])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(flatten_errors(exc)) from None

    # -- sweep ----------------------------------------------------------------

    def points(self) -> list[SweepPoint]:
        """Every point of the grid (one, without a sweep), in grid order."""
        problems: list[tuple[Loc, str]] = []
        points = self._build_points(problems)
        if problems:
            raise ConfigError(problems)
        return points

    def _build_points(self, problems: list[tuple[Loc, str]]) -> list[SweepPoint]:
        if not self.sweep:
            return [SweepPoint(label="-", params={}, step=self.pipeline)]
        base = self.pipeline.to_config()
        keys = list(self.sweep)
        short = short_names(keys)
        points: list[SweepPoint] = []
        for combo in itertools.product(*(list(enumerate(self.sweep[k])) for k in keys)):
            config = copy.deepcopy(base)
            try:
                for key, (_, value) in zip(keys, combo, strict=True):
                    set_dotted(config, key, value)
                step = step_from_config(config)
            except (ConfigError, KeyError, IndexError, TypeError) as exc:
                key_loc: Loc = ("sweep", keys[0]) if len(keys) == 1 else ("sweep",)
                setting = ", ".join(f"{k}={v!r}" for k, (_, v) in zip(keys, combo, strict=True))
                problems.append((key_loc, f"the pipeline with {setting} is invalid: {exc}"))
                return points
            shown = {k: value_label(v, i) for k, (i, v) in zip(keys, combo, strict=True)}
            params = {k: v for k, (_, v) in zip(keys, combo, strict=True)}
            label = ",".join(f"{short[k]}={shown[k]}" for k in keys)
            points.append(SweepPoint(label=label, params=params, step=step, shown=shown))
        return points

    # -- items ----------------------------------------------------------------

    def prompt_library(self) -> PromptLibrary:
        return _library(tuple(self.prompts)) if self.prompts else default_library()

    def input_fields(self, step: Step) -> dict[str, str]:
        """Pipeline input name -> data set field: what the step reads, plus ``dataset.fields``."""
        reads = step.reads(self.prompt_library())
        return {name: self.dataset.fields.get(name, name) for name in sorted(reads | set(self.dataset.fields))}

    def fingerprint(self, point: SweepPoint) -> dict[str, Any]:
        """What makes stored results reusable: same pipeline, data, and fields."""
        return {
            "pipeline": point.step.to_config(),
            "dataset": {"loader": self.dataset.loader, "split": self.dataset.split, "id_field": self.dataset.id_field},
            "inputs": self.input_fields(point.step),
            "prediction": self.prediction,
            "gold": self.gold,
        }


@lru_cache(maxsize=16)
def _library(folders: tuple[str, ...]) -> PromptLibrary:
    return PromptLibrary(folders)


def set_dotted(config: Any, path: str, value: Any) -> None:
    """Set ``config[a][b][0][c] = value`` for ``"a.b.0.c"``; missing mapping keys are created."""
    parts = path.split(".")
    node = config
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.lstrip("-").isdigit():
                raise KeyError(f"{'.'.join(parts[:i]) or '<root>'} is a list; {part!r} is not an index")
            index = int(part)
            if not -len(node) <= index < len(node):
                raise IndexError(f"{'.'.join(parts[:i + 1])}: index out of range (the list has {len(node)} items)")
            if last:
                node[index] = value
            node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise TypeError(f"{'.'.join(parts[:i]) or '<root>'} is a {type(node).__name__}, not a mapping or list")


def short_names(keys: list[str]) -> dict[str, str]:
    """From the last name segment of each path on (``temperature``, ``steps.1``), unless two would clash."""

    def tail(key: str) -> str:
        parts = key.split(".")
        names = [i for i, part in enumerate(parts) if not part.isdigit()]
        return ".".join(parts[names[-1]:]) if names else key

    short = {k: tail(k) for k in keys}
    clashes = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {k: (k if s in clashes else s) for k, s in short.items()}


def value_label(value: Any, index: int) -> str:
    """The value itself when short; a long text (a whole prompt) is named by its position."""
    if isinstance(value, str) and (len(value) > 32 or "\n" in value):
        return f"#{index}"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return str(value)
    if isinstance(value, dict) and isinstance(value.get("name") or value.get("type"), str):
        return str(value.get("name") or value.get("type"))
    return f"#{index}"


# --- loading ---------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedSpec:
    """A spec with where it came from, so later (data-dependent) problems point at lines too."""

    spec: EvalSpec
    filename: str
    positions: Positions

    def error(self, loc: Loc, message: str) -> YAMLConfigError:
        return format_problems(ConfigError([(loc, message)]), self.filename, self.positions)


def _resolve(path: str, base: Path) -> Path:
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    beside = base / candidate
    return beside if beside.exists() else candidate


def load_spec(path: str | Path) -> LoadedSpec:
    """Read and validate an eval spec; a ``pipeline:`` string is a YAML file beside it (or from the cwd)."""
    path = Path(path)
    data, positions = load_yaml(path.read_text(encoding="utf-8"), str(path))
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
        if isinstance(data.get("pipeline"), str):
            data["pipeline"] = load_step_yaml(_resolve(data["pipeline"], path.parent))
        if isinstance(data.get("prompts"), list):
            data["prompts"] = [str(_resolve(str(p), path.parent)) for p in data["prompts"]]
        dataset = data.get("dataset")
        if isinstance(dataset, dict) and isinstance(dataset.get("path"), str):
            dataset["path"] = str(_resolve(dataset["path"], path.parent))
    spec = build(data, EvalSpec.from_config, str(path), positions)
    return LoadedSpec(spec=spec, filename=str(path), positions=positions)


def spec_from_dict(data: dict[str, Any], filename: str = "<spec>") -> LoadedSpec:
    """A spec from a mapping (tests, programmatic use); errors name ``filename``."""
    spec = build(data, EvalSpec.from_config, filename, {})
    return LoadedSpec(spec=spec, filename=filename, positions={})


def stable_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]

