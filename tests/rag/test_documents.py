"""Loading and chunking: every chunk must point at the exact span it came from."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from agentkit.rag.documents import (
    Chunk,
    Document,
    chunk_by_sentences,
    chunk_by_tokens,
    chunk_documents,
    load_corpus,
    load_jsonl,
    load_text_files,
    read_chunks,
    sentence_spans,
    write_chunks,
)

TEXT = (
    "Aspirin lowers the risk of stroke.  It also thins the blood! Does it help everyone? "
    "No: some patients bleed (rarely). The trial ran for 5.5 years in 12 countries.\n\nA new paragraph starts here."
)


def test_load_jsonl_reads_beir_fields(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    rows = [{"_id": 7, "title": "T", "text": "body", "metadata": {"year": 2001}}, {"_id": "x", "text": "no title"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    docs = load_jsonl(path)
    assert docs == [Document("7", "body", "T"), Document("x", "no title", "")]
    assert docs[0].metadata == {"metadata": {"year": 2001}}
    assert load_corpus(path) == docs


def test_load_jsonl_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "1", "text": "ok"}\n{"id": "2", "text": "wrong id field"}\n')
    with pytest.raises(ValueError, match=r"c.jsonl:2"):
        load_jsonl(path)


def test_load_text_files_from_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("alpha text")
    (tmp_path / "sub" / "b.txt").write_text("beta text")
    (tmp_path / "skip.md").write_text("not a txt")
    docs = load_text_files(tmp_path)
    assert [(d.id, d.title, d.text) for d in docs] == [("a.txt", "a", "alpha text"), ("sub/b.txt", "b", "beta text")]
    assert load_corpus(tmp_path / "a.txt")[0].text == "alpha text"


@pytest.mark.parametrize(("size", "overlap"), [(1, 0), (4, 0), (5, 2), (7, 6), (100, 10)])
def test_token_chunks_keep_offsets_and_overlap(size: int, overlap: int) -> None:
    doc = Document("d", TEXT, "title")
    chunks = chunk_by_tokens(doc, size, overlap)
    words = TEXT.split()
    for chunk in chunks:
        assert TEXT[chunk.start : chunk.end] == chunk.text
        assert (chunk.doc_id, chunk.title) == ("d", "title")
        assert len(chunk.text.split()) <= size
    for before, after in itertools.pairwise(chunks):
        assert len(before.text.split()) == size
        if overlap:
            assert before.text.split()[-overlap:] == after.text.split()[:overlap]
    # every word is covered, and the last chunk ends at the last word
    covered = [w for c in chunks for w in c.text.split()]
    assert set(covered) == set(words)
    assert chunks[-1].text.split()[-1] == words[-1]


def test_sentence_spans_split_on_end_punctuation() -> None:
    spans = sentence_spans(TEXT)
    sentences = [TEXT[s:e] for s, e in spans]
    assert sentences == [
        "Aspirin lowers the risk of stroke.",
        "It also thins the blood!",
        "Does it help everyone?",
        "No: some patients bleed (rarely).",
        "The trial ran for 5.5 years in 12 countries.",
        "A new paragraph starts here.",
    ]


def test_sentence_chunks_overlap_by_sentences() -> None:
    chunks = chunk_by_sentences(Document("d", TEXT), size=3, overlap=1)
    assert [TEXT[c.start : c.end] == c.text for c in chunks] == [True, True, True]
    assert chunks[0].text.startswith("Aspirin") and chunks[0].text.endswith("everyone?")
    assert chunks[1].text.startswith("Does it help") and chunks[1].text.endswith("countries.")
    assert chunks[2].text == "The trial ran for 5.5 years in 12 countries.\n\nA new paragraph starts here."


def test_chunking_rejects_bad_windows_and_handles_empty_text() -> None:
    with pytest.raises(ValueError):
        chunk_by_tokens(Document("d", TEXT), size=3, overlap=3)
    with pytest.raises(ValueError):
        chunk_documents([Document("d", TEXT)], by="paragraphs")
    assert chunk_by_tokens(Document("d", "   "), 5, 1) == []
    assert chunk_documents([Document("d", "x y", "t")]) == [Chunk("d", "x y", 0, 3, "t")]


def test_chunks_round_trip_through_jsonl(tmp_path: Path) -> None:
    chunks = chunk_documents([Document("d1", TEXT, "Tï"), Document("d2", "short one")], by="tokens", size=6, overlap=2)
    write_chunks(chunks, tmp_path / "c.jsonl")
    assert read_chunks(tmp_path / "c.jsonl") == chunks
    assert chunks[0].indexed_text() == "Tï " + chunks[0].text
    assert chunks[0].indexed_text(with_title=False) == chunks[0].text
