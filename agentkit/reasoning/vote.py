"""Voting over sampled answers, and when to stop sampling.

Majority vote (Wang et al. 2022, "Self-Consistency Improves Chain of Thought
Reasoning"), optionally weighted by each sample's length-normalized sequence
probability, exp(mean token log-probability) (their "normalized weighted sum").
Ties go to the answer whose samples have the higher mean token log-probability,
then to the answer seen first.

Stopping (after Aggarwal et al. 2023, "Let's Sample Step by Step: Adaptive-
Consistency"): stop when the leader cannot be overtaken by the samples still
allowed, or when the Beta criterion says it leads the runner-up with
probability >= threshold: with counts a and b, P(p_a > p_b) under
Beta(a + 1, b + 1), which for whole counts is P(Binomial(a + b + 1, 1/2) <= a).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

Weighting = Literal["majority", "probability"]


@dataclass(frozen=True)
class Sample:
    """One sampled run: what the inner step wrote, its answer (or why none), and its token evidence."""

    index: int
    seed: int
    fields: dict[str, Any]
    answer: Any
    error: str | None
    logprob_sum: float | None = None
    tokens: int = 0

    @property
    def mean_logprob(self) -> float | None:
        if self.logprob_sum is None or self.tokens == 0:
            return None
        return self.logprob_sum / self.tokens

    def weight(self, weighting: Weighting) -> float:
        """1 per sample, or its normalized sequence probability (1 when unknown, e.g. in a dry run)."""
        mean = self.mean_logprob
        return 1.0 if weighting == "majority" or mean is None else math.exp(mean)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "seed": self.seed, "answer": self.answer, "error": self.error,
                "mean_logprob": self.mean_logprob, "tokens": self.tokens, "fields": self.fields}


def answer_key(value: Any) -> str:
    """Answers that are equal vote together; non-strings (JSON answers) by canonical JSON."""
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


@dataclass
class Tally:
    """Votes per answer key, with what breaks ties."""

    weighting: Weighting
    weights: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    logprobs: dict[str, list[float]] = field(default_factory=dict)
    drawn: int = 0
    unextractable: int = 0

    @classmethod
    def of(cls, samples: list[Sample], weighting: Weighting = "majority") -> Tally:
        tally = cls(weighting)
        for sample in samples:
            tally.add(sample)
        return tally

    def add(self, sample: Sample) -> None:
        self.drawn += 1
        if sample.answer is None:
            self.unextractable += 1
            return
        key = answer_key(sample.answer)
        self.values.setdefault(key, sample.answer)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.weights[key] = self.weights.get(key, 0.0) + sample.weight(self.weighting)
        if sample.mean_logprob is not None:
            self.logprobs.setdefault(key, []).append(sample.mean_logprob)

    def mean_logprob(self, key: str) -> float:
        found = self.logprobs.get(key)
        return sum(found) / len(found) if found else -math.inf

    def ranking(self) -> list[str]:
        """Answer keys, best first: weight, then mean token log-probability, then first seen."""
        order = {key: i for i, key in enumerate(self.values)}
        return sorted(self.values, key=lambda k: (-self.weights[k], -self.mean_logprob(k), order[k]))

    @property
    def winner(self) -> str | None:
        ranking = self.ranking()
        return ranking[0] if ranking else None

    @property
    def tie_broken(self) -> bool:
        """Whether the winner shares its weight with another answer (log-probability decided)."""
        ranking = self.ranking()
        return len(ranking) > 1 and math.isclose(self.weights[ranking[0]], self.weights[ranking[1]])

    def _top_two(self, values: dict[str, float] | dict[str, int]) -> tuple[float, float]:
        ranking = self.ranking()
        first = values[ranking[0]] if ranking else 0
        second = max((values[k] for k in ranking[1:]), default=0)
        return float(first), float(second)

    @property
    def confidence(self) -> float:
        """P(the leader's share exceeds the runner-up's), from the vote counts (Beta criterion)."""
        first, second = self._top_two(self.counts)
        return beta_leads(int(first), int(second))

    def decided(self, remaining: int) -> bool:
        """No outcome of ``remaining`` more samples (each weighs at most 1) can change the winner."""
        first, second = self._top_two(self.weights)
        return first - second > remaining

    def stop_reason(self, remaining: int, threshold: float) -> str | None:
        if remaining <= 0:
            return "budget"
        if self.decided(remaining):
            return "decided"
        if self.values and self.confidence >= threshold:
            return "confident"
        return None

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "votes": dict(self.counts),
            "winner": self.winner,
            "drawn": self.drawn,
            "unextractable": self.unextractable,
            "confidence": round(self.confidence, 4),
            "tie_broken": self.tie_broken,
        }
        if self.weighting == "probability":
            summary["weights"] = {k: round(w, 6) for k, w in self.weights.items()}
        return summary


def beta_leads(a: int, b: int) -> float:
    """P(X > 1/2) for X ~ Beta(a + 1, b + 1) = P(Binomial(a + b + 1, 1/2) <= a), exact for counts."""
    trials = a + b + 1
    return float(sum(math.comb(trials, k) for k in range(a + 1)) / 2**trials)
