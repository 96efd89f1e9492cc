"""Manifests: any kind loads through one function, and bad folders fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit.rag.bm25 import BM25Index
from agentkit.rag.documents import Chunk
from agentkit.rag.index import FORMAT_VERSION, Index, Retriever, load_index, read_manifest


def test_manifest_records_kind_format_and_settings(tmp_path: Path, corpus: list[Chunk]) -> None:
    index = BM25Index.build(corpus, variant="atire", k1=0.9)
    assert isinstance(index, Index) and isinstance(index, Retriever)
    index.save(tmp_path)
    manifest = read_manifest(tmp_path, "bm25")
    assert manifest["kind"] == "bm25" and manifest["format"] == FORMAT_VERSION
    assert manifest["settings"]["variant"] == "atire" and manifest["settings"]["k1"] == 0.9
    assert manifest["size"] == len(corpus)
    with pytest.raises(ValueError, match="expected 'dense'"):
        read_manifest(tmp_path, "dense")


def test_bad_folders_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a saved index"):
        load_index(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "bm25", "format": 99}))
    with pytest.raises(ValueError, match="format 99"):
        load_index(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "splade", "format": FORMAT_VERSION}))
    with pytest.raises(ValueError, match="unknown index kind 'splade'"):
        load_index(tmp_path)
