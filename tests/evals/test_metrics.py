"""Metrics against hand-computed values and, for rankings, against trec_eval itself."""

from __future__ import annotations

import math
import random

import pytest

from agentkit.evals.metrics import (
    accuracy,
    bootstrap_ci,
    exact_match,
    mean_over_queries,
    mrr,
    ndcg_at_k,
    normalize_answer,
    numeric_match,
    paired_bootstrap,
    parse_number,
    recall_at_k,
    token_f1,
)


def test_normalize_answer() -> None:
    assert normalize_answer("The  Cat's hat!") == "cats hat"
    assert normalize_answer("An apple, a day") == "apple day"
    assert normalize_answer("theater") == "theater"  # articles only as whole words


def test_exact_match() -> None:
    assert exact_match("The Eiffel Tower.", "eiffel tower")
    assert not exact_match("Eiffel", "eiffel tower")
    assert not exact_match(None, "x")


def test_token_f1() -> None:
    # pred tokens: cat sat on mat; gold: cat on mat -> P 3/4, R 1
    assert token_f1("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    assert token_f1("October 1922", "october 1922.") == 1.0
    assert token_f1("Paris", "London") == 0.0
    assert token_f1("yes", "yes it is") == 0.0  # HotpotQA: yes/no must match exactly
    assert token_f1("no", "No.") == 1.0
    assert token_f1("", "") == 1.0 and token_f1("the", "cat") == 0.0
    assert token_f1(None, "cat") == 0.0
    assert token_f1("cat cat dog", "cat dog dog") == pytest.approx(2 / 3)  # counts are clipped


@pytest.mark.parametrize(("text", "value"), [
    ("1,000", 1000.0), ("$5", 5.0), ("-3.50", -3.5), ("-$3.50", -3.5), ("72.", 72.0), ("50%", 50.0),
    (" 1 234 ", 1234.0), (".5", 0.5), ("109,200,000", 109200000.0), (7, 7.0), (2.5, 2.5),
    ("1,5", None), ("1,00", None), ("abc", None), ("", None), (None, None), (True, None), (float("nan"), None),
])
def test_parse_number(text: object, value: float | None) -> None:
    assert parse_number(text) == value


def test_numeric_match() -> None:
    assert numeric_match("1,000", "1000")
    assert numeric_match("$5", 5)
    assert numeric_match("-3.50", "-3.5")
    assert numeric_match(0.1 + 0.2, "0.3")
    assert not numeric_match("3.51", "3.5")
    assert not numeric_match(None, "5") and not numeric_match("five", "5")
    assert numeric_match("3.6", "3.5", tol=0.2)


def test_accuracy() -> None:
    assert accuracy([1, 2, 3], [1, 2, 4]) == pytest.approx(2 / 3)
    assert accuracy(["1,000", "x"], ["1000", "2"], match=numeric_match) == 0.5
    with pytest.raises(ValueError):
        accuracy([1], [1, 2])
    with pytest.raises(ValueError):
        accuracy([], [])


RELEVANCE = {"a": 2, "b": 1, "c": 0, "z": 1}
RANKING = ["b", "x", "a", "c"]


def test_ndcg_by_hand() -> None:
    dcg = 1 / math.log2(2) + 2 / math.log2(4)  # b at rank 1, a at rank 3
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RANKING, RELEVANCE, k=10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(RANKING, RELEVANCE, k=1) == pytest.approx(1 / 2)
    assert ndcg_at_k(["a", "b", "z"], RELEVANCE) == pytest.approx(1.0)
    assert ndcg_at_k(["x"], {"x": 0}) == 0.0
    assert ndcg_at_k(["b", "b", "a"], RELEVANCE, k=2) == ndcg_at_k(["b", "a"], RELEVANCE, k=2)
    with pytest.raises(ValueError):
        ndcg_at_k(RANKING, RELEVANCE, k=0)


def test_recall_and_mrr_by_hand() -> None:
    assert recall_at_k(RANKING, RELEVANCE, k=3) == pytest.approx(2 / 3)  # b, a of {a, b, z}
    assert recall_at_k(RANKING, RELEVANCE, k=1) == pytest.approx(1 / 3)
    assert recall_at_k(RANKING, {"c": 0}, k=3) == 0.0
    assert mrr(RANKING, RELEVANCE) == 1.0
    assert mrr(["x", "c", "a"], RELEVANCE) == pytest.approx(1 / 3)
    assert mrr(["x", "c", "a"], RELEVANCE, k=2) == 0.0
    assert mrr(["c", "c", "b"], RELEVANCE) == pytest.approx(1 / 2)  # repeats count once


def test_mean_over_queries_uses_qrels_queries() -> None:
    runs = {"q1": ["a"], "q3": ["a"]}
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    assert mean_over_queries(recall_at_k, runs, qrels, k=5) == 0.5  # q2 unanswered scores 0; q3 unjudged
    assert mean_over_queries(mrr, runs, qrels) == 0.5
    with pytest.raises(ValueError):
        mean_over_queries(mrr, runs, {})


def _random_benchmark(seed: int) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(60)]
    qrels = {f"q{q}": {doc: rng.choice([0, 1, 1, 2, 3]) for doc in rng.sample(docs, rng.randint(1, 8))}
             for q in range(40)}
    runs = {qid: rng.sample(docs, rng.randint(1, 30)) for qid in qrels}
    return qrels, runs


