"""Built-in tool: ReAct's ``search[query]`` over a local RAG index.

Returns the best passage(s) for a query as ``[doc_id] Title: text``; the hits
with their scores go to ``ToolResult.details`` for the trace. Configure it with
``index`` (a folder written by ``agentkit index build``, opened once per
process) for a stateless search, or with a per-run ``session`` so ``lookup`` can
read on in the document it found: :func:`agentkit.rag.browse.browse_tools`
makes such a pair for one agent run.
"""

from __future__ import annotations

from pathlib import Path

from agentkit.agents.tool import Tool, ToolResult, tool
from agentkit.rag.browse import DEFAULT_PASSAGE_CHARS, BrowseError, BrowseSession, search_passages
from agentkit.rag.cache import as_retriever
from agentkit.rag.documents import Hit
from agentkit.rag.index import Retriever


def search_tool(
    index: str | Path | Retriever | None = None,
    k: int = 1,
    max_chars: int = DEFAULT_PASSAGE_CHARS,
    session: BrowseSession | None = None,
) -> Tool:
    """A ``search`` tool over ``index`` (stateless), or over ``session``'s index (opens pages for lookup)."""
    if (index is None) == (session is None):
        raise TypeError("search_tool needs exactly one of index= (a saved index folder) or session=")
    retriever = as_retriever(index) if index is not None else None

    @tool(name="search")
    def search(query: str) -> ToolResult:
        """Search the documents; returns the best matching passage with its document id and title.

        Args:
            query: words to search for, e.g. an entity name or a short claim
        """
        try:
            if session is not None:
                text, hits = session.search(query)
            else:
                assert retriever is not None
                text, hits = search_passages(retriever, query, k, max_chars)
        except BrowseError as error:
            return ToolResult(ok=False, error=str(error))
        return ToolResult(
            ok=True, output=text, details={"hits": [_evidence(rank, hit) for rank, hit in enumerate(hits, 1)]}
        )

    return search


def _evidence(rank: int, hit: Hit) -> dict[str, object]:
    return {"rank": rank, "doc_id": hit.doc_id, "score": hit.score, "title": hit.title}
