"""Eval specs: validation that points at the line, sweeps, scoring, and the shipped configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit.core.yamlconfig import YAMLConfigError
from agentkit.evals.runner import load_records, make_items
from agentkit.evals.spec import check_metric, item_score, load_spec, set_dotted, spec_from_dict

EVALS = Path(__file__).resolve().parents[2] / "evals"

SPEC = """\
name: tiny
dataset: {loader: sst2, split: dev, limit: 3}
pipeline:
  steps:
    - type: generate
      prompt: "Review: {{ text }}"
      params: {max_tokens: 4}
    - {type: extract, kind: label, labels: [negative, positive]}
gold: label
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_spec_defaults_and_inputs(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, SPEC)).spec
    assert spec.name == "tiny" and spec.prediction == "answer" and spec.metrics == ["accuracy"]
    [point] = spec.points()
    assert point.params == {} and point.step is spec.pipeline
    assert spec.input_fields(point.step) == {"text": "text"}


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, SPEC.replace("name: tiny\n", ""), "my-eval.yaml")).spec
    assert spec.name == "my-eval"


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("loader: sst2", "loader: sst3", r"spec.yaml:2:\d+: dataset.loader: unknown data set 'sst3'"),
        ("split: dev", "split: nope", r"spec.yaml:2:\d+: dataset.split: unknown split 'nope' for sst2"),
        ("max_tokens: 4", "max_tokens: many", r"spec.yaml:7:\d+: pipeline.steps.0.params.max_tokens"),
        ("type: generate", "type: genrate", r"spec.yaml:5:\d+: pipeline.steps.0.type: unknown step type"),
        ("gold: label", "gold: label\nmetrics: [accuracy, bleu]", r"spec.yaml:10:\d+: metrics.1: unknown metric 'bleu'"),
        ("gold: label", "gold: label\nprediction: verdict", r"spec.yaml:10:13: prediction: the pipeline does not write 'verdict'"),
        ("gold: label", "gold: label\ncolour: red", r"spec.yaml:10:\d+: colour: Extra inputs are not permitted"),
    ],
)
def test_errors_point_at_line_and_column(tmp_path: Path, old: str, new: str, where: str) -> None:
    assert old in SPEC
    with pytest.raises(YAMLConfigError, match=where):
        load_spec(write(tmp_path, SPEC.replace(old, new, 1)))


def test_pipeline_from_a_file_beside_the_spec(tmp_path: Path) -> None:
    (tmp_path / "pipes").mkdir()
    write(tmp_path / "pipes", "steps:\n  - {type: generate, prompt: 'Q: {{ question }}'}\n  - {type: extract, kind: number}\n",
          "qa.yaml")
    spec = load_spec(write(tmp_path, "dataset: {loader: gsm8k}\npipeline: pipes/qa.yaml\nmetrics: [numeric_match]\n")).spec
    assert spec.input_fields(spec.pipeline) == {"question": "question"}
    write(tmp_path / "pipes", "steps:\n  - {type: generate, prompt: 'Q', colour: red}\n", "bad.yaml")
    with pytest.raises(YAMLConfigError, match=r"pipes/bad.yaml:2:\d+: steps.0.colour"):
        load_spec(write(tmp_path, "dataset: {loader: gsm8k}\npipeline: pipes/bad.yaml\n", "other.yaml"))


def test_sweep_grid_builds_every_point(tmp_path: Path) -> None:
    text = SPEC + "sweep:\n  steps.0.params.temperature: [0.0, 0.7]\n  steps.0.params.max_tokens: [2, 4, 8]\n"
    spec = load_spec(write(tmp_path, text)).spec
    points = spec.points()
    assert len(points) == 6
    assert points[0].label == "temperature=0.0,max_tokens=2" and points[-1].label == "temperature=0.7,max_tokens=8"
    assert points[4].step.steps[0].params.temperature == 0.7 and points[4].step.steps[0].params.max_tokens == 4
    assert len({p.slug for p in points}) == 6
    assert spec.pipeline.steps[0].params.temperature is None  # the base pipeline is untouched


def test_sweep_replacing_a_whole_step(tmp_path: Path) -> None:
    text = SPEC + ("sweep:\n  steps.1:\n    - {type: extract, kind: label, labels: [negative, positive]}\n"
                   "    - {type: extract, kind: regex, pattern: '\\w+', name: first-word}\n")
    labels = [p.label for p in load_spec(write(tmp_path, text)).spec.points()]
    assert labels == ["steps.1=extract", "steps.1=first-word"]


