"""`agentkit index build|eval` and `agentkit retrieve` end to end on a tiny BEIR folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit.cli.main import main

DOCS = {
    "1": ("Insulin", "Insulin resistance is common in obesity and type 2 diabetes."),
    "2": ("Neurons", "Hippocampal neurons support the formation of new memories."),
    "3": ("Vaccines", "Measles vaccination prevents infection in children."),
    "4": ("Sleep", "Sleep deprivation impairs memory consolidation in adults."),
}
QUERIES = {"q1": "obesity causes insulin resistance", "q2": "memory formation in the hippocampus", "q3": "unjudged"}


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": t, "text": x}) + "\n" for k, (t, x) in DOCS.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items()))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t1\nq2\t2\t1\n")
    return folder


def test_build_retrieve_eval_bm25(beir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "idx"
    assert main(["index", "build", "--corpus", str(beir / "corpus.jsonl"), "--out", str(out), "--kind", "bm25", "--k1", "1.2"]) == 0
    assert json.loads((out / "manifest.json").read_text())["settings"]["k1"] == 1.2
    capsys.readouterr()

    assert main(["retrieve", str(out), "insulin and obesity", "-k", "2", "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert hits[0]["doc_id"] == "1" and hits[0]["title"] == "Insulin" and hits[0]["rank"] == 1
    assert main(["retrieve", str(out), "memories"]) == 0
    assert "[2] Neurons:" in capsys.readouterr().out

    assert main(["index", "eval", str(out), "--beir", str(beir), "--split", "test", "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["ndcg@10"] == 1.0 and numbers["recall@100"] == 1.0 and numbers["queries"] == 2
    assert main(["index", "eval", str(out), "--beir", str(beir)]) == 0
    assert "split test: nDCG@10 1.0000  recall@100 1.0000" in capsys.readouterr().out


def test_build_chunked_text_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("First sentence about cats. Second about dogs. Third about fish. Fourth about birds.")
    out = tmp_path / "idx"
    assert main(["index", "build", "--corpus", str(docs), "--out", str(out), "--chunk", "sentences", "--chunk-size", "2", "--overlap", "0"]) == 0
    capsys.readouterr()
    assert main(["retrieve", str(out), "fish", "--json"]) == 0
    hit = json.loads(capsys.readouterr().out.splitlines()[0])
    assert hit["text"] == "Third about fish. Fourth about birds." and hit["doc_id"] == "a.txt"


def test_errors_exit_nonzero(beir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["retrieve", str(tmp_path), "x"]) == 1
    assert "not a saved index" in capsys.readouterr().err
    out = tmp_path / "idx"
    assert main(["index", "build", "--corpus", str(beir / "corpus.jsonl"), "--out", str(out)]) == 0
    assert main(["index", "eval", str(out), "--beir", str(beir), "--split", "dev"]) == 1
    assert "missing" in capsys.readouterr().err
    assert main(["index", "build", "--corpus", str(tmp_path / "nope.jsonl"), "--out", str(out)]) == 1


def test_build_and_eval_hybrid_with_the_local_model(beir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from agentkit.icl.embed import default_embedder

    monkeypatch.setenv("AGENTKIT_HOME", str(tmp_path / "home"))
    default_embedder.cache_clear()
    try:
        out = tmp_path / "hybrid"
        args = ["index", "build", "--corpus", str(beir / "corpus.jsonl"), "--out", str(out), "--kind", "hybrid",
                "--fusion", "convex", "--weights", "0.4", "0.6"]
        assert main(args) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["method"] == "convex" and manifest["weights"] == pytest.approx([0.4, 0.6])
        assert json.loads((out / "part1" / "manifest.json").read_text())["kind"] == "dense"
        capsys.readouterr()
        assert main(["retrieve", str(out), "kids get measles shots", "-k", "1", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["doc_id"] == "3"
        assert main(["index", "eval", str(out), "--beir", str(beir), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["ndcg@10"] == 1.0
        assert (tmp_path / "home" / "embeddings" / "embeddings.sqlite").exists()
    finally:
        default_embedder.cache_clear()
