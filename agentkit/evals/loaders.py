"""Loaders that turn the data sets in ``shared/data`` into lists of plain records.

Every data set keeps its own file format on disk; evaluation code should not have
to know any of them. ``load_dataset(name, split)`` returns ``list[dict]`` whose
records all carry a stable string ``id`` and the normalized fields below.

=============  ==========================================  ==========================================
data set       fields                                      splits (records in shared/data)
=============  ==========================================  ==========================================
gsm8k          question, answer (final number, no commas),  full 7473, dev 500, train 6973; test*
               rationale (worked solution, ``<<..>>``
               calculator annotations removed)
commonsenseqa  question, choices [{label, text}] x5,       full 9741, dev 500, train 9241;
               answer (letter A-E), answer_text, concept   test* (the official dev_rand_split)
strategyqa     question, answer ("yes"/"no"), choices,      full 1000, dev 300, train 700
               rationale (BIG-bench facts)
last_letters   question, answer                            full 200, dev 100, train 100
coin_flip      question, answer ("yes"/"no")               full 200, dev 100, train 100
hotpotqa       question, answer, type, level, paragraphs    full 300, dev 100, train 200;
               [{title, text, sentences}],                 validation* (RPT dev), test*,
               supporting_titles, supporting_facts         react_dev* (no paragraphs)
               [[title, sentence index]]
scan           command, actions (space-separated)          simple_train 16728, simple_test 4182,
                                                           length_train 16990; length_test*
sst2           text, label, label_id                       train 6920, dev 872; test*
trec           text, label, label_id, coarse, fine         full 5452, dev 500, train 4952; test*
agnews         text, title, description, label, label_id   full 1999, dev 1000, train 999; test*
scifact        question (claim), relevant {doc id: rel}    train 809 queries; test*
=============  ==========================================  ==========================================

``*`` marks held-out files (upstream names, e.g. gsm8k ``test.jsonl``) that are not
in shared/data; pass ``data_dir`` pointing at a folder that has them. ``data_dir``
may hold one folder per data set (the shared/data layout) or be that folder itself.

Carved splits: where a data set has only one local file, ``full`` is that file and
``dev``/``train`` split it without overlap. A record goes to ``dev`` when its
``sha256("<name>:<id>")`` is among the smallest ``dev`` size, so the carve never
depends on Python's random module or on record order; both keep file order.

Classification labels are readable names; ``LABELS[name]`` lists them in
``label_id`` order. AG News text is cleaned of the corpus's mangled HTML entities
(`` #39;s`` -> ``'s``) and backslashes; its ``dev.csv`` has one stray header row,
which is skipped (so 1999 of its 2000 rows are examples). SciFact's corpus and
qrels come whole from ``load_beir``.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

Record = dict[str, Any]
Parser = Callable[[Path, str], list[Record]]

LABELS: dict[str, list[str]] = {
    "sst2": ["negative", "positive"],
    "trec": ["abbreviation", "description", "entity", "human", "location", "number"],
    "agnews": ["world", "sports", "business", "science/tech"],
}
_TREC_CODES = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def default_data_dir() -> Path:
    """``$AGENTKIT_DATA_DIR``, else ``../shared/data`` from the working directory,
    else the ``shared/data`` found walking up from this file."""
    if env := os.environ.get("AGENTKIT_DATA_DIR"):
        return Path(env)
    candidates = [Path.cwd().parent / "shared" / "data"]
    candidates += [parent / "shared" / "data" for parent in Path(__file__).resolve().parents]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no data directory found: pass --data-dir (data_dir=...) or set AGENTKIT_DATA_DIR")


# --- file parsers: (path, id prefix) -> records ---------------------------------

def _jsonl(path: Path) -> Iterator[Any]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


_CALCULATOR = re.compile(r"<<[^>]*>>")


def _gsm8k(path: Path, prefix: str) -> list[Record]:
    records = []
    for i, row in enumerate(_jsonl(path)):
        solution, _, final = row["answer"].rpartition("####")
        records.append({
            "id": f"{prefix}:{i}",
            "question": row["question"],
            "answer": final.strip().replace(",", ""),
            "rationale": _CALCULATOR.sub("", solution).strip(),
        })
    return records


def _commonsenseqa(path: Path, prefix: str) -> list[Record]:
    records = []
    for row in _jsonl(path):
        question = row["question"]
        choices = [{"label": c["label"], "text": c["text"]} for c in question["choices"]]
        answer_text = next(c["text"] for c in choices if c["label"] == row["answerKey"])
        records.append({
            "id": row["id"], "question": question["stem"], "choices": choices,
            "answer": row["answerKey"], "answer_text": answer_text, "concept": question["question_concept"],
        })
    return records


def _strategyqa(path: Path, prefix: str) -> list[Record]:
    records = []
    for i, row in enumerate(json.loads(path.read_text(encoding="utf-8"))["examples"]):
        answer = max(row["target_scores"], key=row["target_scores"].get)
        rationale = row["target"].removeprefix(answer).removeprefix(".").strip()
        records.append({
            "id": f"{prefix}:{i}", "question": row["input"], "answer": answer.lower(),
            "choices": ["yes", "no"], "rationale": rationale,
        })
    return records


def _question_answer_json(path: Path, prefix: str) -> list[Record]:
    examples = json.loads(path.read_text(encoding="utf-8"))["examples"]
    return [{"id": f"{prefix}:{i}", "question": ex["question"], "answer": ex["answer"]}
            for i, ex in enumerate(examples)]


def _hotpotqa(path: Path, prefix: str) -> list[Record]:
    if path.suffix == ".json":  # ReAct's simplified dev set: questions without paragraphs
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [{"id": f"{prefix}:{i}", "question": r["question"], "answer": r["answer"], "type": r["type"],
                 "level": None, "paragraphs": [], "supporting_titles": [], "supporting_facts": []}
                for i, r in enumerate(rows)]
    records = []
    for row in _jsonl(path):
        context, facts = row["context"], row["supporting_facts"]
        paragraphs = [{"title": title, "text": "".join(sentences), "sentences": sentences}
                      for title, sentences in zip(context["title"], context["sentences"], strict=True)]
        records.append({
            "id": row["id"], "question": row["question"], "answer": row["answer"],
            "type": row["type"], "level": row["level"], "paragraphs": paragraphs,
            "supporting_titles": list(dict.fromkeys(facts["title"])),
            "supporting_facts": [[t, s] for t, s in zip(facts["title"], facts["sent_id"], strict=True)],
        })
    return records


def _scan(path: Path, prefix: str) -> list[Record]:
    records = []
    for i, line in enumerate(_lines(path)):
        command, sep, actions = line.removeprefix("IN:").partition(" OUT:")
        if not sep:
            raise ValueError(f"{path}:{i + 1}: expected 'IN: ... OUT: ...'")
        records.append({"id": f"{prefix}:{i}", "command": command.strip(), "actions": actions.strip()})
    return records


def _sst2(path: Path, prefix: str) -> list[Record]:
    records = []
    for i, line in enumerate(_lines(path)):
        label_id, text = line.split(" ", 1)
        records.append({"id": f"{prefix}:{i}", "text": text.strip(), "label": LABELS["sst2"][int(label_id)],
                        "label_id": int(label_id)})
    return records


def _trec(path: Path, prefix: str) -> list[Record]:
    records = []
    for i, line in enumerate(_lines(path)):
        tag, text = line.split(" ", 1)
        coarse, fine = tag.split(":", 1)
        label_id = _TREC_CODES.index(coarse)
        records.append({"id": f"{prefix}:{i}", "text": text.strip(), "label": LABELS["trec"][label_id],
                        "label_id": label_id, "coarse": coarse, "fine": fine})
    return records


_MANGLED_ENTITY = re.compile(r" ?(#\d+|\b(?:quot|amp|lt|gt|hellip));")  # "&#39;" lost its "&"


def _clean_agnews(text: str) -> str:
    text = _MANGLED_ENTITY.sub(lambda m: html.unescape(f"&{m.group(1)};"), html.unescape(text))
    text = text.replace("\\$", "$").replace("\\", " ")
    return " ".join(text.split())


def _agnews(path: Path, prefix: str) -> list[Record]:
    records = []
    with path.open(encoding="utf-8", newline="") as rows:
        for i, (label, title, description) in enumerate(csv.reader(rows)):
            if not label.isdigit():  # the header, wherever sampling put it
                continue
            title, description = _clean_agnews(title), _clean_agnews(description)
            joiner = " " if title.endswith((".", "?", "!")) else ". "
            label_id = int(label) - 1
            records.append({"id": f"{prefix}:{i}", "text": f"{title}{joiner}{description}", "title": title,
                            "description": description, "label": LABELS["agnews"][label_id], "label_id": label_id})
    return records


# --- BEIR -------------------------------------------------------------------------

@dataclass
class BEIRData:
    """A retrieval benchmark: ``corpus[doc_id] = {title, text}``, ``queries[qid] = text``
    (only the queries judged in this split) and ``qrels[qid][doc_id] = relevance``."""

    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR ``query-id<TAB>corpus-id<TAB>score`` with header, or TREC ``qid 0 docid rel``."""
    qrels: dict[str, dict[str, int]] = {}
    for line in _lines(path):
        fields = line.split()
        if len(fields) == 4:
            fields = [fields[0], fields[2], fields[3]]
        qid, doc_id, score = fields
        if not score.lstrip("-").isdigit():  # header
            continue
        qrels.setdefault(qid, {})[doc_id] = int(score)
    return qrels


