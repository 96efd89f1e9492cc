"""The eval runner: nothing lost, nothing redone; reports, plots, comparisons.

The LLM tests run ``agentkit eval`` as a real subprocess against the real
server and kill it with real signals mid-run, or put a TCP proxy in front of the
server and take it away mid-run.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from agentkit.core.context import Context
from agentkit.core.registry import register
from agentkit.core.step import Record, Step
from agentkit.evals import plots, report
from agentkit.evals.runner import RESULTS, ResultsFile, RunMismatch, read_rows, run_eval
from agentkit.evals.spec import load_spec, spec_from_dict
from agentkit.llm.client import AsyncLLMClient
from agentkit.prompting.templates import PromptLibrary

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@register("test_fail_while_marker")
class FailWhileMarker(Step):
    """Answers 'positive', but fails on the listed texts while the marker file exists."""

    marker: str
    fail_texts: tuple[str, ...] = ()

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return {"text"}

    def writes(self) -> set[str]:
        return {"answer"}

    async def process(self, record: Record, ctx: Context) -> Record:
        if record["text"] in self.fail_texts and Path(self.marker).exists():
            raise RuntimeError("marker present")
        return {"answer": "positive"}


def offline_llm() -> AsyncLLMClient:
    """A client that is never called: the pipelines below do not use the LLM."""
    return AsyncLLMClient("http://127.0.0.1:9/v1", model="none")


def label_spec(**changes: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "name": "offline",
        "dataset": {"loader": "sst2", "split": "dev"},
        "pipeline": {"type": "extract", "kind": "label", "input": "text", "labels": ["negative", "positive"]},
        "gold": "label",
    }
    spec.update(changes)
    return spec


def run(loaded, out: Path, **kwargs) -> list:  # type: ignore[no-untyped-def]
    async def main() -> list:  # type: ignore[type-arg]
        async with offline_llm() as llm:
            return await run_eval(loaded, out, llm=llm, progress=False, log=lambda m: None, **kwargs)

    return asyncio.run(main())


# --- the results file -------------------------------------------------------------


def test_results_file_cuts_a_torn_line_and_last_line_wins(tmp_path: Path) -> None:
    path = tmp_path / RESULTS
    path.write_text('{"id": "a", "v": 1}\n{"id": "b", "v": 1}\n{"id": "a", "v": 2}\n{"id": "c", "v"')
    results = ResultsFile(path)
    rows = results.open()
    assert {k: r["v"] for k, r in rows.items()} == {"a": 2, "b": 1}
    results.append({"id": "c", "v": 3})
    results.close()
    assert path.read_text().splitlines()[-1] == '{"id": "c", "v": 3}'
    assert {k: r["v"] for k, r in read_rows(path).items()} == {"a": 2, "b": 1, "c": 3}


def test_results_file_refuses_a_second_writer(tmp_path: Path) -> None:
    first = ResultsFile(tmp_path / RESULTS)
    first.open()
    with pytest.raises(RuntimeError, match="another run is writing"):
        ResultsFile(tmp_path / RESULTS).open()
    first.close()
    ResultsFile(tmp_path / RESULTS).open()


# --- running without the LLM -------------------------------------------------------


def test_rerun_skips_finished_items_and_extends_to_a_larger_limit(tmp_path: Path) -> None:
    loaded = spec_from_dict(label_spec())
    [first] = run(loaded, tmp_path, limit=4)
    assert first.ran == 4 and len(first.rows) == 4
    [again] = run(loaded, tmp_path, limit=4)
    assert again.ran == 0 and again.rows == first.rows
    [larger] = run(loaded, tmp_path, limit=6)
    assert larger.ran == 2 and larger.rows[:4] == first.rows
    lines = (tmp_path / RESULTS).read_text().splitlines()
    assert len(lines) == 6 == len({json.loads(line)["id"] for line in lines})
    row = larger.rows[0]
    assert set(row) >= {"id", "prediction", "gold", "score", "error", "tokens", "latency_s", "trace"}
    assert row["trace"]["kind"] == "run" and row["tokens"] == {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
    info = json.loads((tmp_path / "run.json").read_text())
    assert len(info["sessions"]) == 3


def test_a_changed_pipeline_is_not_mixed_with_old_results(tmp_path: Path) -> None:
    run(spec_from_dict(label_spec()), tmp_path, limit=2)
    changed = spec_from_dict(label_spec(pipeline={"type": "extract", "kind": "label", "input": "text",
                                                  "labels": ["positive", "negative", "neutral"]}))
    with pytest.raises(RunMismatch, match="--fresh"):
        run(changed, tmp_path, limit=2)
    [fresh] = run(changed, tmp_path, limit=2, fresh=True)
    assert fresh.ran == 2 and len((tmp_path / RESULTS).read_text().splitlines()) == 2


def test_errors_are_recorded_and_retried_on_request(tmp_path: Path) -> None:
    from agentkit.evals.loaders import load_dataset

    texts = [r["text"] for r in load_dataset("sst2", "dev", limit=4)]
    marker = tmp_path / "fail"
    marker.touch()
    step = {"type": "test_fail_while_marker", "marker": str(marker), "fail_texts": texts[1:3]}
    loaded = spec_from_dict(label_spec(pipeline=step))
    out = tmp_path / "run"
    [point] = run(loaded, out, limit=4)
    assert [bool(r["error"]) for r in point.rows] == [False, True, True, False]
    assert "RuntimeError: marker present" in point.rows[1]["error"]
    summary = report.summarize(point.rows, ["accuracy"], point.sessions)
    assert summary.errors == 2 and summary.items == 4
    marker.unlink()
    [kept] = run(loaded, out, limit=4)
    assert kept.ran == 0  # an errored item is finished unless retry_errors
    [retried] = run(loaded, out, limit=4, retry_errors=True)
    assert retried.ran == 2 and not any(r["error"] for r in retried.rows)
    assert len((out / RESULTS).read_text().splitlines()) == 4


def test_summary_report_and_paired_comparison(tmp_path: Path) -> None:
    loaded = spec_from_dict(label_spec())
    [labels] = run(loaded, tmp_path / "a", limit=30)
    marker = tmp_path / "never"
    always = spec_from_dict(label_spec(pipeline={"type": "test_fail_while_marker", "marker": str(marker)}))
    [positive] = run(always, tmp_path / "b", limit=30)
    golds = [r["gold"] for r in positive.rows]
    summaries = report.summarize_runs(loaded.spec, [labels])
    mean, low, high = summaries[0].metrics["accuracy"]
    assert mean == sum(r["score"]["accuracy"] for r in labels.rows) / 30 and low <= mean <= high
    table = report.format_table(summaries, ["accuracy"])
    assert f"{mean:.3f} [{low:.3f}, {high:.3f}]" in table and "items/s" in table
    path = report.write_report(tmp_path / "a", loaded.spec, summaries, [], source="spec.yaml")
    text = path.read_text()
    assert "| accuracy [95% CI] |" in text and "kind: label" in text
    comparison = report.compare_dirs(tmp_path / "a", tmp_path / "b")
    assert comparison.n == 30 and comparison.mean_b == golds.count("positive") / 30
    assert comparison.wins_a + comparison.wins_b + comparison.ties == 30
    assert 0 < comparison.p_value <= 1
    self_compare = report.compare_dirs(tmp_path / "a", tmp_path / "a")
    assert self_compare.wins_a == self_compare.wins_b == 0 and self_compare.p_value == 1.0


def test_sweep_points_get_their_own_folders_and_plots(tmp_path: Path) -> None:
    sweep = {"labels": [["negative", "positive"], ["positive", "negative"], ["good", "bad"]],
             "input": ["text"]}
    loaded = spec_from_dict(label_spec(sweep=sweep))
    runs = run(loaded, tmp_path, limit=5)
    assert [r.folder.name for r in runs] == ["labels=_0,input=text", "labels=_1,input=text", "labels=_2,input=text"]
    assert all((r.folder / RESULTS).exists() for r in runs)
    summaries = report.summarize_runs(loaded.spec, runs)
    paths = plots.plot_sweep(summaries, "accuracy", tmp_path)
    assert [p.name for p in paths] == ["accuracy_vs_labels.png", "accuracy_vs_input.png", "accuracy_vs_tokens.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)
    with pytest.raises(FileNotFoundError, match="it is a sweep"):
        report.compare_dirs(tmp_path, runs[0].folder)


def test_retrieval_eval_scores_rankings_and_stores_them_compactly(tmp_path: Path) -> None:
    from agentkit.evals.loaders import load_beir, load_dataset
    from agentkit.evals.metrics import ndcg_at_k
    from agentkit.rag.bm25 import BM25Index
    from agentkit.rag.documents import Document, chunk_documents

    queries = load_dataset("scifact", "train", limit=5)
    corpus = load_beir("scifact", "train").corpus
    keep = sorted({d for q in queries for d in q["relevant"]} | set(list(corpus)[:300]))
    docs = [Document(id=d, text=corpus[d]["text"], title=corpus[d]["title"]) for d in keep]
    index = BM25Index.build(chunk_documents(docs))
    index.save(tmp_path / "index")
    loaded = spec_from_dict({
        "name": "retrieval", "dataset": {"loader": "scifact", "split": "train"}, "trace": False,
        "pipeline": {"type": "retrieve", "retriever": {"index": str(tmp_path / "index")}, "k": 20},
        "prediction": "passages", "gold": "relevant", "metrics": ["ndcg@10", "recall@20"],
    })
    [point] = run(loaded, tmp_path / "out", limit=5)
    for query, row in zip(queries, point.rows, strict=True):
        ranking = [hit.doc_id for hit in index.search(query["question"], 20)]
        assert [p["doc_id"] for p in row["prediction"]] == ranking
        assert set(row["prediction"][0]) == {"doc_id", "score"} and row["trace"] is None
        assert row["score"]["ndcg@10"] == ndcg_at_k(ranking, query["relevant"], 10)
    assert any(row["score"]["recall@20"] > 0 for row in point.rows)


# --- against the real server ---------------------------------------------------------

SPEC_YAML = """\
name: resume-test
dataset: {{loader: sst2, split: dev, limit: {limit}}}
pipeline:
  steps:
    - type: generate
      prompt: |
        === user ===
        Review: {{{{ text }}}}
        Is this review positive or negative?
      params: {{max_tokens: {max_tokens}, temperature: 0.0}}
    - {{type: extract, kind: label, labels: [negative, positive]}}
