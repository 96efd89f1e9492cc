"""Run an eval spec so that no finished work is ever lost or redone.

Each finished item is appended to ``results.jsonl`` at once (and fsynced), so a
run killed at any moment (Ctrl-C, SIGKILL, power loss) keeps everything it
finished; a rerun of the same spec skips those items. A torn last line from a
kill mid-write is cut off on the next open. A server that goes away pauses the
run: the in-flight items are put back, the runner waits for ``/health``, then
carries on, instead of recording every remaining item as an error.

Layout: ``OUT/results.jsonl`` and ``OUT/run.json`` for a single pipeline; one
sub-folder per sweep point (``OUT/<label>/...``) for a sweep.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agentkit.core.batch import ItemResult, run_many
from agentkit.evals.spec import EvalSpec, LoadedSpec, SweepPoint, score_all
from agentkit.llm.client import AsyncLLMClient
from agentkit.llm.errors import ServerError, ServerUnreachable

Row = dict[str, Any]
Log = Callable[[str], None]

RESULTS = "results.jsonl"
RUN_INFO = "run.json"
# Errors that mean "the server is gone", not "this item failed"; their items are re-queued.
OUTAGE_ERRORS = (f"{ServerUnreachable.__name__}:", f"{ServerError.__name__}:")
MAX_OUTAGE_RETRIES = 3  # an item that keeps failing this way after the server is back is recorded


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class RunMismatch(RuntimeError):
    """The folder holds results of a different pipeline or data set."""


@dataclass(frozen=True)
class EvalItem:
    id: str
    input: dict[str, Any]
    gold: Any


@dataclass
class PointRun:
    """A sweep point's results for the current items, in item order."""

    point: SweepPoint
    folder: Path
    rows: list[Row]
    sessions: list[dict[str, Any]]
    ran: int = 0  # items run in this invocation


# --- data --------------------------------------------------------------------------


def load_records(
    loaded: LoadedSpec, limit: int | None = None, data_dir: str | Path | None = None
) -> list[dict[str, Any]]:
    """The data set's records; ``limit`` (e.g. from ``--limit``) overrides the spec's."""
    from agentkit.evals.loaders import load_dataset

    ds = loaded.spec.dataset
    return load_dataset(ds.loader, ds.split, data_dir=data_dir or ds.path,
                        limit=limit if limit is not None else ds.limit, seed=ds.seed)


def make_items(loaded: LoadedSpec, step: Any, records: Sequence[dict[str, Any]]) -> list[EvalItem]:
    """Inputs for ``step``: only the fields it reads (renamed per ``dataset.fields``), never the gold."""
    spec = loaded.spec
    mapping = spec.input_fields(step)
    if not records:
        return []
    available = set(records[0])
    if spec.gold not in available:
        raise loaded.error(("gold",), f"the {spec.dataset.loader} records have no field {spec.gold!r} "
                                      f"(they have: {', '.join(sorted(available))})")
    for name, source in mapping.items():
        loc = ("dataset", "fields", name) if name in spec.dataset.fields else ("pipeline",)
        if source not in available:
            raise loaded.error(loc, f"the pipeline reads {name!r}, but the {spec.dataset.loader} records have no "
                                    f"field {source!r} (they have: {', '.join(sorted(available))}); "
                                    "map it under dataset.fields")
        if source == spec.gold and name not in spec.dataset.fields:
            raise loaded.error(loc, f"the pipeline reads {name!r}, the gold field: it would see the answer")
    items, seen = [], set()
    for index, record in enumerate(records):
        item_id = str(record.get(spec.dataset.id_field, index))
        if item_id in seen:
            raise loaded.error(("dataset", "id_field"), f"item id {item_id!r} occurs twice; ids must be unique")
        seen.add(item_id)
        items.append(EvalItem(item_id, {n: record[s] for n, s in mapping.items()}, record[spec.gold]))
    return items


