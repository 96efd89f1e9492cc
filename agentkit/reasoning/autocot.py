"""Auto-CoT: demonstrations the model writes for itself, chosen for diversity.

Zhang et al. 2022, "Automatic Chain of Thought Prompting in Large Language
Models". Cluster a pool of questions (Sentence-BERT embeddings, k-means); in
each cluster, walk the questions from the one nearest the centroid outwards
and take the first whose zero-shot-CoT rationale passes the paper's simple
filters: question <= 60 words, rationale <= 5 reasoning steps (lines), the
rationale ends with a period and gives an answer (for numbers: the answer
appears in its last sentence or last ten words). The k rationales become the
demonstrations of a few-shot ``cot`` step.

Building costs the pool's embeddings and a few zero-shot-CoT calls per
cluster, so the result is cached on disk as readable JSON, keyed by the pool,
the model and every setting; a run loads it instead of rebuilding. The file
also lists each cluster's size and every candidate tried with why it was
rejected, so the choice can be inspected.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentkit.core.context import Context, NoLLMError
from agentkit.core.registry import register
from agentkit.core.step import Record, Step
from agentkit.prompting.templates import PromptLibrary
from agentkit.reasoning.cot import ZERO_SHOT_TRIGGER, ChainOfThought

if TYPE_CHECKING:
    import numpy as np

_BUILDS: dict[str, asyncio.Task[dict[str, Any]]] = {}  # one build per cache key and event loop
_BUILT: dict[str, dict[str, Any]] = {}


class QuestionPool(BaseModel):
    """The questions to cluster: a data set split (``agentkit.evals.loaders``) or an inline list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str | None = None
    split: str = "train"
    limit: int | None = Field(default=256, ge=1)
    seed: int | None = 0
    field: str = "question"
    questions: list[str] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> QuestionPool:
        if (self.dataset is None) == (self.questions is None):
            raise ValueError("give either 'dataset' (with split, limit) or 'questions' (an inline list)")
        return self

    def load(self) -> list[str]:
        if self.questions is not None:
            return list(self.questions)
        from agentkit.evals.loaders import load_dataset

        assert self.dataset is not None
        records = load_dataset(self.dataset, self.split, limit=self.limit, seed=self.seed)
        return [str(r[self.field]) for r in records]


def rejection(question: str, rationale: str, answer: Any, kind: str, max_words: int, max_steps: int) -> str | None:
    """Why a candidate fails the Auto-CoT filters, or None when it passes."""
    if len(question.split()) > max_words:
        return f"question longer than {max_words} words"
    steps = rationale.replace("\n\n", "\n").split("\n")
    if len(steps) > max_steps:
        return f"rationale has {len(steps)} steps (> {max_steps})"
    if not rationale.rstrip().endswith("."):
        return "rationale does not end with a period"
    if answer is None or str(answer).strip() == "":
        return "no answer extracted"
    if kind == "number":
        sentences = [s for s in rationale.split(".") if s.strip()]
        last = sentences[-1] if sentences else ""
        if str(answer) not in last and str(answer) not in " ".join(rationale.split()[-10:]):
            return "the answer is not in the rationale's last sentence or last ten words"
    return None