gold: label
concurrency: 1
"""


def eval_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "agentkit.cli.main", "eval", *args, "--no-progress"]


def lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.fixture(scope="module")
def resume_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "resume.yaml"
    path.write_text(SPEC_YAML.format(limit=6, max_tokens=4))
    return path


@pytest.fixture(scope="module")
def reference_run(resume_spec: Path, llm_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("reference")
    done = subprocess.run(eval_command(str(resume_spec), "--out", str(out), "--url", llm_url, "--concurrency", "6"),
                          check=False, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return read_rows(out / RESULTS)


@pytest.mark.llm
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_run_resumes_to_the_uninterrupted_item_set(
    sig: signal.Signals, resume_spec: Path, reference_run: dict[str, dict], llm_url: str, tmp_path: Path
) -> None:
    results = tmp_path / RESULTS
    process = subprocess.Popen(eval_command(str(resume_spec), "--out", str(tmp_path), "--url", llm_url),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 300
    while lines_in(results) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    written = lines_in(results)
    assert 2 <= written < 6, f"the kill should land mid-run ({written} of 6 items written)"
    if sig == signal.SIGINT:
        assert process.returncode == 130 and "rerun the same command to resume" in stderr, stderr
    else:
        assert process.returncode == -signal.SIGKILL
    kept = read_rows(results)

    resumed = subprocess.run(eval_command(str(resume_spec), "--out", str(tmp_path), "--url", llm_url, "--concurrency", "6"),
                             check=False, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(kept)} of 6 items already done" in resumed.stderr
    final_lines = [json.loads(line) for line in results.read_text().splitlines()]
    ids = [row["id"] for row in final_lines]
    assert len(ids) == len(set(ids)) == 6  # nothing duplicated, nothing lost
    assert set(ids) == set(reference_run)
    assert {row["id"]: row["gold"] for row in final_lines} == {k: r["gold"] for k, r in reference_run.items()}
    assert all(row["error"] is None for row in final_lines)
    final = read_rows(results)
    assert all(final[k] == row for k, row in kept.items())  # finished items were not redone
    assert "accuracy [95% CI]" in resumed.stdout and (tmp_path / "report.md").exists()


class Proxy:
    """A TCP proxy to the real server that can be taken away (connections cut) and brought back."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.listen_port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.listen_port)
        self.listen_port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.mark.llm
