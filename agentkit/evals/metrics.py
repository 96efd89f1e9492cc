"""Metrics for evaluation runs: answer matching, ranking quality, and uncertainty.

Answer metrics follow the SQuAD / HotpotQA official scripts so numbers are
comparable with published ones. Ranking metrics follow trec_eval as BEIR uses it
(through pytrec_eval): a ranking is a list of doc ids, best first; relevance is
one query's qrels. Bootstrap functions say how much a score would move on
another sample of the same size, and whether two systems really differ.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# --- answers -----------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lowercase, drop punctuation and articles, collapse whitespace."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def exact_match(pred: str | None, gold: str) -> bool:
    """Equal after ``normalize_answer``; a missing prediction never matches."""
    return pred is not None and normalize_answer(pred) == normalize_answer(gold)


def token_f1(pred: str | None, gold: str) -> float:
    """Bag-of-tokens F1 after normalization, as in HotpotQA's evaluator: a yes/no/noanswer
    gold or prediction scores 0 unless both are the same word, since overlap is meaningless there."""
    if pred is None:
        return 0.0
    pred_norm, gold_norm = normalize_answer(pred), normalize_answer(gold)
    special = {"yes", "no", "noanswer"}
    if (pred_norm in special or gold_norm in special) and pred_norm != gold_norm:
        return 0.0
    pred_tokens, gold_tokens = pred_norm.split(), gold_norm.split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


_NUMBER = re.compile(r"^[$€£]?([+-]?)[$€£]?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)%?$")


def parse_number(value: Any) -> float | None:
    """A number from ``72``, ``"1,000"``, ``"$5"``, ``"-3.50"`` or ``"50%"``; None when it is not one.

    Commas are accepted only as thousands separators, so ``"1,5"`` is not read as 15.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    match = _NUMBER.match(value.replace(" ", ""))
    if match is None:
        return None
    return float(match.group(1) + match.group(2).replace(",", ""))


def numeric_match(pred: Any, gold: Any, tol: float = 1e-6) -> bool:
    """Both parse as numbers that agree within ``tol`` (absolute, or relative for large values)."""
    pred_value, gold_value = parse_number(pred), parse_number(gold)
    if pred_value is None or gold_value is None:
        return False
    return math.isclose(pred_value, gold_value, rel_tol=tol, abs_tol=tol)


def accuracy(preds: Sequence[Any], golds: Sequence[Any], match: Callable[[Any, Any], bool] | None = None) -> float:
    """Fraction of items where ``match(pred, gold)`` holds (default: ``==``)."""
    if len(preds) != len(golds):
        raise ValueError(f"{len(preds)} predictions for {len(golds)} golds")
    if not golds:
        raise ValueError("accuracy of no items is undefined")
    hits: int = sum(bool(match(p, g) if match else p == g) for p, g in zip(preds, golds, strict=True))
    return hits / len(golds)


# --- rankings ----------------------------------------------------------------------

def _top(ranking: Sequence[str], k: int | None) -> list[str]:
    """The first k distinct doc ids (a repeated id counts once, at its best rank)."""
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return list(dict.fromkeys(ranking))[:k]


def ndcg_at_k(ranking: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k as trec_eval's ndcg_cut: gain = rel, discount log2(rank + 1) for 1-based ranks,
    divided by the DCG of the ideal ordering of the judged docs. 0 when nothing is relevant."""
    gains = [max(relevance.get(doc, 0), 0) for doc in _top(ranking, k)]
    ideal = sorted((rel for rel in relevance.values() if rel > 0), reverse=True)[:k]
    ideal_dcg = sum(rel / math.log2(rank + 2) for rank, rel in enumerate(ideal))
    if ideal_dcg == 0:
        return 0.0
    return sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains)) / ideal_dcg


def recall_at_k(ranking: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """Share of the relevant docs (rel > 0) found in the top k; 0 when none is relevant."""
    relevant = {doc for doc, rel in relevance.items() if rel > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_top(ranking, k))) / len(relevant)


def mrr(ranking: Sequence[str], relevance: Mapping[str, int], k: int | None = None) -> float:
    """1 / rank of the first relevant doc (rel > 0) within the top k (all ranks when k is None), else 0."""
    for rank, doc in enumerate(_top(ranking, k), start=1):
        if relevance.get(doc, 0) > 0:
            return 1 / rank
    return 0.0


def mean_over_queries(fn: Callable[..., float], runs: Mapping[str, Sequence[str]],
                      qrels: Mapping[str, Mapping[str, int]], **kw: Any) -> float:
    """Mean of ``fn(ranking, relevance, **kw)`` over every query in ``qrels``; a query the run
    did not answer scores as an empty ranking (like ``trec_eval -c``)."""
    if not qrels:
        raise ValueError("no queries in qrels")
    return sum(fn(runs.get(qid, []), relevance, **kw) for qid, relevance in qrels.items()) / len(qrels)


# --- uncertainty -------------------------------------------------------------------

_CHUNK_CELLS = 1_000_000  # resample in blocks so memory stays near 8 MB for any data size


def _resampled_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Means of ``n_resamples`` samples of ``values`` drawn with replacement."""
    rng = np.random.default_rng(seed)
    n = len(values)
    rows = max(1, _CHUNK_CELLS // n)
    means = [values[rng.integers(0, n, size=(min(rows, n_resamples - start), n))].mean(axis=1)
             for start in range(0, n_resamples, rows)]
    return np.concatenate(means)


def _as_scores(scores: Sequence[float]) -> np.ndarray:
    values = np.asarray(scores, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError("need a non-empty 1-d sequence of scores")
    return values


def bootstrap_ci(scores: Sequence[float], n_resamples: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the sample mean and its percentile-bootstrap (1 - alpha) interval."""
    values = _as_scores(scores)
    means = _resampled_means(values, n_resamples, seed)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(values.mean()), float(low), float(high)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_resamples: int = 1000, seed: int = 0) -> float:
    """Two-sided p-value that runs ``a`` and ``b`` (scored on the same items, in the same order)
    have equal means.

    Resamples items, keeping each item's pair together, and counts how often the resampled
    difference strays from the observed one by at least the observed difference: the bootstrap
    distribution shifted to the null (Efron & Tibshirani 1993, sec. 16.4). The +1s keep p above
    zero, as a finite number of resamples cannot prove more.
    """
    if len(a) != len(b):
        raise ValueError(f"paired runs need equal lengths, got {len(a)} and {len(b)}")
    deltas = _as_scores(a) - _as_scores(b)
    observed = deltas.mean()
    resampled = _resampled_means(deltas, n_resamples, seed)
    extreme = int(np.sum(np.abs(resampled - observed) >= abs(observed) - 1e-12))
    return (extreme + 1) / (n_resamples + 1)
