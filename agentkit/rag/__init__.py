"""Retrieval: chunked documents, BM25, dense (FAISS) and hybrid indexes.

Names are imported on first use, so ``import agentkit.rag`` loads neither
numpy nor any index library.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Document": "agentkit.rag.documents",
    "Chunk": "agentkit.rag.documents",
    "Hit": "agentkit.rag.documents",
    "load_corpus": "agentkit.rag.documents",
    "chunk_documents": "agentkit.rag.documents",
    "Analyzer": "agentkit.rag.analyzer",
    "BM25Index": "agentkit.rag.bm25",
    "DenseIndex": "agentkit.rag.dense",
    "HybridIndex": "agentkit.rag.hybrid",
    "Retriever": "agentkit.rag.index",
    "load_index": "agentkit.rag.index",
}

__all__ = [
    "Analyzer",
    "BM25Index",
    "Chunk",
    "DenseIndex",
    "Document",
    "Hit",
    "HybridIndex",
    "Retriever",
    "chunk_documents",
    "load_corpus",
    "load_index",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agentkit.rag' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