def _read_queries(folder: Path) -> dict[str, str]:
    return {row["_id"]: row["text"] for row in _jsonl(folder / "queries.jsonl")}


def _scifact(path: Path, prefix: str) -> list[Record]:
    queries = _read_queries(path.parent.parent)
    return [{"id": qid, "question": queries[qid], "relevant": relevant}
            for qid, relevant in _read_qrels(path).items()]


def load_beir(path_or_name: str | Path, split: str = "train", data_dir: str | Path | None = None) -> BEIRData:
    """Load a BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), given
    by path or by data set name under ``data_dir``."""
    folder = Path(path_or_name)
    if not (folder / "corpus.jsonl").is_file():
        folder = Path(data_dir) if data_dir is not None else default_data_dir()
        if not (folder / "corpus.jsonl").is_file():
            folder = folder / str(path_or_name)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for needed in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not needed.is_file():
            raise FileNotFoundError(f"BEIR data {path_or_name!r} split {split!r}: missing {needed}")
    corpus = {row["_id"]: {"title": row.get("title", ""), "text": row["text"]}
              for row in _jsonl(folder / "corpus.jsonl")}
    qrels = _read_qrels(qrels_path)
    queries = _read_queries(folder)
    return BEIRData(corpus=corpus, queries={qid: queries[qid] for qid in qrels}, qrels=qrels)


