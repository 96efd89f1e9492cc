from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from agentkit.icl.pool import Example, FieldMap, Pool, PoolSource, content_id

ROWS = [
    {"q": "What is 2 + 2?", "a": "4", "why": "two plus two", "cls": "math"},
    {"q": "Capital of France?", "a": "Paris", "why": "", "cls": "geo"},
    {"q": "  what is 2 +  2? ", "a": "4", "why": "dup up to case and spaces", "cls": "math"},
    {"q": "Capital of Peru?", "a": "Lima", "why": "", "cls": "geo"},
]
FIELDS = {"input": "q", "output": "a", "label": "cls", "rationale": "why"}


def write(path: Path, rows: list[dict[str, str]], kind: str) -> Path:
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t" if kind == "tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "csv", "tsv"])
def test_file_formats_load_the_same_pool(tmp_path: Path, kind: str) -> None:
    pool = Pool.from_file(write(tmp_path / f"pool.{kind}", ROWS, kind), FIELDS)
    assert [e.input for e in pool] == ["What is 2 + 2?", "Capital of France?", "Capital of Peru?"]  # dup dropped
    assert pool[0] == Example(id=content_id("What is 2 + 2?", "4"), input="What is 2 + 2?", output="4",
                              label="math", rationale="two plus two")
    assert pool.labels == ("math", "geo")
    assert pool.source is not None and pool.source.path and pool.source.path.endswith(kind)


def test_ids_are_stable_across_loads_and_formats(tmp_path: Path) -> None:
    a = Pool.from_file(write(tmp_path / "a.jsonl", ROWS, "jsonl"), FIELDS)
    b = Pool.from_file(write(tmp_path / "b.csv", list(reversed(ROWS)), "csv"), FIELDS)
    assert {e.id for e in a} == {e.id for e in b}
    assert a.fingerprint != b.fingerprint  # order differs, so the content differs


def test_id_field_is_used_when_present() -> None:
    pool = Pool.from_records([{"id": "x1", "input": "a", "output": "b"}, {"input": "c", "output": "d"}])
    assert pool[0].id == "x1"
    assert pool[1].id == content_id("c", "d")
    assert pool.get("x1").input == "a" and pool.position("x1") == 0


def test_dedupe_can_be_turned_off_and_keeps_ids_unique() -> None:
    records = [{"input": "same", "output": "x"}, {"input": "same", "output": "x"}, {"input": "same", "output": "y"}]
    assert len(Pool.from_records(records)) == 2
    kept = Pool.from_records(records, dedupe=False)
    assert len(kept) == 3 and len({e.id for e in kept}) == 3


def test_output_can_come_from_the_label_through_verbalizers() -> None:
    records = [{"text": "stocks fell", "label": "business"}, {"text": "new chip", "label": "science/tech"}]
    pool = Pool.from_records(records, {"input": "text", "output": None, "label": "label"}, {"science/tech": "science"})
    assert [(e.output, e.label) for e in pool] == [("business", "business"), ("science", "science/tech")]


def test_pool_is_immutable() -> None:
    pool = Pool.from_records([{"input": "a", "output": "b"}])
    with pytest.raises(ValidationError):
        pool.examples = ()  # type: ignore[misc]
    with pytest.raises(ValidationError):
        pool[0].output = "c"  # type: ignore[misc]
    assert isinstance(pool.examples, tuple)


def test_problems_are_reported() -> None:
    with pytest.raises(ValueError, match="no field 'question'"):
        Pool.from_records([{"text": "a"}], {"input": "question"})
    with pytest.raises(ValidationError, match="exactly one of 'path' or 'dataset'"):
        PoolSource(path="a.jsonl", dataset="sst2")
    with pytest.raises(ValidationError, match="at least one example"):
        Pool(examples=())
    with pytest.raises(ValidationError, match="unique"):
        Pool(examples=(Example(id="a", input="x", output="y"), Example(id="a", input="z", output="y")))


def test_config_round_trip_keeps_the_source(tmp_path: Path) -> None:
    path = write(tmp_path / "pool.jsonl", ROWS, "jsonl")
    pool = Pool.from_file(path, FIELDS)
    config = pool.model_dump(mode="json")
    assert config == {"path": str(path), "fields": FIELDS}  # the source, not the examples
    assert Pool.model_validate(config).examples == pool.examples


def test_inline_pool_round_trips_its_examples() -> None:
    pool = Pool.from_records([{"input": "a", "output": "b", "label": "l"}], {"label": "label"})
    config = pool.model_dump(mode="json", exclude_defaults=True)
    assert config["examples"][0]["input"] == "a"
    assert Pool.model_validate(config) == pool


def test_dataset_pool_from_the_shared_loaders() -> None:
    pool = Pool.from_dataset("trec", "train")
    assert 4500 < len(pool) <= 4952  # the carved train split, duplicates dropped
    assert set(pool.labels) == {"abbreviation", "description", "entity", "human", "location", "number"}
    assert all(e.output == e.label for e in pool)
    assert PoolSource(dataset="trec", fields=FieldMap(input="text", output="label", label="label")).load().examples == pool.examples


def test_cached_state_is_built_once() -> None:
    pool = Pool.from_records([{"input": "a", "output": "b"}])
    calls = []
    first = pool.cached(("thing",), lambda: calls.append(1) or object())
    assert pool.cached(("thing",), lambda: calls.append(1) or object()) is first
    assert calls == [1]
