"""Saving and loading any index kind from a folder.

A saved index is a folder with ``manifest.json`` (its kind, format version and
settings) next to the files its kind needs. ``load_index`` reads the manifest
and hands the folder to the right class, so callers never need to know which
kind they saved.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agentkit.rag.documents import Hit

if TYPE_CHECKING:
    from agentkit.icl.embed import Embedder

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
KINDS = ("bm25", "dense", "hybrid")


@runtime_checkable
class Retriever(Protocol):
    """Anything that ranks stored chunks for a query (best first)."""

    def search(self, query: str, k: int = 10) -> list[Hit]: ...

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]: ...


@runtime_checkable
class Index(Retriever, Protocol):
    """A retriever that can be written to a folder and read back with ``load_index``."""

    kind: str

    def save(self, folder: str | Path) -> None: ...


def write_manifest(folder: str | Path, kind: str, settings: dict[str, Any]) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"kind": kind, "format": FORMAT_VERSION, **settings}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_manifest(folder: str | Path, kind: str | None = None) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{folder} is not a saved index (no {MANIFEST})")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, this agentkit reads {FORMAT_VERSION}")
    if kind is not None and manifest.get("kind") != kind:
        raise ValueError(f"{path}: holds a {manifest.get('kind')!r} index, expected {kind!r}")
    return manifest


def save_index(index: Index, folder: str | Path) -> None:
    index.save(folder)


def load_index(folder: str | Path, *, embedder: Embedder | None = None, mmap: bool = True) -> Index:
    """Open a saved index of any kind.

    Args:
        embedder: embeds queries for dense parts; by default the one named in the
            manifest is rebuilt (it must produce the same vectors the index holds).
        mmap: memory-map BM25 score arrays instead of reading them into memory.
    """
    kind = read_manifest(folder)["kind"]
    if kind == "bm25":
        from agentkit.rag.bm25 import BM25Index

        return BM25Index.load(folder, mmap=mmap)
    if kind == "dense":
        from agentkit.rag.dense import DenseIndex

        return DenseIndex.load(folder, embedder=embedder)
    if kind == "hybrid":
        from agentkit.rag.hybrid import HybridIndex

        return HybridIndex.load(folder, embedder=embedder, mmap=mmap)
    raise ValueError(f"{folder}: unknown index kind {kind!r}; known: {', '.join(KINDS)}")
