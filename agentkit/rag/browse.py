"""Reading local documents the way ReAct reads Wikipedia: ``search[query]`` then ``lookup[keyword]``.

``search`` shows the best passage(s) for a query and opens the top hit's whole
document; ``lookup`` returns, one call at a time, the sentences of that open
document that contain a keyword (``(Result 2 / 3) ...``), as in Yao et al.
(2023). That reading position is per-run state. It lives in a
:class:`BrowseSession`, never in a tool object or the index: make one session
per agent run (:func:`browse_tools` does), and concurrent agents share only the
read-only index.

Documents are rebuilt from the index's chunks by their character offsets, so
chunked indexes give ``lookup`` the full document, not only the matched chunk.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentkit.rag.cache import as_retriever
from agentkit.rag.documents import Chunk, Hit, sentence_spans
from agentkit.rag.index import Retriever

if TYPE_CHECKING:
    from agentkit.agents.tool import Tool

DEFAULT_PASSAGE_CHARS = 600


class BrowseError(ValueError):
    """A search or lookup the model should do differently; the message says how."""


@dataclass(frozen=True)
class Page:
    """One whole document, split into sentences for ``lookup``."""

    doc_id: str
    title: str
    text: str

    @property
    def sentences(self) -> list[str]:
        return [self.text[s:e] for s, e in sentence_spans(self.text)]


def show_hit(hit: Hit, max_chars: int = DEFAULT_PASSAGE_CHARS) -> str:
    """``[doc_id] Title: passage`` with the passage cut at a word boundary."""
    text = " ".join(hit.text.split())
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] + " ..."
    title = f" {hit.title}:" if hit.title else ""
    return f"[{hit.doc_id}]{title} {text}"


def search_passages(
    retriever: Retriever, query: str, k: int = 1, max_chars: int = DEFAULT_PASSAGE_CHARS
) -> tuple[str, list[Hit]]:
    """The text a model sees for ``search[query]`` and the hits behind it (best first)."""
    if not query.strip():
        raise BrowseError("give a non-empty search query")
    hits = retriever.search(query, k)
    if not hits:
        raise BrowseError(f"no passage matches {query!r}; try other or fewer words")
    return "\n\n".join(show_hit(hit, max_chars) for hit in hits), hits


class BrowseSession:
    """One agent run's reading state: the open document and how far ``lookup`` has read in it.

    Not shared between runs and not thread-safe: an agent calls its tools one
    after another. The retriever it reads from is shared and never modified.
    """

    def __init__(self, retriever: Retriever, k: int = 1, max_chars: int = DEFAULT_PASSAGE_CHARS) -> None:
        self.retriever = retriever
        self.k = k
        self.max_chars = max_chars
        self.page: Page | None = None
        self._keyword: str | None = None
        self._matches: list[str] = []
        self._next = 0

    def search(self, query: str) -> tuple[str, list[Hit]]:
        """Show the best passage(s) and open the top hit's document for ``lookup``."""
        self.page, self._keyword = None, None
        text, hits = search_passages(self.retriever, query, self.k, self.max_chars)
        self.page = page_of(self.retriever, hits[0])
        return text, hits

    def lookup(self, keyword: str) -> str:
        """The next sentence of the open document containing ``keyword`` (case-insensitive)."""
        if self.page is None:
            raise BrowseError("no document is open: call search first, then lookup a keyword in its result")
        wanted = " ".join(keyword.split()).lower()
        if not wanted:
            raise BrowseError("give a non-empty keyword")
        if wanted != self._keyword:
            self._keyword, self._next = wanted, 0
            self._matches = [s for s in self.page.sentences if wanted in " ".join(s.split()).lower()]
        where = f"[{self.page.doc_id}]" + (f" {self.page.title}" if self.page.title else "")
        if not self._matches:
            return f"No sentence of {where} contains '{keyword}'."
        if self._next >= len(self._matches):
            return f"No more results for '{keyword}' in {where}."
        self._next += 1
        return f"(Result {self._next} / {len(self._matches)}) {' '.join(self._matches[self._next - 1].split())}"


def browse_tools(index: str | Path | Retriever, k: int = 1, max_chars: int = DEFAULT_PASSAGE_CHARS) -> list[Tool]:
    """A fresh ``search`` and ``lookup`` pair sharing a new session: call once per agent run.

    ``index`` is a saved index folder (opened once per process) or a retriever.
    """
    from agentkit.agents.tool import load_builtin

    session = BrowseSession(as_retriever(index), k, max_chars)
    return [load_builtin("search", session=session), load_builtin("lookup", session=session)]


# ---------------------------------------------------------------- documents from chunks

_documents: weakref.WeakKeyDictionary[Any, dict[str, list[Chunk]]] = weakref.WeakKeyDictionary()
_documents_lock = threading.Lock()


def page_of(retriever: Retriever, hit: Hit) -> Page:
    """The whole document behind ``hit``, stitched from the index's chunks (the hit alone if it has none)."""
    chunks = _chunks_by_document(retriever).get(hit.doc_id)
    if not chunks:
        return Page(hit.doc_id, hit.title, hit.text)
    return Page(hit.doc_id, chunks[0].title, stitch(chunks))


def stitch(chunks: Sequence[Chunk]) -> str:
    """One document's text from its chunks (sorted by offset; overlaps merged; gaps were whitespace)."""
    text, end = "", None
    for chunk in sorted(chunks, key=lambda c: (c.start, c.end)):
        if end is None:
            text, end = chunk.text, chunk.end
        elif chunk.start >= end:
            text += (" " if chunk.start > end else "") + chunk.text
            end = chunk.end
        elif chunk.end > end:
            text += chunk.text[end - chunk.start :]
            end = chunk.end
    return text


def _chunks_by_document(retriever: Retriever) -> dict[str, list[Chunk]]:
    """Chunks grouped by document, computed once per index object."""
    with _documents_lock:
        try:
            return _documents[retriever]
        except KeyError:
            grouped = _documents[retriever] = _group(retriever)
            return grouped
        except TypeError:  # not weak-referenceable: group without caching
            return _group(retriever)


def _group(retriever: Retriever) -> dict[str, list[Chunk]]:
    grouped: dict[str, list[Chunk]] = {}
    for chunk in _index_chunks(retriever):
        grouped.setdefault(chunk.doc_id, []).append(chunk)
    return grouped


def _index_chunks(retriever: Any) -> Sequence[Chunk]:
    """The chunks an index stores (a hybrid index's parts all store the same ones)."""
    chunks = getattr(retriever, "chunks", None)
    if chunks is not None:
        return list(chunks)
    for part in getattr(retriever, "retrievers", ()):
        found = _index_chunks(part)
        if found:
            return found
    return []
