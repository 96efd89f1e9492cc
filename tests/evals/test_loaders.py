"""Loaders against the real files in shared/data: counts as SOURCE.txt states them."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from agentkit.evals.loaders import LABELS, LOADERS, default_data_dir, load_beir, load_dataset, splits

# (data set, split) -> record count stated in (or derived from) that data set's SOURCE.txt
COUNTS = {
    ("gsm8k", "full"): 7473, ("gsm8k", "dev"): 500, ("gsm8k", "train"): 6973,
    ("commonsenseqa", "full"): 9741, ("commonsenseqa", "dev"): 500, ("commonsenseqa", "train"): 9241,
    ("strategyqa", "full"): 1000, ("strategyqa", "dev"): 300, ("strategyqa", "train"): 700,
    ("last_letters", "full"): 200, ("last_letters", "dev"): 100, ("last_letters", "train"): 100,
    ("coin_flip", "full"): 200, ("coin_flip", "dev"): 100, ("coin_flip", "train"): 100,
    ("hotpotqa", "full"): 300, ("hotpotqa", "dev"): 100, ("hotpotqa", "train"): 200,
    ("scan", "simple_train"): 16728, ("scan", "simple_test"): 4182, ("scan", "length_train"): 16990,
    ("sst2", "train"): 6920, ("sst2", "dev"): 872,
    ("trec", "full"): 5452, ("trec", "dev"): 500, ("trec", "train"): 4952,
    ("agnews", "full"): 1999, ("agnews", "dev"): 1000, ("agnews", "train"): 999,  # 2000 rows, one a header
    ("scifact", "train"): 809,
}
HELD_OUT = [("gsm8k", "test"), ("commonsenseqa", "test"), ("hotpotqa", "validation"), ("hotpotqa", "test"),
            ("hotpotqa", "react_dev"), ("scan", "length_test"), ("sst2", "test"), ("trec", "test"),
            ("agnews", "test"), ("scifact", "test")]
FIELDS = {
    "gsm8k": {"question", "answer", "rationale"},
    "commonsenseqa": {"question", "choices", "answer", "answer_text", "concept"},
    "strategyqa": {"question", "answer", "choices", "rationale"},
    "last_letters": {"question", "answer"},
    "coin_flip": {"question", "answer"},
    "hotpotqa": {"question", "answer", "type", "level", "paragraphs", "supporting_titles", "supporting_facts"},
    "scan": {"command", "actions"},
    "sst2": {"text", "label", "label_id"},
    "trec": {"text", "label", "label_id", "coarse", "fine"},
    "agnews": {"text", "title", "description", "label", "label_id"},
    "scifact": {"question", "relevant"},
}
DATA = default_data_dir()


def test_every_local_split_is_counted() -> None:
    local = {(name, split) for name in LOADERS for split in splits(name)} - set(HELD_OUT)
    assert local == set(COUNTS)


@pytest.mark.parametrize(("name", "split"), sorted(COUNTS))
def test_counts_fields_and_unique_ids(name: str, split: str) -> None:
    records = load_dataset(name, split)
    assert len(records) == COUNTS[name, split]
    assert len({r["id"] for r in records}) == len(records)
    for record in records:
        assert set(record) == FIELDS[name] | {"id"}
        assert isinstance(record["id"], str) and record["id"]


@pytest.mark.parametrize(("name", "split"), HELD_OUT)
def test_held_out_split_missing_names_the_file(name: str, split: str) -> None:
    with pytest.raises(FileNotFoundError, match="data_dir"):
        load_dataset(name, split)


def test_class_balances_match_source() -> None:
    assert Counter(r["label"] for r in load_dataset("sst2", "train")) == {"negative": 3310, "positive": 3610}
    assert Counter(r["label"] for r in load_dataset("sst2", "dev")) == {"negative": 428, "positive": 444}
    assert Counter(r["type"] for r in load_dataset("hotpotqa", "full")) == {"bridge": 238, "comparison": 62}
    assert Counter(r["answer"] for r in load_dataset("coin_flip", "full")) == {"yes": 100, "no": 100}
    assert Counter(r["coarse"] for r in load_dataset("trec", "full")) == {
        "ENTY": 1250, "HUM": 1223, "DESC": 1162, "NUM": 896, "LOC": 835, "ABBR": 86}


def test_labels_are_consistent() -> None:
    for name in LABELS:
        for record in load_dataset(name, "full" if "full" in splits(name) else "train"):
            assert LABELS[name][record["label_id"]] == record["label"]
    classes = (DATA / "agnews" / "classes.txt").read_text().strip()
    assert [c.split("-", 1)[1].lower() for c in classes.split(", ")] == LABELS["agnews"]


def test_gsm8k_answer_and_rationale() -> None:
    first = load_dataset("gsm8k", "full", limit=1)[0]
    assert first["answer"] == "72"
    assert first["rationale"] == ("Natalia sold 48/2 = 24 clips in May.\n"
                                  "Natalia sold 48+24 = 72 clips altogether in April and May.")
    records = load_dataset("gsm8k", "full")
    assert all("<<" not in r["rationale"] and "####" not in r["rationale"] for r in records)
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", r["answer"]) for r in records)


def test_agnews_text_is_cleaned() -> None:
    texts = [r["text"] for r in load_dataset("agnews", "full")]
    assert not any("#39;" in t or "quot;" in t or "\\" in t or "&lt;" in t for t in texts)
    assert texts[0].startswith("After Wait, Google Set for Market Debut. NEW YORK (Reuters)")
    assert "the year's most anticipated" in texts[0] and "$1.67 billion" in texts[0]


def test_structured_fields() -> None:
    hotpot = load_dataset("hotpotqa", "full")
    assert sum(len(r["paragraphs"]) < 10 for r in hotpot) == 3  # as SOURCE.txt notes
    for record in hotpot:
        titles = [p["title"] for p in record["paragraphs"]]
        assert set(record["supporting_titles"]) <= set(titles)
        for title, sentence in record["supporting_facts"]:
            assert sentence < len(record["paragraphs"][titles.index(title)]["sentences"])
    csqa = load_dataset("commonsenseqa", "full", limit=50)
    assert all([c["label"] for c in r["choices"]] == list("ABCDE") for r in csqa)
    strategy = load_dataset("strategyqa", "full")
    assert {r["answer"] for r in strategy} == {"yes", "no"}
    assert not any(r["rationale"].startswith(("Yes.", "No.", ".", " ")) for r in strategy)
    scan = load_dataset("scan", "simple_test", limit=5)
    assert all(r["actions"].startswith("I_") and "OUT" not in r["command"] for r in scan)


def test_carve_is_disjoint_complete_and_stable() -> None:
    for name in ("gsm8k", "trec", "agnews", "hotpotqa"):
        full = load_dataset(name, "full")
        dev, train = load_dataset(name, "dev"), load_dataset(name, "train")
        dev_ids, train_ids = {r["id"] for r in dev}, {r["id"] for r in train}
        assert not dev_ids & train_ids
        assert dev_ids | train_ids == {r["id"] for r in full}
        assert [r["id"] for r in dev] == [r["id"] for r in full if r["id"] in dev_ids]  # file order
        assert dev_ids != {r["id"] for r in full[: len(dev)]}  # not simply the head of the file
    # pinned: the carve must not change between versions, or dev scores stop being comparable
    assert [r["id"] for r in load_dataset("trec", "dev")][:3] == [
        "trec:train.txt:4", "trec:train.txt:61", "trec:train.txt:76"]
    assert [r["id"] for r in load_dataset("gsm8k", "dev")][:3] == [
        "gsm8k:train.jsonl:0", "gsm8k:train.jsonl:7", "gsm8k:train.jsonl:17"]


def test_limit_and_seed() -> None:
    full = load_dataset("trec", "train")
    assert load_dataset("trec", "train", limit=5) == full[:5]
    sample = load_dataset("trec", "train", limit=5, seed=3)
    assert sample == load_dataset("trec", "train", limit=5, seed=3)
    assert sample != full[:5] and sample != load_dataset("trec", "train", limit=5, seed=4)
    positions = [full.index(r) for r in sample]
    assert positions == sorted(positions)
    assert len(load_dataset("coin_flip", "dev", limit=10_000, seed=1)) == 100
    with pytest.raises(ValueError):
        load_dataset("trec", "train", limit=-1)


def test_loaders_registry_matches_load_dataset() -> None:
    assert LOADERS["sst2"]("dev", limit=3) == load_dataset("sst2", "dev", limit=3)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ValueError, match="gsm8k"):
        load_dataset("gsm9k", "train")
    with pytest.raises(ValueError, match="simple_train"):
        load_dataset("scan", "train")


def test_beir_scifact() -> None:
    data = load_beir("scifact", "train")
    assert len(data.corpus) == 5183
    assert len(data.queries) == 809
    assert sum(len(docs) for docs in data.qrels.values()) == 919
    assert set(data.queries) == set(data.qrels)
    assert all(doc in data.corpus for docs in data.qrels.values() for doc in docs)
    assert set(data.corpus["4983"]) == {"title", "text"}
    assert load_beir(DATA / "scifact", "train").qrels == data.qrels
    with pytest.raises(FileNotFoundError, match="test.tsv"):
        load_beir("scifact", "test")


def _held_out_copies(root: Path) -> None:
    """Tiny files in the upstream formats of the held-out splits."""
    (root / "gsm8k").mkdir()
    (root / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": "q?", "answer": "a <<1+1=2>>2\n#### 1,002"}))
    (root / "trec").mkdir()
    (root / "trec" / "test.txt").write_text("NUM:date When was X born ?\nHUM:ind Who is Y ?")
    (root / "agnews").mkdir()
    (root / "agnews" / "test.csv").write_text('"Class Index","Title","Description"\n"2","Win","Team wins."\n')
    (root / "scan").mkdir()
    (root / "scan" / "tasks_test_length.txt").write_text("IN: jump twice OUT: I_JUMP I_JUMP\n")
    (root / "hotpotqa").mkdir()
    (root / "hotpotqa" / "hotpot_dev_v1_simplified.json").write_text(
        json.dumps([{"question": "Who?", "answer": "Me", "type": "bridge"}]))
    shutil.copytree(DATA / "scifact", root / "scifact")
    (root / "scifact" / "qrels").chmod(0o755)
    (root / "scifact" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\t31715818\t1\n")


def test_data_dir_reads_held_out_layouts(tmp_path: Path) -> None:
    _held_out_copies(tmp_path)
    [gsm] = load_dataset("gsm8k", "test", data_dir=tmp_path)
    assert (gsm["answer"], gsm["rationale"]) == ("1002", "a 2")
    trec = load_dataset("trec", "test", data_dir=tmp_path)
    assert [(r["label"], r["fine"]) for r in trec] == [("number", "date"), ("human", "ind")]
    [news] = load_dataset("agnews", "test", data_dir=tmp_path)
    assert (news["label"], news["text"]) == ("sports", "Win. Team wins.")
    [scan] = load_dataset("scan", "length_test", data_dir=tmp_path)
    assert scan["actions"] == "I_JUMP I_JUMP"
    [hotpot] = load_dataset("hotpotqa", "react_dev", data_dir=tmp_path)
    assert hotpot["answer"] == "Me" and hotpot["paragraphs"] == []
    assert load_dataset("scifact", "test", data_dir=tmp_path)[0]["relevant"] == {"31715818": 1}
    # data_dir may also be the data set's own folder
    assert load_dataset("gsm8k", "test", data_dir=tmp_path / "gsm8k") == [gsm]


def test_default_data_dir_prefers_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKIT_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="data_dir"):
        load_dataset("sst2", "dev")
