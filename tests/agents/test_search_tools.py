"""The search and lookup tools over a RAG index: ReAct's search[query] and lookup[keyword]."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentkit.agents.tool import Action, ToolRegistry, action_schema, load_builtin, parse_action
from agentkit.llm.client import AsyncLLMClient
from agentkit.llm.types import Constraint, SamplingParams
from agentkit.rag.bm25 import BM25Index
from agentkit.rag.browse import BrowseSession, browse_tools, stitch
from agentkit.rag.documents import Document, chunk_by_tokens, chunk_documents
from agentkit.rag.hybrid import HybridIndex

DOCS = [
    Document(
        "curie",
        "Marie Curie was a physicist and chemist. She was born in Warsaw in 1867. "
        "She won the Nobel Prize in Physics in 1903. She won the Nobel Prize in Chemistry in 1911. "
        "She died in 1934 in Passy.",
        "Marie Curie",
    ),
    Document(
        "einstein",
        "Albert Einstein was a theoretical physicist. He was born in Ulm in 1879. "
        "He received the Nobel Prize in Physics in 1921. He died in Princeton in 1955.",
        "Albert Einstein",
    ),
    Document("warsaw", "Warsaw is the capital of Poland. It lies on the Vistula river.", "Warsaw"),
]


@pytest.fixture
def index_dir(tmp_path: Path) -> str:
    folder = tmp_path / "people"
    BM25Index.build(chunk_documents(DOCS)).save(folder)
    return str(folder)


def call(tool, **args):  # type: ignore[no-untyped-def]
    return asyncio.run(tool.call(args))


def test_search_returns_the_best_passage_with_its_id_and_scores_in_details(index_dir: str) -> None:
    search = load_builtin("search", index=index_dir)
    result = call(search, query="Einstein birthplace Ulm")
    assert result.ok
    assert result.output.startswith("[einstein] Albert Einstein: Albert Einstein was a theoretical physicist.")
    (hit,) = result.details["hits"]
    assert hit["doc_id"] == "einstein" and hit["rank"] == 1 and hit["score"] > 0

    two = call(load_builtin("search", index=index_dir, k=2), query="Nobel Prize physicist")
    assert two.output.count("\n\n") == 1 and len(two.details["hits"]) == 2
    assert two.details["hits"][0]["score"] >= two.details["hits"][1]["score"]

    missing = call(search, query="zebra xylophone")
    assert not missing.ok and "no passage matches 'zebra xylophone'" in (missing.error or "")
    assert not call(search, query="  ").ok


def test_long_passages_are_cut_for_the_model(index_dir: str) -> None:
    result = call(load_builtin("search", index=index_dir, max_chars=40), query="Curie")
    assert result.output == "[curie] Marie Curie: Marie Curie was a physicist and ..."


def test_lookup_reads_on_in_the_last_searched_document(index_dir: str) -> None:
    search, lookup = browse_tools(index_dir)
    assert [t.name for t in (search, lookup)] == ["search", "lookup"]
    first = call(lookup, keyword="Nobel")
    assert not first.ok and "call search first" in (first.error or "")

    assert call(search, query="Marie Curie").ok
    assert call(lookup, keyword="nobel").output == "(Result 1 / 2) She won the Nobel Prize in Physics in 1903."
    assert call(lookup, keyword="Nobel").output == "(Result 2 / 2) She won the Nobel Prize in Chemistry in 1911."
    assert call(lookup, keyword="Nobel").output == "No more results for 'Nobel' in [curie] Marie Curie."
    assert call(lookup, keyword="born in").output == "(Result 1 / 1) She was born in Warsaw in 1867."
    assert call(lookup, keyword="Princeton").output == "No sentence of [curie] Marie Curie contains 'Princeton'."

    assert call(search, query="Einstein").ok  # a new search opens a new page and resets the keyword
    assert call(lookup, keyword="born in").output == "(Result 1 / 1) He was born in Ulm in 1879."


def test_concurrent_runs_share_no_reading_state(index_dir: str) -> None:
    """Many agent runs at once, each with its own pair: every lookup reads its own run's page."""

    async def run(person: str, keyword: str) -> list[str]:
        search, lookup = browse_tools(index_dir)
        outputs = []
        for _ in range(3):
            assert (await search.call({"query": person})).ok
            await asyncio.sleep(0)  # let other runs search in between
            outputs.append((await lookup.call({"keyword": keyword})).output)
        return outputs

    async def main() -> list[list[str]]:
        return await asyncio.gather(*(run(*job) for job in [("Marie Curie", "died"), ("Albert Einstein", "died")] * 8))

    for i, outputs in enumerate(asyncio.run(main())):
        expected = "She died in 1934 in Passy." if i % 2 == 0 else "He died in Princeton in 1955."
        assert outputs == [f"(Result 1 / 1) {expected}"] * 3


