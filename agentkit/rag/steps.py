"""RAG as two steps: ``retrieve`` passages for a query, then ``rag_answer`` from them with citations.

``retrieve`` renders its query template from the record, searches an index
(BM25, dense or hybrid: any folder written by ``agentkit index build``) and
writes ``passages``: ``{doc_id, title, text, score, rank}`` each. The index is
named by its folder and opened once per process (:mod:`agentkit.rag.cache`),
so one step object serves any number of concurrent runs.

``rag_answer`` numbers the passages in its prompt and asks for citations like
``[2]``; it writes ``answer``, ``citations`` (valid passage numbers),
``cited`` (``{doc_id, title, text}`` of each) and ``answerable`` (False when the
model says the passages do not hold the answer). Decoding is free text by
default; ``cite: regex`` or ``cite: json`` force the citation format with a
vLLM structured-output constraint.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentkit.core.context import Context
from agentkit.core.registry import register
from agentkit.core.step import Record, Step
from agentkit.llm.errors import TruncatedOutput
from agentkit.llm.types import Constraint, SamplingParams
from agentkit.prompting.steps import generate
from agentkit.prompting.templates import PromptLibrary
from agentkit.rag.citations import (
    NOT_IN_CONTEXT,
    citation_pattern,
    citation_schema,
    cited_passages,
    is_unanswerable,
    parse_citations,
)
from agentkit.rag.documents import Hit
from agentkit.rag.index import Retriever

CiteMode = Literal["free", "regex", "json"]
ANSWER_FIELDS = ("answer", "citations", "cited", "answerable")
_TEMPLATE_INPUTS = {"question", "passages", "cite"}  # what rag_answer passes its template itself


class RetrieverSpec(BaseModel):
    """Where passages come from: a saved index folder of any kind, opened lazily, once per process."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: str = Field(description="folder written by `agentkit index build` (relative to the working directory)")

    def open(self) -> Retriever:
        from agentkit.rag.cache import shared_index

        return shared_index(self.index)


def passage(rank: int, hit: Hit) -> dict[str, Any]:
    return {"doc_id": hit.doc_id, "title": hit.title, "text": hit.text, "score": hit.score, "rank": rank}


@register("retrieve")
class Retrieve(Step):
    """Search an index with a query rendered from the record; writes the top ``k`` passages."""

    retriever: RetrieverSpec
    query: str = "{{ question }}"
    k: int = Field(5, ge=1)
    output: str = "passages"

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return prompts.variables(self.query)

    def writes(self) -> set[str]:
        return {self.output}

    async def process(self, record: Record, ctx: Context) -> Record:
        query = " ".join(ctx.prompts.get(self.query).render(**record).split())
        # Loading and scoring are blocking work: keep the event loop free for LLM calls of other runs.
        hits = await asyncio.to_thread(lambda: self.retriever.open().search(query, self.k))
        passages = [passage(rank, hit) for rank, hit in enumerate(hits, start=1)]
        ctx.annotate(query=query, **{f"hit{p['rank']}": _shown(p) for p in passages})
        return {self.output: passages}


def _shown(p: dict[str, Any]) -> str:
    title = f" {p['title']}:" if p["title"] else ""
    return f"{p['score']:.4f} [{p['doc_id']}]{title} {' '.join(p['text'].split())}"


@register("rag_answer")
class RagAnswer(Step):
    """Answer ``question`` from numbered ``passages``, citing them as ``[n]``.

    Writes ``answer``, ``citations``, ``cited`` and ``answerable``. With no
    passages it answers "Not in the context." without calling the LLM.
    """

    prompt: str = "rag/answer.chat.j2"
    question: str = "question"
    passages: str = "passages"
    cite: CiteMode = "free"
    max_passage_chars: int | None = Field(1500, ge=1, description="cut each passage shown to the model to this length")
    params: SamplingParams = SamplingParams(max_tokens=160, temperature=0.0)

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return (prompts.variables(self.prompt) - _TEMPLATE_INPUTS) | {self.question, self.passages}

    def writes(self) -> set[str]:
        return set(ANSWER_FIELDS)

    async def process(self, record: Record, ctx: Context) -> Record:
        passages = record[self.passages]
        if not passages:
            ctx.annotate(skipped="no passages to answer from")
            return {"answer": NOT_IN_CONTEXT, "citations": [], "cited": [], "answerable": False}
        shown = [{**p, "text": _cut(p["text"], self.max_passage_chars)} for p in passages]
        values = {**record, "question": record[self.question], "passages": shown, "cite": self.cite}
        try:
            text = (await generate(ctx, self.prompt, values, self.params, self.constraint(len(passages)))).text
        except TruncatedOutput as cut_off:  # constrained output hit max_tokens: read what there is
            ctx.annotate(truncated=str(cut_off))
            text = cut_off.text
        answer, numbers, invalid = self.read(text, len(passages))
        if invalid:
            ctx.annotate(invalid_citations=list(invalid))
        return {
            "answer": answer,
            "citations": list(numbers),
            "cited": cited_passages(numbers, passages),
            "answerable": not is_unanswerable(answer),
        }

    def constraint(self, n_passages: int) -> Constraint | None:
        if self.cite == "regex":
            return Constraint.regex(citation_pattern(n_passages))
        if self.cite == "json":
            return Constraint.json_schema(citation_schema(n_passages))
        return None

    def read(self, text: str, n_passages: int) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
        """The answer text and its valid and invalid citations; JSON replies are unpacked first."""
        answer = text.strip()
        listed: list[int] = []
        if self.cite == "json":
            answer, listed = _unpack_json(answer)
        inline = parse_citations(answer, n_passages)
        numbers = list(inline.numbers)
        invalid = list(inline.invalid)
        for n in listed:
            target = numbers if 1 <= n <= n_passages else invalid
            if n not in target:
                target.append(n)
        return answer, tuple(numbers), tuple(invalid)


def _unpack_json(text: str) -> tuple[str, list[int]]:
    """``answer`` and integer ``citations`` of a JSON reply; unparsable text is returned as the answer."""
    try:
        data = json.loads(text)
    except ValueError:
        return text, []
    if not isinstance(data, dict) or not isinstance(data.get("answer"), str):
        return text, []
    listed = data.get("citations")
    numbers = [n for n in listed if isinstance(n, int) and not isinstance(n, bool)] if isinstance(listed, list) else []
    return data["answer"].strip(), numbers


def _cut(text: str, limit: int | None) -> str:
    text = " ".join(text.split())
    if limit is None or len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."
