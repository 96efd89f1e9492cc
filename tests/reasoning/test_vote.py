from __future__ import annotations

import math

import pytest

from agentkit.reasoning.vote import Sample, Tally, answer_key, beta_leads


def sample(i: int, answer: object, mean: float | None = None, error: str | None = None) -> Sample:
    return Sample(i, i, {}, answer, error, None if mean is None else mean * 10, 10 if mean is not None else 0)


def test_majority_wins_and_unextractable_samples_are_counted() -> None:
    tally = Tally.of([sample(0, "8"), sample(1, "6"), sample(2, "8"), sample(3, None, error="no number")])
    assert tally.winner == "8"
    assert tally.counts == {"8": 2, "6": 1}
    assert tally.drawn == 4 and tally.unextractable == 1
    summary = tally.summary()
    assert summary["votes"] == {"8": 2, "6": 1} and summary["unextractable"] == 1 and summary["drawn"] == 4


def test_tie_goes_to_higher_mean_token_logprob() -> None:
    tally = Tally.of([sample(0, "a", -1.0), sample(1, "b", -0.2), sample(2, "a", -1.2), sample(3, "b", -0.4)])
    assert tally.winner == "b" and tally.tie_broken
    flipped = Tally.of([sample(0, "a", -0.1), sample(1, "b", -0.2), sample(2, "a", -0.3), sample(3, "b", -0.4)])
    assert flipped.winner == "a"


def test_tie_without_logprobs_goes_to_first_seen() -> None:
    assert Tally.of([sample(0, "b"), sample(1, "a")]).winner == "b"


def test_probability_weighting_can_overrule_the_count() -> None:
    samples = [sample(0, "x", -3.0), sample(1, "x", -3.0), sample(2, "y", -0.05)]
    assert Tally.of(samples, "majority").winner == "x"
    weighted = Tally.of(samples, "probability")
    assert weighted.winner == "y"
    assert weighted.weights["x"] == pytest.approx(2 * math.exp(-3.0))
    assert "weights" in weighted.summary()


def test_answers_vote_by_canonical_form() -> None:
    assert answer_key(" 8 ") == answer_key("8")
    assert answer_key({"b": 1, "a": 2}) == answer_key({"a": 2, "b": 1})
    tally = Tally.of([sample(0, {"a": 1, "b": 2}), sample(1, {"b": 2, "a": 1})])
    assert tally.counts == {answer_key({"a": 1, "b": 2}): 2}


def test_beta_criterion_matches_numeric_integration() -> None:
    def integrate(a: int, b: int, steps: int = 20000) -> float:
        """P(X > 1/2) for X ~ Beta(a + 1, b + 1), by the midpoint rule."""
        h = 0.5 / steps
        mass = sum((0.5 + (i + 0.5) * h) ** a * (0.5 - (i + 0.5) * h) ** b for i in range(steps)) * h
        return mass * math.gamma(a + b + 2) / (math.gamma(a + 1) * math.gamma(b + 1))

    for a, b in [(4, 0), (3, 1), (5, 2), (2, 2), (10, 3)]:
        assert beta_leads(a, b) == pytest.approx(integrate(a, b), abs=1e-4)
    assert beta_leads(4, 0) == pytest.approx(31 / 32)
    assert beta_leads(2, 2) == pytest.approx(0.5)


def test_stop_reasons() -> None:
    unanimous = Tally.of([sample(i, "yes") for i in range(4)])
    assert unanimous.stop_reason(remaining=12, threshold=0.95) == "confident"  # P = 31/32
    split = Tally.of([sample(0, "yes"), sample(1, "yes"), sample(2, "yes"), sample(3, "no")])
    assert split.stop_reason(remaining=12, threshold=0.95) is None
    assert split.stop_reason(remaining=1, threshold=0.999) == "decided"  # 3 - 1 > 1: cannot be overtaken
    assert split.stop_reason(remaining=2, threshold=0.999) is None  # 3 - 1 = 2: a tie is still possible
    assert split.stop_reason(remaining=0, threshold=0.999) == "budget"
    empty = Tally.of([sample(0, None, error="x")])
    assert empty.stop_reason(remaining=4, threshold=0.5 + 1e-9) is None and empty.winner is None