async def test_server_outage_pauses_and_resumes_without_errors(llm_url: str, tmp_path: Path) -> None:
    target = urlparse(llm_url)
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 80)
    await proxy.start()
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(SPEC_YAML.format(limit=5, max_tokens=3).replace("concurrency: 1", "concurrency: 2"))
    loaded = load_spec(spec_path)
    messages: list[str] = []
    out = tmp_path / "out"
    async with AsyncLLMClient(f"http://127.0.0.1:{proxy.listen_port}/v1", retry_timeout=1.0) as llm:
        task = asyncio.create_task(run_eval(loaded, out, llm=llm, progress=False, log=messages.append))
        while lines_in(out / RESULTS) < 1 and not task.done():
            await asyncio.sleep(0.02)
        await proxy.stop()
        at_outage = lines_in(out / RESULTS)
        while not any("went away" in m for m in messages) and not task.done():
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        await proxy.start()
        [point] = await asyncio.wait_for(task, timeout=300)
    assert at_outage < 5, "the outage should land mid-run"
    assert any("went away" in m for m in messages) and any("is back" in m for m in messages), messages
    assert len(point.rows) == 5 and all(row["error"] is None for row in point.rows)
    assert lines_in(out / RESULTS) == 5


@pytest.mark.llm
def test_sweep_from_the_cli_writes_report_plots_and_compares(
    llm_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentkit.cli.main import main

    spec_path = tmp_path / "sweep.yaml"
    spec_path.write_text(SPEC_YAML.format(limit=3, max_tokens=3).replace("concurrency: 1", "concurrency: 3")
                         + "sweep:\n  steps.0.params.temperature: [0.0, 1.0]\n")
    out = tmp_path / "out"
    assert main(["eval", str(spec_path), "--out", str(out), "--url", llm_url, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "temperature" in printed and "accuracy [95% CI]" in printed
    for name in ("accuracy_vs_temperature.png", "accuracy_vs_tokens.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
    text = (out / "report.md").read_text()
    assert "![accuracy_vs_temperature](accuracy_vs_temperature.png)" in text
    assert text.count("\n| 0.0 |") == 1 and text.count("\n| 1.0 |") == 1
    points = sorted(p.parent for p in out.glob(f"*/{RESULTS}"))
    assert [p.name for p in points] == ["temperature=0.0", "temperature=1.0"]
    assert main(["eval", "compare", str(points[0]), str(points[1])]) == 0
    assert "paired comparison on 3 shared items (accuracy)" in capsys.readouterr().out