def test_sweep_errors_point_at_the_sweep(tmp_path: Path) -> None:
    bad_value = SPEC + "sweep:\n  steps.0.params.temperature: [0.0, hot]\n"
    with pytest.raises(YAMLConfigError, match=r"spec.yaml:11:\d+: sweep.steps.0.params.temperature: .*temperature='hot'"):
        load_spec(write(tmp_path, bad_value))
    bad_path = SPEC + "sweep:\n  steps.5.params.temperature: [0.0]\n"
    with pytest.raises(YAMLConfigError, match=r"spec.yaml:11:\d+: .*index out of range"):
        load_spec(write(tmp_path, bad_path))


def test_set_dotted_creates_mappings_but_not_list_items() -> None:
    config = {"steps": [{"type": "generate"}]}
    set_dotted(config, "steps.0.params.temperature", 0.5)
    assert config == {"steps": [{"type": "generate", "params": {"temperature": 0.5}}]}
    with pytest.raises(KeyError):
        set_dotted(config, "steps.first.params", 1)
    with pytest.raises(IndexError):
        set_dotted(config, "steps.1.params", 1)


def test_gold_never_reaches_the_pipeline(tmp_path: Path) -> None:
    leaking = SPEC.replace("Review: {{ text }}", "Review: {{ text }} ({{ label }})")
    loaded = load_spec(write(tmp_path, leaking))
    records = load_records(loaded)
    with pytest.raises(YAMLConfigError, match=r"spec.yaml:4:\d+: pipeline: .*'label', the gold field"):
        make_items(loaded, loaded.spec.pipeline, records)
    loaded = load_spec(write(tmp_path, SPEC))
    items = make_items(loaded, loaded.spec.pipeline, records)
    assert [set(item.input) for item in items] == [{"text"}] * 3
    assert [item.gold for item in items] == [r["label"] for r in records]


def test_field_mapping_renames_and_reports_missing_fields(tmp_path: Path) -> None:
    renamed = SPEC.replace("{{ text }}", "{{ review }}").replace("limit: 3}", "limit: 2, fields: {review: text}}")
    loaded = load_spec(write(tmp_path, renamed))
    items = make_items(loaded, loaded.spec.pipeline, load_records(loaded))
    assert items[0].input == {"review": load_records(loaded)[0]["text"]}
    missing = SPEC.replace("{{ text }}", "{{ review }}")
    loaded = load_spec(write(tmp_path, missing))
    with pytest.raises(YAMLConfigError, match=r"reads 'review', but the sst2 records have no field 'review'"):
        make_items(loaded, loaded.spec.pipeline, load_records(loaded))


def test_metrics_score_items() -> None:
    assert check_metric("ndcg@10") == "ndcg@10"
    for bad in ("ndcg@0", "accuracy@3", "f1"):
        with pytest.raises(ValueError):
            check_metric(bad)
    assert item_score("accuracy", "positive", "positive ") == 1.0
    assert item_score("accuracy", "Positive", "positive") == 0.0
    assert item_score("accuracy", None, "positive") == 0.0
    assert item_score("exact_match", "The Eiffel Tower.", "eiffel tower") == 1.0
    assert item_score("numeric_match", "72", "72.0") == 1.0
    assert 0.0 < item_score("token_f1", "Free Range", "Free Range Films") < 1.0
    hits = [{"doc_id": "d2", "score": 3.0}, {"doc_id": "d1", "score": 1.0}]
    assert item_score("recall@1", hits, {"d1": 1}) == 0.0
    assert item_score("recall@2", hits, {"d1": 1}) == 1.0
    assert item_score("mrr", ["d2", "d1"], {"d1": 1}) == 0.5


def test_spec_from_dict_accepts_step_objects() -> None:
    from agentkit.prompting.steps import Extract

    loaded = spec_from_dict({"name": "x", "dataset": {"loader": "sst2"}, "gold": "label",
                             "pipeline": Extract(kind="label", input="text", labels=("negative", "positive"))})
    assert loaded.spec.input_fields(loaded.spec.pipeline) == {"text": "text"}


@pytest.mark.parametrize("path", sorted(EVALS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_specs_load_and_build_inputs(path: Path) -> None:
    loaded = load_spec(path)
    records = load_records(loaded, limit=3)
    for point in loaded.spec.points():
        items = make_items(loaded, point.step, records)
        assert len(items) == 3 and all(item.input for item in items)
        assert loaded.spec.gold not in items[0].input


def test_every_data_set_has_a_shipped_spec() -> None:
    from agentkit.evals.loaders import LOADERS

    covered = {load_spec(path).spec.dataset.loader for path in EVALS.glob("*.yaml")}
    assert covered == set(LOADERS), set(LOADERS) - covered
