"""Vote-k (Su et al. 2022, "Selective annotation makes language models better few-shot learners").

Stage one of the paper's selective annotation: build a k-nearest-neighbour graph
over the pool and pick examples greedily. Each unselected example votes for its
graph neighbours; a voter's weight falls by a factor ``rho`` for every already
chosen example among its neighbours, so the picks are representative (many
votes) yet spread out (votes near chosen examples are discounted). The paper's
second stage (filling the rest of the budget by model confidence) needs LLM
predictions over the whole pool and is not done here.
"""

from __future__ import annotations

import numpy as np


def knn_graph(vectors: np.ndarray, graph_k: int) -> np.ndarray:
    """Positions of each row's ``graph_k`` nearest other rows (cosine), shape (n, graph_k)."""
    import faiss

    n = len(vectors)
    graph_k = min(graph_k, n - 1)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    _, neighbours = index.search(np.ascontiguousarray(vectors, dtype=np.float32), graph_k + 1)
    rows = []
    for i, row in enumerate(neighbours):
        others = row[row != i]  # drop self wherever it landed (duplicates may outrank it)
        rows.append(others[:graph_k])
    return np.stack(rows).astype(np.int64)


def votek(vectors: np.ndarray, budget: int, graph_k: int = 150, rho: float = 10.0) -> list[tuple[int, float]]:
    """Greedy vote-k selection: ``budget`` (position, votes at selection) pairs in pick order."""
    n = len(vectors)
    if n == 0 or budget <= 0:
        return []
    if n == 1:
        return [(0, 0.0)]
    if rho <= 1:
        raise ValueError(f"vote-k needs rho > 1, got {rho}")
    neighbours = knn_graph(vectors, graph_k)
    targets = neighbours.ravel()
    voters = np.repeat(np.arange(n), neighbours.shape[1])
    weight = np.ones(n)
    unselected = np.ones(n, dtype=bool)
    picks: list[tuple[int, float]] = []
    for _ in range(min(budget, n)):
        votes = np.bincount(targets, weights=(weight * unselected)[voters], minlength=n)
        votes[~unselected] = -np.inf
        best = int(np.argmax(votes))
        picks.append((best, float(votes[best])))
        unselected[best] = False
        weight[(neighbours == best).any(axis=1)] /= rho
    return picks
