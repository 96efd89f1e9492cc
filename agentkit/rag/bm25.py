"""BM25 over chunks, with two engines behind one interface.

``bm25s`` (default) precomputes every term's score per document into a sparse
matrix, so a query is a sum of a few posting lists; it saves to ``.npy`` files
that load memory-mapped. ``rank_bm25`` scores every document in Python at query
time: it is the slow, familiar reference the fast engine is checked against.

Variants (Kamphuis et al. 2020 naming): ``lucene`` (default), ``robertson``,
``atire``, ``bm25+`` and ``bm25l``. Under matching settings the two engines give
the same scores: rank_bm25's Okapi scorer multiplies every term by ``k1 + 1``,
so its Lucene and Robertson scores are divided by that constant; rank_bm25's
BM25L multiplies by the raw term frequency and scores unmatched documents 0,
which is not Lv & Zhai's BM25L, so that pair is refused rather than mismatched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agentkit.rag.analyzer import Analyzer
from agentkit.rag.documents import Chunk, Hit, read_chunks, write_chunks
from agentkit.rag.index import read_manifest, write_manifest

Variant = Literal["lucene", "robertson", "atire", "bm25+", "bm25l"]
Engine = Literal["bm25s", "rank_bm25"]
VARIANTS: tuple[str, ...] = ("lucene", "robertson", "atire", "bm25+", "bm25l")
ENGINES: tuple[str, ...] = ("bm25s", "rank_bm25")
_DEFAULT_DELTA = {"bm25l": 0.5, "bm25+": 1.0}  # Lv & Zhai's recommended values


@dataclass(frozen=True)
class BM25Settings:
    """Scoring parameters; ``delta`` only matters for BM25+ and BM25L."""

    variant: Variant = "lucene"
    k1: float = 1.5
    b: float = 0.75
    delta: float | None = None
    engine: Engine = "bm25s"
    backend: Literal["numpy", "numba"] = "numpy"
    with_title: bool = True

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown BM25 variant {self.variant!r}; choose from {', '.join(VARIANTS)}")
        if self.engine not in ENGINES:
            raise ValueError(f"unknown BM25 engine {self.engine!r}; choose from {', '.join(ENGINES)}")
        if self.engine == "rank_bm25" and self.variant == "bm25l":
            raise ValueError("rank_bm25's BM25L is not Lv & Zhai's BM25L (it multiplies by raw tf); use engine='bm25s'")
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={self.k1}, b={self.b}")
        if self.backend not in ("numpy", "numba"):
            raise ValueError(f"unknown bm25s backend {self.backend!r}; use numpy or numba")

    @property
    def effective_delta(self) -> float:
        return self.delta if self.delta is not None else _DEFAULT_DELTA.get(self.variant, 0.0)


class BM25Index:
    """Lexical retrieval over chunks.

    Build with ``BM25Index.build(chunks, variant=..., k1=..., b=...)``; search with
    ``search(query, k)``; ``save(folder)`` and ``BM25Index.load(folder)`` round-trip.
    Chunks that share no term with the query score 0 under Lucene, Robertson
    and ATIRE and are left out of the hits.
    """

    kind = "bm25"

    def __init__(self, chunks: Sequence[Chunk], settings: BM25Settings, analyzer: Analyzer, engine: _BM25sEngine | _RankBM25Engine) -> None:
        self.chunks = list(chunks)
        self.settings = settings
        self.analyzer = analyzer
        self._engine = engine

    @classmethod
    def build(
        cls,
        chunks: Sequence[Chunk],
        *,
        analyzer: Analyzer | None = None,
        progress: bool = False,
        **settings: Any,
    ) -> BM25Index:
        """Analyze and index ``chunks``; ``settings`` are the fields of ``BM25Settings``."""
        config = BM25Settings(**settings)
        analyzer = analyzer or Analyzer()
        texts = (c.indexed_text(config.with_title) for c in chunks)
        engine_cls = _BM25sEngine if config.engine == "bm25s" else _RankBM25Engine
        engine = engine_cls.build(_progress(texts, len(chunks), progress), analyzer, config, progress)
        return cls(chunks, config, analyzer, engine)

    def __len__(self) -> int:
        return len(self.chunks)

    def scores(self, query: str) -> np.ndarray:
        """The score of every chunk for ``query`` (float32, in chunk order)."""
        return self._engine.scores(self.analyzer.tokens(query))

    def search(self, query: str, k: int = 10) -> list[Hit]:
        idx, scores = top_k(self.scores(query), k)
        keep = scores > 0
        return [Hit.of(self.chunks[i], s) for i, s in zip(idx[keep].tolist(), scores[keep].tolist())]

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        return [self.search(q, k) for q in queries]

    def to_config(self) -> dict[str, Any]:
        return {"settings": asdict(self.settings), "analyzer": self.analyzer.to_config(), "size": len(self.chunks)}

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_chunks(self.chunks, folder / "chunks.jsonl")
        self._engine.save(folder)
        write_manifest(folder, self.kind, self.to_config())

    @classmethod
    def load(cls, folder: str | Path, *, mmap: bool = True) -> BM25Index:
        """Read a saved index; with ``mmap`` the bm25s score arrays stay on disk until touched."""
        folder = Path(folder)
        manifest = read_manifest(folder, cls.kind)
        settings = BM25Settings(**manifest["settings"])
        analyzer = Analyzer.from_config(manifest["analyzer"])
        chunks = read_chunks(folder / "chunks.jsonl")
        engine: _BM25sEngine | _RankBM25Engine
        if settings.engine == "bm25s":
            engine = _BM25sEngine.load(folder, settings, mmap)
        else:  # rank_bm25 keeps no files: rebuild from the chunks (it is the small reference)
            engine = _RankBM25Engine.build((c.indexed_text(settings.with_title) for c in chunks), analyzer, settings, False)
        return cls(chunks, settings, analyzer, engine)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``k`` best, best first; ties go to the lower index."""
    n = len(scores)
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=scores.dtype)
    candidates = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
    order = np.lexsort((candidates, -scores[candidates]))
    best = candidates[order]
    return best, scores[best]