# --- registry ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    parse: Parser
    files: dict[str, str]  # split -> file name inside the data set's folder
    folders: tuple[str, ...] = ()  # folder names to look in; default: the data set's name
    dev_size: int = 0  # > 0: ``dev``/``train`` are carved from ``full``


_SPECS: dict[str, _Spec] = {
    "gsm8k": _Spec(_gsm8k, {"full": "train.jsonl", "test": "test.jsonl"}, dev_size=500),
    "commonsenseqa": _Spec(_commonsenseqa, {"full": "train_rand_split.jsonl", "test": "dev_rand_split.jsonl"},
                           dev_size=500),
    "strategyqa": _Spec(_strategyqa, {"full": "task.json"}, dev_size=300),
    "last_letters": _Spec(_question_answer_json, {"full": "last_letters.json"}, dev_size=100),
    "coin_flip": _Spec(_question_answer_json, {"full": "coin_flip.json"}, ("coin_flip", "last_letters"), dev_size=100),
    "hotpotqa": _Spec(_hotpotqa, {"full": "train.jsonl", "validation": "dev.jsonl", "test": "test.jsonl",
                                  "react_dev": "hotpot_dev_v1_simplified.json"}, dev_size=100),
    "scan": _Spec(_scan, {"simple_train": "tasks_train_simple.txt", "simple_test": "tasks_test_simple.txt",
                          "length_train": "tasks_train_length.txt", "length_test": "tasks_test_length.txt"}),
    "sst2": _Spec(_sst2, {"train": "stsa.binary.train", "dev": "stsa.binary.dev", "test": "stsa.binary.test"}),
    "trec": _Spec(_trec, {"full": "train.txt", "test": "test.txt"}, dev_size=500),
    "agnews": _Spec(_agnews, {"full": "dev.csv", "test": "test.csv"}, dev_size=1000),
    "scifact": _Spec(_scifact, {"train": "qrels/train.tsv", "test": "qrels/test.tsv"}),
}


