"""Pipelines against the real server: YAML equals Python, batches, cache, traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit.core.batch import run_many
from agentkit.core.cache import ResponseCache
from agentkit.core.context import Context
from agentkit.core.pipeline import Pipeline
from agentkit.core.registry import register
from agentkit.core.step import Record, Step
from agentkit.core.yamlconfig import load_step_yaml
from agentkit.llm.client import AsyncLLMClient
from agentkit.llm.types import Constraint, SamplingParams
from agentkit.prompting.steps import Extract, Generate

pytestmark = pytest.mark.llm

QA_YAML = """\
steps:
  - type: generate
    prompt: qa.j2
    params: {max_tokens: 12, temperature: 0.0, stop: ["\\n"]}
  - type: extract
    kind: number
"""


def python_pipeline() -> Pipeline:
    return Pipeline(
        steps=[
            Generate(prompt="qa.j2", params=SamplingParams(max_tokens=12, temperature=0.0, stop=("\n",))),
            Extract(kind="number"),
        ]
    )


def llm_prompts(ctx: Context) -> list[str]:
    return [span.inputs["prompt"] for span in ctx.span.find("llm")]


async def test_yaml_and_python_pipelines_agree(client: AsyncLLMClient, tmp_path: Path) -> None:
    path = tmp_path / "qa.yaml"
    path.write_text(QA_YAML)
    from_yaml = load_step_yaml(path)
    assert from_yaml == python_pipeline()
    record = {"question": "How many legs does a spider have?"}
    ctx_yaml, ctx_py = Context(llm=client), Context(llm=client)
    out_yaml = await from_yaml.run(record, ctx_yaml)
    out_py = await python_pipeline().run(record, ctx_py)
    assert llm_prompts(ctx_yaml) == llm_prompts(ctx_py)
    assert llm_prompts(ctx_py) == ["Answer the question with a short answer.\n\nQuestion: How many legs does a spider have?\nAnswer:\n"]
    assert out_yaml["completion"] == out_py["completion"] and out_yaml["answer"] == out_py["answer"]


async def test_trace_keeps_exact_prompt_and_choices(client: AsyncLLMClient) -> None:
    ctx = Context(llm=client)
    step = Generate(prompt="Say {{ word }} twice:", params=SamplingParams(max_tokens=8, temperature=0.8, seed=5, n=2))
    out = await step.run({"word": "hello"}, ctx)
    [llm_span] = ctx.span.find("llm")
    assert llm_span.inputs["prompt"] == "Say hello twice:"
    assert [c["text"] for c in llm_span.outputs["choices"]] == out["completion"]
    assert llm_span.outputs["usage"]["prompt_tokens"] > 0
    assert "Say hello twice:" in ctx.span.render()


async def test_chat_template_and_constraint(client: AsyncLLMClient) -> None:
    step = Generate(
        prompt="=== system ===\nClassify sentiment.\n=== user ===\n{{ text }}",
        output="label",
        params=SamplingParams(max_tokens=4, temperature=0.0),
        constraint=Constraint.choice(["positive", "negative"]),
    )
    ctx = Context(llm=client)
    out = await step.run({"text": "What a wonderful, joyful film!"}, ctx)
    assert out["label"] in {"positive", "negative"}
    [llm_span] = ctx.span.find("llm")
    assert llm_span.inputs["messages"][0] == {"role": "system", "content": "Classify sentiment."}


@register("fail_on")
class FailOn(Step):
    """Test step: raises on one chosen value, to show a batch captures it."""

    field: str
    value: str

    def reads(self, prompts: object) -> set[str]:
        return {self.field}

    async def process(self, record: Record, ctx: Context) -> Record:
        if record[self.field] == self.value:
            raise ValueError(f"refusing {self.value!r}")
        return {}


async def test_run_many_200_ordered_with_one_failure_then_cached(client: AsyncLLMClient, tmp_path: Path) -> None:
    pipeline = Pipeline(
        steps=[
            FailOn(field="question", value="What is 57 plus 1?"),
            Generate(prompt="qa.j2", params=SamplingParams(max_tokens=6, temperature=0.0, stop=("\n",))),
            Extract(kind="number"),
        ]
    )
    inputs = [{"question": f"What is {i} plus 1?"} for i in range(200)]
    cache = ResponseCache(tmp_path / "cache.sqlite")
    first = await run_many(pipeline, inputs, llm=client, concurrency=32, cache=cache)
    assert [r.index for r in first.results] == list(range(200))
    assert [r.input for r in first.results] == inputs
    [failed] = first.errors
    assert failed.index == 57 and "refusing" in (failed.error or "")
    assert all(r.output is not None for r in first.results if r.index != 57)
    assert cache.misses == 199 and len(cache) == 199

    second = await run_many(pipeline, inputs, llm=client, concurrency=32, cache=cache)
    assert cache.hits == 199
    assert [r.output for r in second.results] == [r.output for r in first.results]
    hits = [s.outputs["cache_hit"] for r in second.results if r.trace for s in r.trace.find("llm")]
    assert len(hits) == 199 and all(hits)


async def test_cache_key_changes_with_every_parameter(client: AsyncLLMClient, tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    ctx = Context(llm=client, cache=cache)
    base = SamplingParams(max_tokens=4, temperature=0.7, seed=1)
    for params in (base, base.with_(seed=2), base.with_(n=2), base.with_(temperature=0.6), base):
        await ctx.complete("Hello", params)
    await ctx.complete("Hello", base, Constraint.choice(["a", "b"]))
    assert cache.hits == 1 and cache.misses == 5


async def test_dry_run_renders_without_llm() -> None:
    ctx = Context(llm=None, dry_run=True)
    out = await python_pipeline().run({"question": "Why?"}, ctx)
    assert llm_prompts(ctx) == ["Answer the question with a short answer.\n\nQuestion: Why?\nAnswer:\n"]
    assert out["answer"] is None and out["answer_error"]
