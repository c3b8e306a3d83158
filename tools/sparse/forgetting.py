"""Forgetting events per training example (Toneva et al. 2019), as MEST and SparCL use them.

An example is *forgotten* when it was classified correctly at its last visit and is not now.
Examples never learned count as forgotten infinitely often: they are kept. The least-forgotten
examples are the ones removed.
"""

from __future__ import annotations

import numpy as np

from tools.sparse.config import check_fraction


class ForgettingTracker:
    def __init__(self, n: int) -> None:
        self.last = np.zeros(n, bool)
        self.learned = np.zeros(n, bool)
        self.events = np.zeros(n, np.int64)
        self.active = np.ones(n, bool)

    def update(self, index: np.ndarray, correct: np.ndarray) -> None:
        index = np.asarray(index, np.int64)
        correct = np.asarray(correct, bool)
        self.events[index] += self.last[index] & ~correct
        self.learned[index] |= correct
        self.last[index] = correct

    def counts(self) -> np.ndarray:
        """Forgetting events; never-learned examples count as infinitely forgotten."""
        return np.where(self.learned, self.events.astype(float), np.inf)

    def remove(self, fraction: float, rng: np.random.Generator) -> np.ndarray:
        """Deactivate ``fraction`` of *all* examples, the least forgotten of the active ones
        (ties in random order); returns the removed indices."""
        check_fraction("removal fraction", fraction)
        active = np.nonzero(self.active)[0]
        k = min(round(fraction * len(self.active)), len(active) - 1)
        if k <= 0:
            return np.zeros(0, np.int64)
        c = self.counts()[active]
        order = np.lexsort((rng.random(len(active)), c))
        removed = active[order[:k]]
        self.active[removed] = False
        return removed

    def state(self) -> dict:
        return {k: getattr(self, k).copy() for k in ("last", "learned", "events", "active")}

    def load_state(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, np.asarray(v).copy())
