from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from agentkit.core.batch import run_many
from agentkit.core.context import Context
from agentkit.core.pipeline import Pipeline
from agentkit.core.registry import step_from_config
from agentkit.core.yamlconfig import YAMLConfigError, build, dump_step_yaml, load_step_yaml, load_yaml
from agentkit.icl.embed import default_embedder
from agentkit.icl.order import Entropy, Similarity
from agentkit.icl.pool import Pool
from agentkit.icl.select import KNN, MMR, Balanced
from agentkit.icl.steps import Classify, Demonstrations
from agentkit.icl.vectors import PoolVectors
from agentkit.llm.client import AsyncLLMClient

from .conftest import REFUND_QUERY

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "pipelines").glob("icl_*.yaml"))
DEMO = "Text: {{ input }}\nSentiment: {{ output }}\n"
PROMPT = "{{ demos }}Text: {{ text }}\nSentiment:"


async def test_demonstrations_render_and_trace_ids_scores_positions(topic_pool: Pool) -> None:
    step = Demonstrations(pool=topic_pool, selector=KNN(), ordering=Similarity(), k=3, template=DEMO)
    ctx = Context()
    out = await step.run({"text": REFUND_QUERY}, ctx)
    knn = KNN().select(topic_pool, REFUND_QUERY, 3)
    assert out["demos_ids"] == [s.example.id for s in reversed(knn)]  # most similar last
    first = topic_pool.get(out["demos_ids"][0])
    assert out["demos"].startswith(f"Text: {first.input}\nSentiment: {first.output}\n\nText: ")
    assert out["demos"].endswith("Text: How do I get a refund for my order?\nSentiment: negative\n\n")
    span = ctx.span.find("step")[0]
    assert span.annotations["selector"] == "knn" and span.annotations["ordering"] == "similarity"
    demos = span.annotations["demos"]
    assert [d["position"] for d in demos] == [0, 1, 2]
    assert [d["id"] for d in demos] == out["demos_ids"]
    assert demos[-1]["score"] == pytest.approx(knn[0].score, abs=1e-5)
    assert demos[-1]["label"] == "negative"


async def test_zero_demonstrations_and_truncation(topic_pool: Pool) -> None:
    assert (await Demonstrations(pool=topic_pool, k=0).run({"text": "x"}))["demos"] == ""
    short = Demonstrations(pool=topic_pool, k=1, template=DEMO, max_chars=12)
    assert (await short.run({"text": REFUND_QUERY}))["demos"] == "Text: How do I get...\nSentiment: negative\n\n"


async def test_one_step_serves_concurrent_runs(topic_pool: Pool) -> None:
    step = Demonstrations(pool=topic_pool, selector=MMR(lambda_=0.5), k=3, template=DEMO)
    queries = [REFUND_QUERY, "Is it going to rain?", "Who scored the goal?", "How long do I bake bread?"] * 5
    batch = await run_many(step, [{"text": q} for q in queries], concurrency=20, progress=False)
    assert not batch.errors
    sequential = [(await step.run({"text": q}))["demos_ids"] for q in queries]
    assert [r.output["demos_ids"] for r in batch.results if r.output] == sequential
    assert PoolVectors.of(topic_pool, default_embedder()) is PoolVectors.of(topic_pool, default_embedder())


def test_step_config_round_trips(topic_pool: Pool) -> None:
    step = Demonstrations(
        pool=topic_pool, selector=Balanced(inner=MMR(lambda_=0.3)), ordering=Entropy(probes=4), k=2, template=DEMO
    )
    config = step.to_config()
    assert config["selector"] == {"kind": "balanced", "inner": {"kind": "mmr", "lambda": 0.3}}
    assert config["ordering"] == {"kind": "entropy", "probes": 4}
    rebuilt = step_from_config(yaml.safe_load(dump_step_yaml(step)))
    assert rebuilt == step
    changed = step.with_(k=5)
    assert changed.k == 5 and changed.pool is topic_pool  # the pool (and its cached state) is shared