def test_lookup_sees_the_whole_document_of_a_chunked_index(tmp_path: Path) -> None:
    chunks = [c for d in DOCS for c in chunk_by_tokens(d, size=8, overlap=2)]
    assert len([c for c in chunks if c.doc_id == "curie"]) > 3
    assert stitch([c for c in chunks if c.doc_id == "curie"]) == DOCS[0].text
    BM25Index.build(chunks).save(tmp_path / "chunked")
    search, lookup = browse_tools(tmp_path / "chunked")
    result = call(search, query="Warsaw 1867 born")
    assert result.ok and result.details["hits"][0]["doc_id"] == "curie"
    assert "1867" in result.output and "Passy" not in result.output  # the model sees the chunk ...
    assert call(lookup, keyword="Passy").output == "(Result 1 / 1) She died in 1934 in Passy."  # ... lookup the page


def test_lookup_works_over_a_hybrid_index() -> None:
    chunks = chunk_documents(DOCS)
    hybrid = HybridIndex([BM25Index.build(chunks), BM25Index.build(chunks, variant="bm25+")])
    session = BrowseSession(hybrid)
    text, hits = session.search("Vistula river")
    assert hits[0].doc_id == "warsaw" and text.startswith("[warsaw] Warsaw:")
    assert session.lookup("Vistula") == "(Result 1 / 1) It lies on the Vistula river."


def test_lookup_needs_a_session_and_search_needs_one_source(index_dir: str) -> None:
    with pytest.raises(TypeError, match="BrowseSession"):
        load_builtin("lookup", session="nope")
    with pytest.raises(TypeError, match="exactly one"):
        load_builtin("search", index=index_dir, session=BrowseSession(BM25Index.build(chunk_documents(DOCS))))
    with pytest.raises(FileNotFoundError, match="agentkit index build"):
        load_builtin("search", index=str(Path(index_dir) / "missing"))


def test_tools_fit_the_action_format(index_dir: str) -> None:
    tools = browse_tools(index_dir)
    assert [t.signature for t in tools] == ["search(query: string)", "lookup(keyword: string)"]
    schema = action_schema(tools)
    assert [b["properties"]["tool"]["const"] for b in schema["anyOf"]] == ["search", "lookup", "finish"]
    action = parse_action('{"tool": "lookup", "args": {"keyword": "born"}}', tools)
    assert isinstance(action, Action) and action.args == {"keyword": "born"}


@pytest.mark.llm
async def test_model_decodes_a_search_action_that_runs(client: AsyncLLMClient, index_dir: str) -> None:
    registry = ToolRegistry(browse_tools(index_dir))
    tool_lines = "\n".join(f"- {t.signature}: {t.description.splitlines()[0]}" for t in registry)
    messages = [
        {
            "role": "system",
            "content": 'You are an agent. Answer with one JSON action: {"tool": NAME, "args": {...}}. Tools:\n'
            f"{tool_lines}\n- finish(answer: string): give the final answer",
        },
        {"role": "user", "content": "Search the documents for Marie Curie."},
    ]
    reply = await client.chat(
        messages, SamplingParams(max_tokens=60, temperature=0.0), Constraint.json_schema(action_schema(registry))
    )
    action = parse_action(reply.text, registry)
    assert isinstance(action, Action), action
    assert action.tool == "search", reply.text
    result = await registry.get("search").call(action.args)
    assert result.ok, result.error
    assert result.details["hits"][0]["doc_id"] == "curie"