def test_ranking_metrics_match_trec_eval() -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, runs = _random_benchmark(seed=11)
    scored = {qid: {doc: float(len(ranking) - i) for i, doc in enumerate(ranking)} for qid, ranking in runs.items()}
    reference = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.5,10", "recall.5,10", "recip_rank"}).evaluate(scored)
    for qid, ranking in runs.items():
        for k in (5, 10):
            assert ndcg_at_k(ranking, qrels[qid], k) == pytest.approx(reference[qid][f"ndcg_cut_{k}"], abs=1e-9)
            assert recall_at_k(ranking, qrels[qid], k) == pytest.approx(reference[qid][f"recall_{k}"], abs=1e-9)
        assert mrr(ranking, qrels[qid]) == pytest.approx(reference[qid]["recip_rank"], abs=1e-9)
    mean_ndcg = sum(scores["ndcg_cut_10"] for scores in reference.values()) / len(reference)
    assert mean_over_queries(ndcg_at_k, runs, qrels, k=10) == pytest.approx(mean_ndcg, abs=1e-9)


def test_bootstrap_ci() -> None:
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)
    mean, low, high = bootstrap_ci([0.0, 1.0] * 50)
    assert mean == 0.5
    assert low == pytest.approx(0.5 - 1.96 * 0.05, abs=0.02) and high == pytest.approx(0.5 + 1.96 * 0.05, abs=0.02)
    rng = random.Random(5)
    graded = [rng.random() for _ in range(30)]
    assert bootstrap_ci(graded, seed=0) == bootstrap_ci(graded, seed=0)
    assert bootstrap_ci(graded, seed=0) != bootstrap_ci(graded, seed=1)
    assert bootstrap_ci([0.0, 1.0] * 50, alpha=0.5)[1] > low  # a narrower interval
    # many items: resampled in several blocks; the width still follows the standard error
    _, low, high = bootstrap_ci([0.0, 1.0] * 2000, n_resamples=2000)
    assert high - low == pytest.approx(2 * 1.96 * 0.5 / math.sqrt(4000), rel=0.15)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_paired_bootstrap() -> None:
    a = [1.0, 0.0, 1.0, 1.0]
    assert paired_bootstrap(a, a) == 1.0
    assert paired_bootstrap([1.0] * 50, [0.0] * 50) == pytest.approx(1 / 1001)
    # 10 items won, 5 lost, 85 tied: mean gain 0.05 with standard error ~0.038 -> not significant
    base = [0.0] * 100
    small = [1.0] * 10 + [0.0] * 90
    small_base = [0.0] * 10 + [1.0] * 5 + [0.0] * 85
    p_small = paired_bootstrap(small, small_base)
    assert 0.1 < p_small < 0.4
    # 30 won, 5 lost: gain 0.25, ~4.7 standard errors
    big = [1.0] * 30 + [0.0] * 70
    big_base = [0.0] * 30 + [1.0] * 5 + [0.0] * 65
    assert paired_bootstrap(big, big_base) < 0.01
    assert paired_bootstrap(small, small_base, seed=3) == paired_bootstrap(small_base, small, seed=3)
    with pytest.raises(ValueError):
        paired_bootstrap(base, [0.0])
