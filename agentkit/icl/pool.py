"""Demonstration pools: examples loaded once, deduplicated, with stable ids.

A pool is immutable: selectors build their indexes (embeddings, FAISS, BM25,
vote-k subsets, clusters) lazily through ``Pool.cached`` and never change the
examples, so one pool serves many concurrent runs. In YAML a pool is written as
its source (a file or a data set plus a field mapping) and loaded when the step
is built; a pool made in Python from records is written back inline.
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_serializer, model_validator

T = TypeVar("T")


class Example(BaseModel):
    """One demonstration: what the model sees as input and output, plus an optional class label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    input: str
    output: str
    label: str | None = None
    rationale: str | None = None


class FieldMap(BaseModel):
    """Which record fields become an example's parts. ``output`` defaults to the label's text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str = "input"
    output: str | None = "output"
    label: str | None = None
    rationale: str | None = None
    id: str | None = None


DEFAULT_FIELDS = FieldMap()


class PoolSource(BaseModel):
    """Where a pool comes from: a JSONL/CSV/TSV file, or a data set known to ``agentkit.evals.loaders``.

    ``verbalizers`` maps an output value to the text shown (``science/tech`` -> ``science``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str | None = None
    dataset: str | None = None
    split: str = "train"
    data_dir: str | None = None
    format: Literal["jsonl", "csv", "tsv"] | None = None
    fields: FieldMap = DEFAULT_FIELDS
    verbalizers: dict[str, str] | None = None
    limit: int | None = None
    seed: int | None = None
    dedupe: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> PoolSource:
        if (self.path is None) == (self.dataset is None):
            raise ValueError("a pool source needs exactly one of 'path' or 'dataset'")
        return self

    def records(self) -> list[dict[str, Any]]:
        if self.dataset is not None:
            from agentkit.evals.loaders import load_dataset

            return load_dataset(self.dataset, self.split, data_dir=self.data_dir, limit=self.limit, seed=self.seed)
        records = read_records(Path(self.path or ""), self.format)
        if self.limit is not None:
            records = records[: self.limit]
        return records

    def load(self) -> Pool:
        examples = examples_from_records(self.records(), self.fields, self.verbalizers, dedupe=self.dedupe)
        return Pool(examples=tuple(examples), source=self)


def read_records(path: Path, format: str | None = None) -> list[dict[str, Any]]:
    """Rows of a JSONL, CSV or TSV file (CSV/TSV need a header row); the format follows the suffix."""
    kind = format or {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}.get(path.suffix)
    if kind is None:
        raise ValueError(f"{path}: cannot tell the format from the suffix; pass format=jsonl|csv|tsv")
    with path.open(encoding="utf-8", newline="") as handle:
        if kind == "jsonl":
            return [json.loads(line) for line in handle if line.strip()]
        return list(csv.DictReader(handle, delimiter="\t" if kind == "tsv" else ","))


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


def content_id(input: str, output: str) -> str:
    """A stable id from the content: the same example gets the same id on every machine."""
    digest = hashlib.sha256(f"{_normalized(input)}\x1f{output.strip()}".encode()).hexdigest()
    return f"ex-{digest[:12]}"


def examples_from_records(
    records: Iterable[Mapping[str, Any]],
    fields: FieldMap = DEFAULT_FIELDS,
    verbalizers: Mapping[str, str] | None = None,
    *,
    dedupe: bool = True,
) -> list[Example]:
    """Map records to examples; with ``dedupe`` the first of several equal (input, output) pairs is kept.

    The id is the record's ``fields.id`` (or ``id``) field when present, else a content hash.
    """
    examples: list[Example] = []
    seen: set[tuple[str, str]] = set()
    ids: set[str] = set()
    for n, record in enumerate(records):
        missing = [f for f in (fields.input, fields.output or fields.label) if f and f not in record]
        if missing:
            raise ValueError(f"record {n} has no field {missing[0]!r} (fields: {', '.join(map(str, record))})")
        label = _text(record.get(fields.label)) if fields.label else None
        raw_output = _text(record[fields.output]) if fields.output else label
        if raw_output is None:
            raise ValueError("a field map needs 'output' or 'label'")
        output = (verbalizers or {}).get(raw_output, raw_output)
        input = _text(record[fields.input]) or ""
        key = (_normalized(input), output.strip())
        if dedupe and key in seen:
            continue
        seen.add(key)
        id_field = fields.id or ("id" if "id" in record else None)
        example_id = str(record[id_field]) if id_field else content_id(input, output)
        if example_id in ids:
            example_id = f"{example_id}#{n}"
        ids.add(example_id)
        rationale = _text(record.get(fields.rationale)) if fields.rationale else None
        examples.append(Example(id=example_id, input=input, output=output, label=label, rationale=rationale))
    return examples


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class Pool(BaseModel):
    """An immutable, ordered set of examples with unique ids.

    Build with ``Pool.from_records``, ``Pool.from_file`` or ``Pool.from_dataset``;
    in a step config, a mapping with ``path``/``dataset`` (a ``PoolSource``) or ``examples``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    examples: tuple[Example, ...]
    source: PoolSource | None = None

    _cache: dict[Any, Any] = PrivateAttr(default_factory=dict)
    _lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)
    _positions: dict[str, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_source(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "examples" not in data:
            source = PoolSource.model_validate(data)
            loaded = source.load()
            return {"examples": loaded.examples, "source": source}
        return data

    @model_validator(mode="after")
    def _unique_ids(self) -> Pool:
        positions = {example.id: i for i, example in enumerate(self.examples)}
        if len(positions) != len(self.examples):
            raise ValueError("example ids in a pool must be unique")
        if not self.examples:
            raise ValueError("a pool needs at least one example")
        self._positions.update(positions)
        return self

    @model_serializer(mode="wrap")
    def _as_config(self, handler: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        if self.source is not None:
            return self.source.model_dump(mode="json", exclude_defaults=True)
        return handler(self)

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]],
        fields: FieldMap | Mapping[str, Any] = DEFAULT_FIELDS,
        verbalizers: Mapping[str, str] | None = None,
        *,
        dedupe: bool = True,
    ) -> Pool:
        fields = fields if isinstance(fields, FieldMap) else FieldMap.model_validate(fields)
        return cls(examples=tuple(examples_from_records(records, fields, verbalizers, dedupe=dedupe)))

    @classmethod
    def from_file(cls, path: str | Path, fields: FieldMap | Mapping[str, Any] = DEFAULT_FIELDS, **options: Any) -> Pool:
        return PoolSource(path=str(path), fields=FieldMap.model_validate(fields), **options).load()

    @classmethod
    def from_dataset(cls, name: str, split: str = "train", fields: FieldMap | Mapping[str, Any] | None = None,
                     **options: Any) -> Pool:
        """A pool from ``agentkit.evals.loaders``; classification sets default to text -> label."""
        fields = fields if fields is not None else FieldMap(input="text", output="label", label="label")
        return PoolSource(dataset=name, split=split, fields=FieldMap.model_validate(fields), **options).load()

    def __eq__(self, other: object) -> bool:
        """Equal content and source; the derived-state cache does not count."""
        if not isinstance(other, Pool):
            return NotImplemented
        return self.examples == other.examples and self.source == other.source

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:  # type: ignore[override]
        return iter(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]

    def position(self, example_id: str) -> int:
        return self._positions[example_id]

    def get(self, example_id: str) -> Example:
        return self.examples[self._positions[example_id]]

    @property
    def inputs(self) -> list[str]:
        return [example.input for example in self.examples]

    @property
    def labels(self) -> tuple[str, ...]:
        """Distinct labels in first-seen order (empty when no example has one)."""
        return tuple(dict.fromkeys(e.label for e in self.examples if e.label is not None))

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the content; equal pools share it."""
        return self.cached(("fingerprint",), self._digest)

    def _digest(self) -> str:
        digest = hashlib.sha256()
        for e in self.examples:
            digest.update(json.dumps([e.id, e.input, e.output, e.label, e.rationale]).encode())
        return digest.hexdigest()

    def cached(self, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        """Derived state (indexes, embeddings) built once per pool, thread-safe; the examples never change."""
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            value: T = self._cache[key]
            return value

    def subset(self, positions: Sequence[int]) -> list[Example]:
        return [self.examples[i] for i in positions]
