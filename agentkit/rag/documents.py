"""Documents, the chunks an index stores, and the hits a search returns.

Every chunk keeps its document id and character offsets into the original
text, so a hit can always be traced back to the exact span that matched.
Loaders read BEIR JSONL corpora and plain text files; chunkers split by
whitespace tokens or by sentences, with overlap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Document:
    """One source text with a stable id."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Chunk:
    """A span ``text == document.text[start:end]`` of one document: the unit an index stores."""

    doc_id: str
    text: str
    start: int
    end: int
    title: str = ""

    @property
    def key(self) -> tuple[str, int, int]:
        """Identity of the span; fusion merges hits of different retrievers on it."""
        return (self.doc_id, self.start, self.end)

    def indexed_text(self, with_title: bool = True) -> str:
        """What retrievers see: the title (BEIR practice) followed by the span."""
        return f"{self.title} {self.text}" if with_title and self.title else self.text

    def to_json(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "title": self.title, "text": self.text, "start": self.start, "end": self.end}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Chunk:
        return cls(doc_id=str(row["doc_id"]), text=row["text"], start=int(row["start"]), end=int(row["end"]), title=row.get("title", ""))


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its score; higher scores are better within one retriever."""

    doc_id: str
    score: float
    text: str
    title: str = ""
    start: int | None = None
    end: int | None = None

    @property
    def key(self) -> tuple[str, int | None, int | None]:
        return (self.doc_id, self.start, self.end)

    @classmethod
    def of(cls, chunk: Chunk, score: float) -> Hit:
        return cls(doc_id=chunk.doc_id, score=float(score), text=chunk.text, title=chunk.title, start=chunk.start, end=chunk.end)


# ---------------------------------------------------------------- loading


def load_jsonl(
    path: str | Path,
    *,
    id_field: str = "_id",
    text_field: str = "text",
    title_field: str = "title",
) -> list[Document]:
    """Read a JSONL corpus; the defaults are BEIR's field names (``_id``, ``title``, ``text``)."""
    docs: list[Document] = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if id_field not in row or text_field not in row:
                raise ValueError(f"{path}:{line_no}: needs fields {id_field!r} and {text_field!r}")
            extra = {k: v for k, v in row.items() if k not in (id_field, text_field, title_field)}
            docs.append(Document(id=str(row[id_field]), text=row[text_field] or "", title=row.get(title_field) or "", metadata=extra))
    return docs


def load_text_files(paths: str | Path | Iterable[str | Path], *, pattern: str = "*.txt") -> list[Document]:
    """Read plain text files; a folder is searched recursively for ``pattern``.

    Ids are paths relative to the folder (or the file name), titles the file stem.
    """
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    docs: list[Document] = []
    for item in items:
        item = Path(item)
        if item.is_dir():
            for file in sorted(item.rglob(pattern)):
                docs.append(_read_text(file, str(file.relative_to(item))))
        else:
            docs.append(_read_text(item, item.name))
    return docs


def _read_text(path: Path, doc_id: str) -> Document:
    return Document(id=doc_id, text=path.read_text(encoding="utf-8"), title=path.stem)


def load_corpus(path: str | Path) -> list[Document]:
    """JSONL for ``*.jsonl``, otherwise text files (one file or a folder of ``*.txt``)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".jsonl":
        return load_jsonl(path)
    return load_text_files(path)


# ---------------------------------------------------------------- chunking

_WORD = re.compile(r"\S+")
# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets) before whitespace.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s)")


def whole(doc: Document) -> list[Chunk]:
    """The document as a single chunk (what BEIR evaluation expects)."""
    return [Chunk(doc.id, doc.text, 0, len(doc.text), doc.title)]


def chunk_by_tokens(doc: Document, size: int = 200, overlap: int = 50) -> list[Chunk]:
    """Windows of ``size`` whitespace tokens, each sharing ``overlap`` tokens with the previous one."""
    _check_window(size, overlap)
    spans = [m.span() for m in _WORD.finditer(doc.text)]
    return _windows(doc, spans, size, overlap)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences, without the whitespace between them."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    trimmed = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            trimmed.append((s, e))
    return trimmed


def chunk_by_sentences(doc: Document, size: int = 5, overlap: int = 1) -> list[Chunk]:
    """Windows of ``size`` sentences, each sharing ``overlap`` sentences with the previous one."""
    _check_window(size, overlap)
    return _windows(doc, sentence_spans(doc.text), size, overlap)


def chunk_documents(docs: Iterable[Document], by: str = "none", size: int | None = None, overlap: int | None = None) -> list[Chunk]:
    """Chunk many documents; ``by`` is ``none`` (whole documents), ``tokens`` or ``sentences``."""
    if by == "none":
        return [c for d in docs for c in whole(d)]
    if by == "tokens":
        return [c for d in docs for c in chunk_by_tokens(d, size or 200, 50 if overlap is None else overlap)]
    if by == "sentences":
        return [c for d in docs for c in chunk_by_sentences(d, size or 5, 1 if overlap is None else overlap)]
    raise ValueError(f"unknown chunking {by!r}; use none, tokens or sentences")


def _check_window(size: int, overlap: int) -> None:
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got size={size}, overlap={overlap}")


def _windows(doc: Document, spans: Sequence[tuple[int, int]], size: int, overlap: int) -> list[Chunk]:
    if not spans:
        return []
    chunks = []
    for first in _window_starts(len(spans), size, overlap):
        start, end = spans[first][0], spans[min(first + size, len(spans)) - 1][1]
        chunks.append(Chunk(doc.id, doc.text[start:end], start, end, doc.title))
    return chunks


def _window_starts(n: int, size: int, overlap: int) -> Iterator[int]:
    step = size - overlap
    first = 0
    while True:
        yield first
        if first + size >= n:
            return
        first += step


# ---------------------------------------------------------------- storage


def write_chunks(chunks: Iterable[Chunk], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(chunk.to_json(), ensure_ascii=False) + "\n" for chunk in chunks)


def read_chunks(path: str | Path) -> list[Chunk]:
    with open(path, encoding="utf-8") as f:
        return [Chunk.from_json(json.loads(line)) for line in f if line.strip()]