def test_classify_rejects_inconsistent_configs() -> None:
    with pytest.raises(ValidationError, match="two distinct labels"):
        Classify(prompt=PROMPT, labels=("a", "a"))
    with pytest.raises(ValidationError, match="unknown labels"):
        Classify(prompt=PROMPT, labels=("a", "b"), verbalizers={"c": "x"})
    with pytest.raises(ValidationError, match="same verbalizer"):
        Classify(prompt=PROMPT, labels=("a", "b"), verbalizers={"a": "b"})
    with pytest.raises(ValidationError, match="method 'score'"):
        Classify(prompt=PROMPT, labels=("a", "b"), method="generate", calibrate=True)
    step = Classify(prompt=PROMPT, labels=("a", "b"), calibrate=True)
    assert step.writes() == {"label", "label_probs", "label_uncalibrated"}
    assert step.continuations == [" a", " b"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_pipelines_load_and_round_trip(path: Path) -> None:
    pipeline = load_step_yaml(path)
    kinds = [step.type_name for step in pipeline.steps]  # type: ignore[attr-defined]
    assert kinds == ["demonstrations", "classify"]
    assert step_from_config(yaml.safe_load(dump_step_yaml(pipeline))) == pipeline
    assert len(pipeline.steps[0].pool) > 900  # type: ignore[attr-defined]


def test_yaml_errors_point_at_the_line() -> None:
    text = "type: demonstrations\npool:\n  examples:\n    - {id: a, input: x, output: y}\nselector:\n  kind: nearest\n"
    data, positions = load_yaml(text, "bad.yaml")
    with pytest.raises(YAMLConfigError, match=r"bad\.yaml:6:\d+: selector"):
        build(data, step_from_config, "bad.yaml", positions)


YAML_PIPELINE = """
type: pipeline
steps:
  - type: demonstrations
    pool:
      examples:
        - {id: p1, input: "A wonderful, moving film with great acting.", output: positive, label: positive}
        - {id: p2, input: "I loved every minute, a joyful delight.", output: positive, label: positive}
        - {id: n1, input: "A boring, tedious mess of a movie.", output: negative, label: negative}
        - {id: n2, input: "Awful script and terrible acting, I hated it.", output: negative, label: negative}
    selector: {kind: knn}
    ordering: similarity
    k: 2
    template: "Review: {{ input }}\\nSentiment: {{ output }}\\n"
  - type: classify
    prompt: "{{ demos }}Review: {{ text }}\\nSentiment:"
    labels: [negative, positive]
    calibrate: true
"""


@pytest.mark.llm
async def test_yaml_pipeline_classifies_with_calibration(client: AsyncLLMClient) -> None:
    data, positions = load_yaml(YAML_PIPELINE, "inline.yaml")
    pipeline = build(data, step_from_config, "inline.yaml", positions)
    assert isinstance(pipeline, Pipeline)
    records = [{"text": "Terrible, boring and far too long. I hated it."}, {"text": "A wonderful film, I loved it."}]
    batch = await run_many(pipeline, records, llm=client, concurrency=4, progress=False)
    assert not batch.errors
    outputs = [r.output for r in batch.results if r.output]
    assert [o["label"] for o in outputs] == ["negative", "positive"]
    for out, result in zip(outputs, batch.results):
        assert set(out["label_probs"]) == {"negative", "positive"}
        assert sum(out["label_probs"].values()) == pytest.approx(1.0)
        assert out["label_uncalibrated"] in ("negative", "positive")
        classify = next(s for s in result.trace.walk() if s.name == "classify")  # type: ignore[union-attr]
        assert set(classify.annotations["bias"]) == {"negative", "positive"}
        assert classify.annotations["content_free"] == ["N/A", "", "[MASK]"]


@pytest.mark.llm
async def test_calibration_bias_is_shared_by_runs_with_the_same_demonstrations(client: AsyncLLMClient) -> None:
    step = Classify(prompt="Review: {{ text }}\nSentiment:", labels=("negative", "positive"), calibrate=True)
    first, second = Context(llm=client), Context(llm=client)
    await step.run({"text": "Great fun."}, first)
    await step.run({"text": "Dreadful."}, second)
    assert first.span.find("step")[0].annotations["bias_reused"] is False
    assert second.span.find("step")[0].annotations["bias_reused"] is True
    assert not second.span.find("calibrate")
    assert first.span.find("step")[0].annotations["bias"] == second.span.find("step")[0].annotations["bias"]


@pytest.mark.llm
async def test_constrained_generation_returns_a_label(client: AsyncLLMClient) -> None:
    step = Classify(
        prompt="Review: A boring, tedious mess.\nSentiment: negative\n\nReview: {{ text }}\nSentiment:",
        labels=("neg", "pos"), verbalizers={"neg": "negative", "pos": "positive"}, method="generate",
    )
    ctx = Context(llm=client)
    out = await step.run({"text": "Awful and dull, I hated it."}, ctx)
    assert out["label"] in ("neg", "pos")
    assert out["label_probs"][out["label"]] == 1.0
    call = ctx.span.find("llm")[0]
    assert call.inputs["constraint"] == {"kind": "choice", "value": [" negative", " positive"]}