def _progress(texts: Any, total: int, enabled: bool) -> Any:
    if not enabled:
        return texts
    from tqdm.auto import tqdm

    return tqdm(texts, total=total, desc="analyze", unit="chunk")


class _BM25sEngine:
    """Eager sparse scores via bm25s; the analyzer's terms map to our own vocabulary ids."""

    SUBDIR = "bm25s"

    def __init__(self, model: Any) -> None:
        self.model = model
        self.vocab: dict[str, int] = model.vocab_dict

    @classmethod
    def build(cls, texts: Any, analyzer: Analyzer, settings: BM25Settings, progress: bool) -> _BM25sEngine:
        import bm25s

        vocab: dict[str, int] = {}
        ids = [_term_ids(analyzer.tokens(text), vocab) for text in texts]
        if not ids:
            raise ValueError("cannot build a BM25 index over zero chunks")
        model = bm25s.BM25(
            method=settings.variant, k1=settings.k1, b=settings.b, delta=settings.effective_delta, backend=settings.backend
        )
        model.index((ids, vocab), show_progress=progress)
        return cls(model)

    def scores(self, terms: list[str]) -> np.ndarray:
        vocab = self.vocab
        ids = [vocab[t] for t in terms if t in vocab]
        return np.asarray(self.model.get_scores_from_ids(ids))

    def save(self, folder: Path) -> None:
        self.model.save(folder / self.SUBDIR, show_progress=False)

    @classmethod
    def load(cls, folder: Path, settings: BM25Settings, mmap: bool) -> _BM25sEngine:
        import bm25s

        model = bm25s.BM25.load(folder / cls.SUBDIR, mmap=mmap, backend=settings.backend, show_progress=False)
        return cls(model)


def _term_ids(terms: list[str], vocab: dict[str, int]) -> list[int]:
    """Vocabulary ids of ``terms``, adding new terms. The ids are the dict's own int
    objects, shared by every occurrence, which keeps a 1M-chunk corpus small."""
    ids = list(map(vocab.get, terms))
    if None in ids:
        ids = [vocab.setdefault(t, len(vocab)) for t in terms]
    return ids  # type: ignore[return-value]


class _RankBM25Engine:
    """rank_bm25's scorers, with the idf each variant defines."""

    def __init__(self, model: Any, scale: float) -> None:
        self.model = model
        self.scale = scale

    @classmethod
    def build(cls, texts: Any, analyzer: Analyzer, settings: BM25Settings, progress: bool) -> _RankBM25Engine:
        import rank_bm25

        corpus = [analyzer.tokens(t) for t in texts]
        if not corpus:
            raise ValueError("cannot build a BM25 index over zero chunks")
        k1, b, variant = settings.k1, settings.b, settings.variant
        if variant == "bm25+":
            return cls(rank_bm25.BM25Plus(corpus, k1=k1, b=b, delta=settings.effective_delta), 1.0)
        # Okapi's term score is idf * (k1+1) tf / (tf + k1 norm): ATIRE's tf part as is,
        # Lucene's and Robertson's times (k1+1). epsilon=0 floors negative idf at 0 as Robertson's does.
        model = rank_bm25.BM25Okapi(corpus, k1=k1, b=b, epsilon=0.0)
        if variant in ("lucene", "atire"):
            model.idf = {w: _idf(variant, model.corpus_size, df) for w, df in _doc_freqs(model).items()}
        return cls(model, 1.0 if variant == "atire" else 1.0 / (k1 + 1))

    def scores(self, terms: list[str]) -> np.ndarray:
        return np.asarray(self.model.get_scores(terms) * self.scale, dtype=np.float32)

    def save(self, folder: Path) -> None:
        """Nothing beyond the chunks: ``load`` rebuilds the reference engine."""


def _doc_freqs(model: Any) -> dict[str, int]:
    df: dict[str, int] = {}
    for doc in model.doc_freqs:
        for word in doc:
            df[word] = df.get(word, 0) + 1
    return df


def _idf(variant: str, n: int, df: int) -> float:
    if variant == "lucene":
        return math.log(1 + (n - df + 0.5) / (df + 0.5))
    return math.log(n / df)  # atire