def _spec(name: str) -> _Spec:
    if name not in _SPECS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(_SPECS))}")
    return _SPECS[name]


def splits(name: str) -> list[str]:
    """Every split ``load_dataset`` accepts for ``name`` (held-out ones need ``data_dir``)."""
    spec = _spec(name)
    return [*spec.files, *(("dev", "train") if spec.dev_size else ())]


def _find_file(name: str, spec: _Spec, split: str, data_dir: str | Path | None) -> Path:
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    file_name = spec.files[split]
    tried = [root / folder / file_name for folder in spec.folders or (name,)] + [root / file_name]
    for path in tried:
        if path.is_file():
            return path
    raise FileNotFoundError(f"{name} split {split!r} needs {file_name}, not found at: {', '.join(map(str, tried))}. "
                            "Point data_dir (--data-dir) at a folder that has it.")


def _read(name: str, spec: _Spec, split: str, data_dir: str | Path | None) -> list[Record]:
    path = _find_file(name, spec, split, data_dir)
    return spec.parse(path, f"{name}:{spec.files[split]}")


def _carve(name: str, records: list[Record], dev_size: int) -> tuple[list[Record], list[Record]]:
    def rank(record: Record) -> str:
        return hashlib.sha256(f"{name}:{record['id']}".encode()).hexdigest()

    dev_ids = {record["id"] for record in sorted(records, key=rank)[:dev_size]}
    return [r for r in records if r["id"] in dev_ids], [r for r in records if r["id"] not in dev_ids]


def load_dataset(name: str, split: str, data_dir: str | Path | None = None,
                 limit: int | None = None, seed: int | None = None) -> list[Record]:
    """Records of one split. ``limit`` keeps the first N, or with ``seed`` a seeded random
    N (in file order either way)."""
    spec = _spec(name)
    if split not in splits(name):
        raise ValueError(f"unknown split {split!r} for {name}; known: {', '.join(splits(name))}")
    if split in spec.files:
        records = _read(name, spec, split, data_dir)
    else:
        dev, train = _carve(name, _read(name, spec, "full", data_dir), spec.dev_size)
        records = dev if split == "dev" else train
    if limit is None:
        return records
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if seed is None:
        return records[:limit]
    keep = sorted(random.Random(seed).sample(range(len(records)), min(limit, len(records))))
    return [records[i] for i in keep]


LOADERS: dict[str, Callable[..., list[Record]]] = {name: partial(load_dataset, name) for name in _SPECS}
"""``LOADERS[name](split, data_dir=None, limit=None, seed=None)``."""
