"""Orderings: where each chosen demonstration goes in the prompt.

The last demonstration sits next to the query. ``given`` keeps the selector's
order (for kNN: most similar first), ``random`` shuffles with a seed,
``similarity`` sorts by cosine to the query (ascending: most similar last,
nearest the query), and ``entropy`` follows Lu et al. 2022 ("Fantastically
ordered prompts"): it samples probe inputs from the model itself, scores every
candidate permutation on them and keeps the one whose predictions are most
spread out (GlobalE) or least confident on average (LocalE).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
)

from agentkit.core.context import Context
from agentkit.core.kinded import KindedConfig
from agentkit.icl.calibrate import entropy, label_logprobs, softmax
from agentkit.icl.format import DemoFormat, split_label_suffix
from agentkit.icl.memo import SingleFlight
from agentkit.icl.pool import Pool
from agentkit.icl.select import Scored
from agentkit.icl.vectors import HNSW_THRESHOLD, PoolVectors, resolve_embedder, stable_seed
from agentkit.llm.types import SamplingParams


@dataclass(frozen=True)
class OrderEnv:
    """What an ordering may use besides the demonstrations: the pool, the run and the format."""

    pool: Pool
    ctx: Context
    format: DemoFormat


class Ordering(KindedConfig):
    """Base of all orderings: the chosen demonstrations in the order the prompt shows them."""

    async def order(self, chosen: Sequence[Scored], query: str, env: OrderEnv) -> list[Scored]:
        raise NotImplementedError


class Given(Ordering):
    """As the selector returned them."""

    kind: Literal["given"] = "given"

    async def order(self, chosen: Sequence[Scored], query: str, env: OrderEnv) -> list[Scored]:
        return list(chosen)


class RandomOrder(Ordering):
    """A seeded shuffle, the same for the same query and demonstrations."""

    kind: Literal["random"] = "random"
    seed: int = 0

    async def order(self, chosen: Sequence[Scored], query: str, env: OrderEnv) -> list[Scored]:
        shuffled = list(chosen)
        random.Random(stable_seed(self.seed, query, *(c.example.id for c in chosen))).shuffle(shuffled)
        return shuffled


class Similarity(Ordering):
    """By cosine similarity to the query; ``ascending`` puts the most similar last, next to the query."""

    kind: Literal["similarity"] = "similarity"
    direction: Literal["ascending", "descending"] = "ascending"
    embedder: dict[str, Any] | None = None
    hnsw_threshold: int = HNSW_THRESHOLD

    async def order(self, chosen: Sequence[Scored], query: str, env: OrderEnv) -> list[Scored]:
        vectors = PoolVectors.of(env.pool, resolve_embedder(self.embedder), self.hnsw_threshold)
        query_vector = (await asyncio.to_thread(vectors.embed, [query]))[0]
        rows = vectors.matrix[[env.pool.position(c.example.id) for c in chosen]]
        similarity = (rows @ query_vector).tolist()
        order = sorted(range(len(chosen)), key=lambda i: similarity[i], reverse=self.direction == "descending")
        env.ctx.annotate(order_similarity={chosen[i].example.id: round(similarity[i], 4) for i in order})
        return [chosen[i] for i in order]


class Entropy(Ordering):
    """Entropy-based ordering (Lu et al. 2022).

    1. Candidates: all permutations when there are at most ``max_permutations``,
       else the given order plus distinct seeded random ones.
    2. Probing set: for each candidate, the model continues the demonstrations
       with a new input (``n`` samples at ``temperature``); up to ``probes``
       distinct inputs are kept.
    3. Each candidate labels every probe by scoring the label verbalizers (one
       batched pass); GlobalE is the entropy of its predicted-label histogram,
       LocalE the mean entropy of its per-probe label distributions.
    4. The candidate with the highest ``metric`` wins (ties: the earlier one).

    Labels default to the outputs of the pool's labelled examples. The result
    depends only on the demonstrations, so it is computed once and shared by
    every query that gets the same ones. GlobalE and LocalE of each candidate go
    to the trace.
    """

    kind: Literal["entropy"] = "entropy"
    metric: Literal["globale", "locale"] = "globale"
    max_permutations: int = Field(8, ge=1)
    probes: int = Field(8, ge=1)
    probe_tokens: int = Field(48, ge=1)
    temperature: float = 1.0
    seed: int = 0
    labels: tuple[str, ...] | None = None
    exact: bool = True

    _memo: SingleFlight[dict[str, Any]] = PrivateAttr(default_factory=SingleFlight)

    def __eq__(self, other: object) -> bool:
        """Equal settings; the memo of results does not count."""
        return type(other) is type(self) and dict(self) == dict(other)

    def __hash__(self) -> int:
        return hash(tuple(dict(self).items()))

    def candidates(self, k: int) -> list[tuple[int, ...]]:
        identity = tuple(range(k))
        if math.factorial(k) <= self.max_permutations:
            return list(itertools.permutations(identity))
        rng = random.Random(self.seed)
        found = [identity]
        seen = {identity}
        while len(found) < self.max_permutations:
            permutation = tuple(rng.sample(identity, k))
            if permutation not in seen:
                seen.add(permutation)
                found.append(permutation)
        return found

    def label_set(self, pool: Pool) -> tuple[str, ...]:
        if self.labels:
            return self.labels
        outputs = tuple(dict.fromkeys(e.output for e in pool if e.label is not None))
        if len(outputs) < 2:
            raise ValueError("entropy ordering needs 'labels' (or a pool whose examples have at least two labels)")
        return outputs

    async def order(self, chosen: Sequence[Scored], query: str, env: OrderEnv) -> list[Scored]:
        if len(chosen) < 2:
            return list(chosen)
        labels = self.label_set(env.pool)
        fmt = env.format
        key = (tuple(c.example.id for c in chosen), fmt.template.source, fmt.separator, fmt.max_chars, labels)
        result, reused = await self._memo.get(key, lambda: self._search(chosen, labels, env))
        env.ctx.annotate(entropy_ordering={**result, "reused": reused})
        return [chosen[i] for i in result["order"]]

    async def _search(self, chosen: Sequence[Scored], labels: tuple[str, ...], env: OrderEnv) -> dict[str, Any]:
        ctx = env.ctx.child("order", "entropy")
        try:
            result = await self._score_candidates(chosen, labels, env.format, ctx)
        except BaseException as exc:
            ctx.span.finish(error=exc)
            raise
        ctx.span.finish(chosen=result["chosen"], order=result["order"])
        return result

    async def _score_candidates(
        self, chosen: Sequence[Scored], labels: tuple[str, ...], fmt: DemoFormat, ctx: Context
    ) -> dict[str, Any]:
        candidates = self.candidates(len(chosen))
        demos = [fmt.render([chosen[i].example for i in c]) for c in candidates]
        before, between, _ = fmt.parts()
        probes = await self._probes([d + before for d in demos], between, ctx)
        label_prompt, label_prefix = split_label_suffix(between)
        prompts = [d + before + probe + label_prompt for d in demos for probe in probes]
        logprobs = await label_logprobs(ctx, prompts, [label_prefix + label for label in labels], exact=self.exact)
        table = []
        for c, candidate in enumerate(candidates):
            rows = [softmax(row) for row in logprobs[c * len(probes) : (c + 1) * len(probes)]]
            predicted = [max(range(len(labels)), key=row.__getitem__) for row in rows]
            histogram = [predicted.count(j) / len(predicted) for j in range(len(labels))]
            table.append({
                "order": [chosen[i].example.id for i in candidate],
                "global_e": round(entropy(histogram), 4),
                "local_e": round(sum(entropy(row) for row in rows) / len(rows), 4),
            })
        metric = "global_e" if self.metric == "globale" else "local_e"
        best = max(range(len(table)), key=lambda c: (table[c][metric], -c))
        return {"metric": metric, "probes": probes, "candidates": table, "chosen": best, "order": list(candidates[best])}

    async def _probes(self, prompts: Sequence[str], between: str, ctx: Context) -> list[str]:
        """Probe inputs sampled from the model after each candidate's demonstrations."""
        per_prompt = math.ceil(self.probes / len(prompts))
        stop = tuple(dict.fromkeys(s for s in (between.strip(" \t") or "\n", "\n\n") if s))
        params = SamplingParams(max_tokens=self.probe_tokens, temperature=self.temperature, seed=self.seed,
                                n=per_prompt, stop=stop)
        completions = await asyncio.gather(*(ctx.complete(p, params) for p in prompts))
        texts = [" ".join(t.split()) for c in completions for t in c.texts]
        probes = list(dict.fromkeys(t for t in texts if t))[: self.probes]
        if not probes:
            raise RuntimeError("entropy ordering: the model produced no probe inputs (empty samples)")
        return probes


def _shorthand(value: Any) -> Any:
    return {"kind": value} if isinstance(value, str) else value


OrderingConfig = Annotated[
    Given | RandomOrder | Similarity | Entropy,
    Field(discriminator="kind"),
    BeforeValidator(_shorthand),
]