def kmeans(vectors: np.ndarray, k: int, seed: int, restarts: int = 4, iterations: int = 100
           ) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ with restarts (lowest inertia wins): (assignment per row, distance to its centroid)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(restarts):
        centroids = vectors[[rng.integers(len(vectors))]]
        while len(centroids) < k:
            nearest = ((vectors[:, None, :] - centroids[None]) ** 2).sum(-1).min(1)
            total = nearest.sum()
            pick = rng.choice(len(vectors), p=nearest / total) if total > 0 else rng.integers(len(vectors))
            centroids = np.vstack([centroids, vectors[pick]])
        for _ in range(iterations):
            distances = ((vectors[:, None, :] - centroids[None]) ** 2).sum(-1)
            assignment = distances.argmin(1)
            moved = np.array([vectors[assignment == c].mean(0) if (assignment == c).any() else centroids[c]
                              for c in range(k)])
            if np.allclose(moved, centroids):
                break
            centroids = moved
        distances = ((vectors[:, None, :] - centroids[None]) ** 2).sum(-1)
        assignment = distances.argmin(1)
        own = np.sqrt(distances[np.arange(len(vectors)), assignment])
        inertia = float((own**2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, assignment, own)
    assert best is not None
    return best[1], best[2]


def autocot_cache_dir() -> Path:
    home = os.environ.get("AGENTKIT_HOME")
    return Path(home) / "autocot" if home else Path.home() / ".cache" / "agentkit" / "autocot"


@register("auto_cot")
class AutoCoT(Step):
    """Writes ``demos``: one zero-shot-CoT demonstration per question cluster (built once, cached)."""

    pool: QuestionPool
    k: int = Field(default=8, ge=1)
    max_question_words: int = 60
    max_rationale_steps: int = 5
    candidates_per_cluster: int = Field(default=8, ge=1)
    batch: int = Field(default=4, ge=1)  # candidates of one cluster tried at once
    cot: ChainOfThought = ChainOfThought(trigger=ZERO_SHOT_TRIGGER)
    seed: int = 0
    output: str = "demos"
    cache_dir: str | None = None

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return set()

    def writes(self) -> set[str]:
        return {self.output}

    async def process(self, record: Record, ctx: Context) -> Record:
        if ctx.dry_run:  # building needs real rationales; a dry run shows the prompts without demonstrations
            ctx.annotate(dry_run="Auto-CoT demonstrations are not built in a dry run")
            return {self.output: []}
        built = await self.build(ctx)
        ctx.annotate(demos_file=built.get("file"), clusters=len(built["clusters"]))
        return {self.output: built["demos"]}

    # -- building -------------------------------------------------------------

    def settings(self, questions: list[str], model: str) -> dict[str, Any]:
        """Everything the demonstrations depend on: the cache key is its hash."""
        pool = hashlib.sha256("\n".join(questions).encode()).hexdigest()
        body = self.model_dump(mode="json", exclude={"name", "output", "cache_dir", "pool", "batch"})
        return {"pool_sha256": pool, "pool_size": len(questions), "model": model, **body}

    def cache_path(self, settings: dict[str, Any]) -> Path:
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]
        folder = Path(self.cache_dir) if self.cache_dir else autocot_cache_dir()
        return folder / f"{digest}.json"

    async def build(self, ctx: Context) -> dict[str, Any]:
        """The demonstrations and how they were chosen; from the disk cache when present."""
        questions = await asyncio.to_thread(self.pool.load)
        if ctx.llm is None:
            raise NoLLMError()
        model = await ctx.llm.model()
        settings = self.settings(questions, model)
        path = self.cache_path(settings)
        key = str(path)
        if key in _BUILT:
            return _BUILT[key]
        if path.is_file():
            _BUILT[key] = json.loads(path.read_text(encoding="utf-8"))
            return _BUILT[key]
        task = _BUILDS.get(key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(self._build(questions, settings, ctx.child("build", "auto_cot")))
            _BUILDS[key] = task
        built = {**await asyncio.shield(task), "file": str(path)}
        if key not in _BUILT:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(built, indent=2, ensure_ascii=False), encoding="utf-8")
            partial.replace(path)
            _BUILT[key] = built
        return built

    async def _build(self, questions: list[str], settings: dict[str, Any], ctx: Context) -> dict[str, Any]:
        from agentkit.icl.embed import default_embedder

        k = min(self.k, len(questions))
        vectors = await asyncio.to_thread(default_embedder().embed, questions)
        assignment, distance = kmeans(vectors, k, self.seed)
        clusters = await asyncio.gather(*(
            self._cluster(ctx, questions, [i for i in range(len(questions)) if assignment[i] == c], distance)
            for c in range(k)))
        demos = [c["demo"] for c in clusters if c["demo"]]
        if not demos:
            reasons: dict[str, int] = {}
            for tried in (t for c in clusters for t in c["tried"]):
                reasons[tried["rejected"]] = reasons.get(tried["rejected"], 0) + 1
            error = RuntimeError(f"Auto-CoT found no demonstration passing the filters in {k} clusters (rejections: "
                                 f"{reasons}); raise candidates_per_cluster or the cot step's max_tokens")
            ctx.span.finish(error=error)
            raise error
        ctx.span.finish(demos=len(demos))
        return {"settings": settings, "demos": demos, "clusters": clusters}

    async def _cluster(self, ctx: Context, questions: list[str], members: list[int], distance: np.ndarray
                       ) -> dict[str, Any]:
        """Try the members nearest the centroid first; keep the nearest that passes."""
        ranked = sorted(members, key=lambda i: float(distance[i]))
        tried: list[dict[str, Any]] = []
        candidates = [i for i in ranked if len(questions[i].split()) <= self.max_question_words]
        skipped = len(ranked) - len(candidates)
        for start in range(0, min(len(candidates), self.candidates_per_cluster), self.batch):
            batch = candidates[start : min(start + self.batch, self.candidates_per_cluster)]
            outs = await asyncio.gather(*(self.cot.run({"question": questions[i]}, ctx) for i in batch))
            for i, out in zip(batch, outs):
                rationale = f"{self.cot.trigger or ''} {out[self.cot.reasoning_output]}".strip()
                answer = out[self.cot.output]
                reason = rejection(questions[i], rationale, answer, self.cot.answer.kind,
                                   self.max_question_words, self.max_rationale_steps)
                tried.append({"index": i, "distance": round(float(distance[i]), 4), "rejected": reason,
                              "rationale": rationale, "answer": answer})
                if reason is None:
                    demo = {"question": questions[i], "rationale": " ".join(rationale.split()), "answer": answer}
                    return {"size": len(members), "skipped_long": skipped, "tried": tried, "demo": demo}
        return {"size": len(members), "skipped_long": skipped, "tried": tried, "demo": None}
