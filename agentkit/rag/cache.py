"""Indexes opened once per process, so a step or tool that names a folder serves many runs.

Steps and tools hold only the folder's path (immutable, YAML-friendly); the
loaded index is looked up here on use. An entry is keyed by the resolved
folder and its manifest's modification time, so a rebuilt index is reopened
and an unchanged one never is. A per-folder lock makes concurrent first uses
open the folder once.
"""

from __future__ import annotations

import threading
from pathlib import Path

from agentkit.rag.index import MANIFEST, Index, Retriever, load_index

_opened: dict[str, tuple[int, Index]] = {}
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def shared_index(folder: str | Path) -> Index:
    """The index saved in ``folder``, loaded on first use and cached for the process."""
    path = Path(folder).expanduser().resolve()
    try:
        stamp = (path / MANIFEST).stat().st_mtime_ns
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{folder} is not a saved index (no {MANIFEST}); build one with `agentkit index build --corpus ... --out {folder}`"
        ) from None
    key = str(path)
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        cached = _opened.get(key)
        if cached is None or cached[0] != stamp:
            _opened[key] = (stamp, load_index(path))
        return _opened[key][1]


def as_retriever(index: str | Path | Retriever) -> Retriever:
    """A retriever object as is; a folder path through :func:`shared_index`."""
    if isinstance(index, (str, Path)):
        return shared_index(index)
    if not isinstance(index, Retriever):
        raise TypeError(f"expected an index folder or an object with search(), got {type(index).__name__}")
    return index
