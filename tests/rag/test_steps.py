"""The retrieve and rag_answer steps: wiring, passages with scores in the trace, citations, YAML."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentkit.core.batch import run_many
from agentkit.core.context import Context
from agentkit.core.pipeline import Pipeline
from agentkit.core.registry import step_from_config
from agentkit.core.step import WiringError
from agentkit.core.yamlconfig import dump_step_yaml, load_step_yaml
from agentkit.llm.client import AsyncLLMClient
from agentkit.prompting.templates import default_library
from agentkit.rag import cache
from agentkit.rag.bm25 import BM25Index
from agentkit.rag.citations import NOT_IN_CONTEXT
from agentkit.rag.documents import Document, chunk_documents
from agentkit.rag.steps import RagAnswer, Retrieve, RetrieverSpec

CITIES = [
    Document("paris", "Paris is the capital and largest city of France. About 2.1 million people live there.", "Paris"),
    Document("berlin", "Berlin is the capital of Germany. The city is known for its museums and its wall.", "Berlin"),
    Document("rome", "Rome is the capital of Italy. It was founded in 753 BC on seven hills.", "Rome"),
    Document("madrid", "Madrid is the capital of Spain. The Prado museum is in Madrid.", "Madrid"),
]


@pytest.fixture
def city_index(tmp_path: Path) -> str:
    folder = tmp_path / "cities"
    BM25Index.build(chunk_documents(CITIES)).save(folder)
    return str(folder)


def rag_pipeline(index: str, **answer: object) -> Pipeline:
    return Pipeline(steps=[Retrieve(retriever=RetrieverSpec(index=index), k=2), RagAnswer(**answer)])


# -- retrieve -------------------------------------------------------------------------


async def test_retrieve_writes_ranked_passages_and_shows_scores_in_the_trace(city_index: str) -> None:
    step = Retrieve(retriever=RetrieverSpec(index=city_index), k=3)
    ctx = Context()
    out = await step.run({"question": "Which city is the capital of Germany?"}, ctx)
    passages = out["passages"]
    assert passages[0]["doc_id"] == "berlin"
    assert [p["rank"] for p in passages] == list(range(1, len(passages) + 1))
    assert set(passages[0]) == {"doc_id", "title", "text", "score", "rank"}
    assert passages[0]["text"] == CITIES[1].text and passages[0]["title"] == "Berlin"
    scores = [p["score"] for p in passages]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    (span,) = ctx.span.find("step")
    assert span.annotations["query"] == "Which city is the capital of Germany?"
    assert span.annotations["hit1"].startswith(f"{scores[0]:.4f} [berlin] Berlin: Berlin is the capital")
    assert "hit1" in ctx.span.render() and f"{scores[0]:.4f}" in ctx.span.render()


async def test_query_template_reads_any_fields(city_index: str) -> None:
    step = Retrieve(retriever=RetrieverSpec(index=city_index), query="{{ topic }} museum", k=1, output="evidence")
    assert step.reads(default_library()) == {"topic"}
    assert step.writes() == {"evidence"}
    out = await step.run({"topic": "Prado"}, Context())
    assert [p["doc_id"] for p in out["evidence"]] == ["madrid"]
    with pytest.raises(WiringError, match="topic"):
        await step.run({"question": "Prado"}, Context())


async def test_index_is_opened_lazily_once_per_process_and_reopened_when_rebuilt(
    city_index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    real = cache.load_index
    monkeypatch.setattr(cache, "load_index", lambda folder: loads.append(str(folder)) or real(folder))
    missing = Retrieve(retriever=RetrieverSpec(index=str(tmp_path / "nowhere")))  # building never touches the disk
    with pytest.raises(FileNotFoundError, match="agentkit index build"):
        await missing.run({"question": "x"}, Context())

    step = Retrieve(retriever=RetrieverSpec(index=city_index), k=1)
    batch = await run_many(step, [{"question": q} for q in ("Germany", "Italy", "Spain", "France")] * 4, concurrency=8)
    assert [r.output["passages"][0]["doc_id"] for r in batch.results if r.output][:4] == [
        "berlin",
        "rome",
        "madrid",
        "paris",
    ]
    assert len(loads) == 1

    BM25Index.build(chunk_documents(CITIES[:1])).save(city_index)  # rebuilt with Paris only
    manifest = Path(city_index) / "manifest.json"
    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    out = await step.run({"question": "capital"}, Context())
    assert [p["doc_id"] for p in out["passages"]] == ["paris"] and len(loads) == 2


# -- rag_answer, offline -----------------------------------------------------------------


def test_answer_reads_its_configured_fields() -> None:
    step = RagAnswer(question="claim", passages="evidence")
    assert step.reads(default_library()) == {"claim", "evidence"}
    assert step.writes() == {"answer", "citations", "cited", "answerable"}
    with pytest.raises(WiringError, match="claim"):
        step.check({"question", "evidence"})


async def test_no_passages_means_not_in_the_context_without_calling_the_llm() -> None:
    ctx = Context()  # no LLM: a call would raise NoLLMError
    out = await RagAnswer().run({"question": "Who?", "passages": []}, ctx)
    assert out["answer"] == NOT_IN_CONTEXT and out["answerable"] is False
    assert out["citations"] == [] and out["cited"] == []
    assert not ctx.span.find("llm")


def test_reading_free_text_and_json_replies() -> None:
    free = RagAnswer()
    assert free.read(" Berlin [2][5]. Also [1]. ", 3) == ("Berlin [2][5]. Also [1].", (2, 1), (5,))
    json_step = RagAnswer(cite="json")
    assert json_step.read('{"answer": "Berlin [3].", "citations": [2, 4, true]}', 3) == ("Berlin [3].", (3, 2), (4,))
    assert json_step.read('{"answer": "Berl', 3) == ('{"answer": "Berl', (), ())  # cut off: kept as text


def test_constraints_per_mode() -> None:
    assert RagAnswer().constraint(3) is None
    regex = RagAnswer(cite="regex").constraint(3)
    assert regex is not None and regex.kind == "regex" and regex.accepts("Rome [3].") and not regex.accepts("Rome [4].")
    schema = RagAnswer(cite="json").constraint(2)
    assert schema is not None and schema.kind == "json"
    with pytest.raises(ValueError):
        RagAnswer(cite="grammar")  # type: ignore[arg-type]


def test_yaml_example_builds_and_round_trips() -> None:
    step = load_step_yaml(Path(__file__).parents[2] / "examples" / "pipelines" / "rag_scifact.yaml")
    assert isinstance(step, Pipeline)
    retrieve, answer = step.steps
    assert isinstance(retrieve, Retrieve) and isinstance(answer, RagAnswer)
    assert retrieve.retriever.index.endswith("scifact-bm25")
    assert step_from_config(step.to_config()) == step
    assert "type: retrieve" in dump_step_yaml(step) and "type: rag_answer" in dump_step_yaml(step)


def test_prompt_puts_instructions_first_and_the_question_last() -> None:
    template = default_library().get("rag/answer.chat.j2")
    passages = [{"title": "Berlin", "text": "Berlin is in Germany."}, {"title": "", "text": "Rome is in Italy."}]
    system, user = template.render_messages(question="Where is Rome?", passages=passages, cite="free")
    assert system["role"] == "system" and "[1]" in system["content"] and NOT_IN_CONTEXT in system["content"]
    assert user["content"].startswith("Passages:\n[1] Berlin: Berlin is in Germany.\n[2] Rome is in Italy.")
    assert user["content"].endswith("Question: Where is Rome?")
    other = template.render_messages(question="Q", passages=passages[:1], cite="free")
    assert other[0] == system  # the shared part is byte-identical across inputs (prefix cache)


# -- against the real server ----------------------------------------------------------------


@pytest.mark.llm
async def test_retrieve_then_answer_with_citations_over_a_tiny_corpus(client: AsyncLLMClient, city_index: str) -> None:
    ctx = Context(llm=client)
    out = await rag_pipeline(city_index, cite="regex").run({"question": "What is the capital of Germany?"}, ctx)
    retrieved = [p["doc_id"] for p in out["passages"]]
    assert retrieved[0] == "berlin"
    assert out["citations"] and all(1 <= n <= len(retrieved) for n in out["citations"])
    assert [c["doc_id"] for c in out["cited"]] == [retrieved[n - 1] for n in out["citations"]]
    assert "Berlin" in out["answer"] and out["answerable"] is True
    (llm,) = ctx.span.find("llm")
    user = llm.inputs["messages"][-1]["content"]
    assert "[1] Berlin: Berlin is the capital of Germany." in user and user.endswith("What is the capital of Germany?")


@pytest.mark.llm
async def test_answer_cites_the_passage_that_holds_the_answer_wherever_it_is(client: AsyncLLMClient) -> None:
    passages = [
        {"doc_id": d.id, "title": d.title, "text": d.text, "score": 1.0, "rank": i}
        for i, d in enumerate([CITIES[0], CITIES[2], CITIES[1]], start=1)
    ]
    out = await RagAnswer(cite="regex").run(
        {"question": "What is the capital of Germany?", "passages": passages}, Context(llm=client)
    )
    assert "berlin" in [c["doc_id"] for c in out["cited"]], out["answer"]


@pytest.mark.llm
async def test_free_and_json_answers_carry_consistent_citations(client: AsyncLLMClient, city_index: str) -> None:
    records = [{"question": q} for q in ("What is the capital of Italy?", "Which museum is in Madrid?")]
    for mode in ("free", "json"):
        batch = await run_many(rag_pipeline(city_index, cite=mode), records, llm=client, concurrency=4)
        for result in batch.results:
            assert result.ok, result.error
            out = result.output
            assert out is not None and isinstance(out["answer"], str) and out["answer"]
            assert isinstance(out["answerable"], bool)
            assert [c["doc_id"] for c in out["cited"]] == [out["passages"][n - 1]["doc_id"] for n in out["citations"]]
            if mode == "json":  # the schema forces a valid citation unless the model refuses
                assert out["citations"] or out["answer"] == NOT_IN_CONTEXT