def to_jsonable(value: Any) -> Any:
    """Predictions as plain JSON: dataclasses (hits) and pydantic models become dicts."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


# --- the results file ----------------------------------------------------------------


class ResultsFile:
    """An append-only JSONL of finished items; a lock file keeps a second writer out.

    The last line for an id wins (``compact`` rewrites the file without stale lines).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: IO[str] | None = None
        self._handle: IO[str] | None = None

    def open(self) -> dict[str, Row]:
        """Lock, cut a torn last line, and return the finished rows by id."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(self.path.with_suffix(".lock"), "w", encoding="utf-8")  # noqa: SIM115 (held while the run lasts)
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise RuntimeError(f"another run is writing {self.path}; wait for it or use another --out") from None
        self._lock = lock
        rows = read_rows(self.path, repair=True)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (appended to until close)
        return rows

    def append(self, row: Row) -> None:
        assert self._handle is not None, "open() first"
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def compact(self, rows: dict[str, Row]) -> None:
        """Atomically rewrite the file with exactly ``rows``."""
        assert self._handle is not None, "open() first"
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows.values())
            out.flush()
            os.fsync(out.fileno())
        self._handle.close()
        os.replace(tmp, self.path)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (appended to until close)

    def close(self) -> None:
        for handle in (self._handle, self._lock):
            if handle is not None:
                handle.close()
        self._handle = self._lock = None


def read_rows(path: str | Path, repair: bool = False) -> dict[str, Row]:
    """Rows by id, last line wins. A torn final line is skipped (and cut off with ``repair``)."""
    path = Path(path)
    if not path.exists():
        return {}
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if repair and end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
    rows: dict[str, Row] = {}
    for number, line in enumerate(data[:end].decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not a JSON line ({exc}); the file was edited by hand?") from None
        rows[str(row["id"])] = row
    return rows


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def point_folder(out_dir: Path, spec: EvalSpec, point: SweepPoint) -> Path:
    return out_dir / point.slug if spec.sweep else out_dir


# --- running ---------------------------------------------------------------------------


def _is_outage(result: ItemResult) -> bool:
    return result.error is not None and result.error.startswith(OUTAGE_ERRORS)


async def wait_for_server(urls: Sequence[str], log: Log, poll_s: float = 2.0) -> None:
    """Block until one server's ``/health`` answers 200."""
    import httpx

    health = [u.removesuffix("/v1") + "/health" for u in urls]
    log(f"waiting for {' or '.join(health)} (Ctrl-C stops; rerunning resumes where this stopped)")
    last_note = time.monotonic()
    async with httpx.AsyncClient(timeout=5.0) as http:
        while True:
            for url in health:
                try:
                    if (await http.get(url)).status_code == 200:
                        log(f"server at {url} is back; resuming")
                        return
                except httpx.HTTPError:
                    pass
            if time.monotonic() - last_note > 60:
                log("still waiting for the server ...")
                last_note = time.monotonic()
            await asyncio.sleep(poll_s)


def compact_prediction(value: Any) -> Any:
    """Retrieved passages are stored by doc id and score: their text is in the index (and the trace)."""
    if isinstance(value, list) and value and all(isinstance(v, dict) and "doc_id" in v for v in value):
        return [{"doc_id": v["doc_id"], **({"score": v["score"]} if "score" in v else {})} for v in value]
    return value


def _row(item: EvalItem, result: ItemResult, spec: EvalSpec, session: int) -> Row:
    output = result.output or {}
    prediction = compact_prediction(to_jsonable(output.get(spec.prediction))) if result.ok else None
    gold = to_jsonable(item.gold)
    return {
        "id": item.id,
        "prediction": prediction,
        "gold": gold,
        "score": score_all(spec.metrics, prediction, gold),
        "error": result.error,
        "extraction_error": output.get(f"{spec.prediction}_error"),
        "tokens": result.usage(),
        "latency_s": round(result.latency_s, 4),
        "session": session,
        "finished": time.time(),
        "trace": result.trace.to_dict() if result.trace and spec.trace else None,
    }


class _Round:
    """One ``run_many`` pass over the queue: records results, stops the pass at the first outage."""

    def __init__(self, items: list[EvalItem], record: Callable[[EvalItem, ItemResult], None],
                 outage_retries: dict[str, int]) -> None:
        self.items = items
        self.record = record
        self.outage_retries = outage_retries
        self.finished: set[str] = set()
        self.outage: str | None = None
        self.task: asyncio.Task[Any] | None = None

    def on_result(self, result: ItemResult) -> None:
        item = self.items[result.index]
        if _is_outage(result) and self.outage_retries.get(item.id, 0) < MAX_OUTAGE_RETRIES:
            self.outage_retries[item.id] = self.outage_retries.get(item.id, 0) + 1  # re-queued, not recorded
            if self.outage is None and self.task is not None:
                self.outage = result.error or ""
                self.task.cancel()  # stop starting items that would only time out too
            return
        self.record(item, result)
        self.finished.add(item.id)


