"""Embedders: the real local MiniLM, a vLLM-style HTTP server, and the SQLite cache."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from agentkit.icl.embed import (
    MINILM_NAME,
    CachedEmbedder,
    Embedder,
    LocalEmbedder,
    VLLMEmbedder,
    default_embedder,
    embedder_from_config,
    embedding_cache_dir,
)

# ---------------------------------------------------------------- local model


@pytest.fixture(scope="module")
def minilm() -> LocalEmbedder:
    return LocalEmbedder()


def test_dim_is_known_without_loading_the_model() -> None:
    embedder = LocalEmbedder()
    assert embedder.dim == 384 and embedder.name == MINILM_NAME
    assert embedder._model is None
    assert isinstance(embedder, Embedder)


def test_local_minilm_gives_unit_float32_rows_that_mean_something(minilm: LocalEmbedder) -> None:
    texts = [
        "A cat is sleeping on the sofa.",
        "A kitten naps on the couch.",
        "The central bank raised interest rates again.",
        "Inflation pushed the Federal Reserve to tighten monetary policy.",
    ]
    vectors = minilm.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.3 and sims[2, 3] > sims[2, 1] + 0.3
    # batching does not change the vectors
    np.testing.assert_allclose(minilm.embed(texts, batch_size=1), vectors, atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)


def test_max_seq_length_truncates_and_renames(minilm: LocalEmbedder) -> None:
    short = LocalEmbedder(max_seq_length=8)
    assert short.name == f"{MINILM_NAME}@max8"
    text = "word " * 5 + "protein folding in the endoplasmic reticulum of yeast cells under stress"
    full, cut = minilm.embed([text]), short.embed([text])
    assert float(full @ cut.T) < 0.99


# ---------------------------------------------------------------- cache


def test_cache_embeds_each_new_text_once(tmp_path: Path, make_embedder: Any) -> None:
    inner = make_embedder()
    cached = CachedEmbedder(inner, tmp_path, block_size=2)
    texts = ["alpha beta", "gamma", "alpha beta", "delta epsilon", "zeta"]
    first = cached.embed(texts)
    np.testing.assert_array_equal(first, inner.embed(texts))
    inner.calls.clear()
    assert cached.misses == 4 and cached.hits == 1
    second = cached.embed(["zeta", "new text", "gamma"])
    assert inner.calls == [["new text"]]
    np.testing.assert_array_equal(second, make_embedder().embed(["zeta", "new text", "gamma"]))
    assert (tmp_path / "embeddings.sqlite").exists()


def test_cache_persists_and_is_keyed_by_model_name(tmp_path: Path, make_embedder: Any) -> None:
    CachedEmbedder(make_embedder(), tmp_path).embed(["one", "two"])
    again = make_embedder()
    CachedEmbedder(again, tmp_path).embed(["two", "one"])
    assert again.calls == []
    other = make_embedder(dim=16, name="other-model")
    vectors = CachedEmbedder(other, tmp_path).embed(["one"])
    assert other.calls == [["one"]] and vectors.shape == (1, 16)
    assert CachedEmbedder(again, tmp_path).embed([]).shape == (0, 64)


def test_cache_is_safe_across_threads(tmp_path: Path, make_embedder: Any) -> None:
    cached = CachedEmbedder(make_embedder(), tmp_path)
    texts = [f"text number {i % 37}" for i in range(200)]
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(cached.embed(texts))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.array_equal(r, results[0]) for r in results)
    assert cached.misses == 37


def test_default_embedder_lives_under_agentkit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKIT_HOME", str(tmp_path))
    default_embedder.cache_clear()
    try:
        embedder = default_embedder()
        assert embedder.path == tmp_path / "embeddings" / "embeddings.sqlite"
        assert embedder.name == MINILM_NAME and default_embedder() is embedder
    finally:
        default_embedder.cache_clear()
    monkeypatch.delenv("AGENTKIT_HOME")
    assert embedding_cache_dir() == Path.home() / ".cache" / "agentkit" / "embeddings"


def test_configs_rebuild_the_same_embedder() -> None:
    local = LocalEmbedder(max_seq_length=64)
    assert embedder_from_config(local.to_config()).name == local.name
    cached = CachedEmbedder(LocalEmbedder(), "/nonexistent")
    assert embedder_from_config(cached.to_config()) is default_embedder()
    remote = VLLMEmbedder("http://host:1234", "e5")
    rebuilt = embedder_from_config(CachedEmbedder(remote, "/x").to_config())
    assert isinstance(rebuilt, CachedEmbedder) and isinstance(rebuilt.inner, VLLMEmbedder)
    assert rebuilt.inner.base_url == "http://host:1234/v1" and rebuilt.name == "e5"
    with pytest.raises(ValueError):
        embedder_from_config({"type": "mystery"})


# ---------------------------------------------------------------- vLLM server stand-in


class _FakePoolingServer(BaseHTTPRequestHandler):
    """Answers like vLLM's /v1/embeddings: unnormalized vectors, data in reverse order, one 503 first."""

    requests: ClassVar[list[dict[str, Any]]] = []
    fail_next = 1

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        assert self.path == "/v1/models"
        self._send(200, {"data": [{"id": "fake-embed"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if type(self).fail_next:
            type(self).fail_next -= 1
            self._send(503, {"error": "warming up"})
            return
        data = [{"index": i, "embedding": [float(len(text)), 2.0, 0.0]} for i, text in enumerate(body["input"])]
        self._send(200, {"data": data[::-1], "model": body["model"]})


@pytest.fixture
def pooling_server() -> Iterator[str]:
    _FakePoolingServer.requests = []
    _FakePoolingServer.fail_next = 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakePoolingServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_vllm_embedder_batches_retries_and_restores_order(pooling_server: str) -> None:
    embedder = VLLMEmbedder(pooling_server, batch_size=3, max_concurrency=2, truncate_prompt_tokens=128)
    texts = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "g"]
    vectors = embedder.embed(texts)
    assert embedder.name == "fake-embed" and embedder.dim == 3
    expected = np.array([[len(t), 2.0, 0.0] for t in texts], dtype=np.float32)
    np.testing.assert_allclose(vectors, expected / np.linalg.norm(expected, axis=1, keepdims=True), rtol=1e-6)
    sent = _FakePoolingServer.requests
    assert len(sent) == 4  # three batches plus the retried 503
    assert sorted(len(r["input"]) for r in sent[1:]) == [1, 3, 3]
    assert all(r["model"] == "fake-embed" and r["truncate_prompt_tokens"] == 128 for r in sent)


def test_vllm_embedder_reports_client_errors(pooling_server: str) -> None:
    from agentkit.icl.embed import EmbeddingError

    embedder = VLLMEmbedder(pooling_server + "/v1", "m", retries=0)
    with pytest.raises(EmbeddingError, match="503"):
        embedder.embed(["x"])
    with pytest.raises(ValueError):
        VLLMEmbedder("")