async def _run_pending(
    step: Any,
    pending: list[EvalItem],
    spec: EvalSpec,
    results: ResultsFile,
    session: int,
    *,
    llm: AsyncLLMClient,
    concurrency: int,
    progress: bool | None,
    desc: str,
    log: Log,
) -> int:
    """Run items until all are recorded, pausing through server outages; returns how many ran."""
    outage_retries: dict[str, int] = {}
    queue = list(pending)

    def record(item: EvalItem, result: ItemResult) -> None:
        results.append(_row(item, result, spec, session))

    while queue:
        round_ = _Round(queue, record, outage_retries)
        round_.task = asyncio.create_task(run_many(
            step, [item.input for item in queue], llm=llm, concurrency=concurrency,
            prompts=spec.prompt_library(), progress=progress, on_result=round_.on_result, desc=desc,
        ))
        batch = await round_.task
        queue = [item for item in queue if item.id not in round_.finished]
        current = asyncio.current_task()
        if (current is not None and current.cancelling()) or (batch.interrupted and round_.outage is None):
            raise asyncio.CancelledError  # Ctrl-C: everything finished so far is already on disk
        if round_.outage is not None:
            log(f"\n{desc}: the LLM server went away ({round_.outage[:300]}); paused with {len(queue)} items left")
            await wait_for_server(llm.urls, log)
    return len(pending)


async def run_eval(
    loaded: LoadedSpec,
    out_dir: str | Path,
    *,
    llm: AsyncLLMClient,
    limit: int | None = None,
    data_dir: str | Path | None = None,
    concurrency: int | None = None,
    fresh: bool = False,
    retry_errors: bool = False,
    progress: bool | None = None,
    log: Log = _stderr,
) -> list[PointRun]:
    """Run every sweep point of the spec; finished items in ``out_dir`` are reused, not rerun."""
    spec = loaded.spec
    out_dir = Path(out_dir)
    records = load_records(loaded, limit, data_dir)
    runs = []
    for point in spec.points():
        items = make_items(loaded, point.step, records)
        folder = point_folder(out_dir, spec, point)
        runs.append(await _run_point(
            loaded, point, items, folder, llm=llm, concurrency=concurrency or spec.concurrency,
            fresh=fresh, retry_errors=retry_errors, progress=progress, log=log,
        ))
    return runs


async def _run_point(
    loaded: LoadedSpec,
    point: SweepPoint,
    items: list[EvalItem],
    folder: Path,
    *,
    llm: AsyncLLMClient,
    concurrency: int,
    fresh: bool,
    retry_errors: bool,
    progress: bool | None,
    log: Log,
) -> PointRun:
    spec = loaded.spec
    info_path = folder / RUN_INFO
    fingerprint = spec.fingerprint(point)
    results = ResultsFile(folder / RESULTS)
    try:
        done = results.open()  # holds the folder's lock from here on
        info: dict[str, Any] = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
        if fresh:
            done, info = {}, {}
            results.compact(done)
        if info and info.get("fingerprint") != fingerprint:
            raise RunMismatch(
                f"{folder} holds results of a different pipeline or data set than {loaded.filename}"
                f"{' (' + point.label + ')' if point.params else ''}; rerun with --fresh to replace them, "
                "or pick another --out"
            )
        if retry_errors and any(row.get("error") for row in done.values()):
            done = {k: row for k, row in done.items() if not row.get("error")}
            results.compact(done)
        sessions = list(info.get("sessions", []))
        session = len(sessions)
        sessions.append({"started": time.time(), "items": len(items)})
        info = {"name": spec.name, "label": point.label, "params": point.params, "spec": loaded.filename,
                "metrics": spec.metrics, "fingerprint": fingerprint, "sessions": sessions}
        _write_json(info_path, info)
        pending = [item for item in items if item.id not in done]
        desc = spec.name + ("" if not point.params else f" [{point.label}]")
        if len(pending) < len(items):
            log(f"{desc}: {len(items) - len(pending)} of {len(items)} items already done in {folder}, "
                f"{len(pending)} to run")
        ran = 0
        if pending:
            ran = await _run_pending(point.step, pending, spec, results, session, llm=llm, concurrency=concurrency,
                                     progress=progress, desc=desc, log=log)
        rows_by_id = read_rows(results.path)
        if any(sum(row["tokens"].values()) for row in rows_by_id.values() if row.get("session") == session):
            sessions[-1]["model"] = await llm.model()  # known to the client after its first call: no request
            _write_json(info_path, info)
    finally:
        results.close()
    rows = [rows_by_id[item.id] for item in items]
    return PointRun(point=point, folder=folder, rows=rows, sessions=sessions, ran=ran)
