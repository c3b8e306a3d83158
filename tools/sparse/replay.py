"""The rehearsal buffer of ER and DER++: reservoir sampling over every example seen.

Each slot keeps the (augmented) input, its training targets and the network's outputs when it
was stored (DER++ replays those logits: MSE on the heatmap logits and the log box distances).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tools.sparse.errors import SparseError


@dataclass
class Batch:
    """A training batch: images, targets (heatmap, boxes, weight, negative mask) and, for
    buffer batches, the stored logits and log distances."""

    x: torch.Tensor
    heat: torch.Tensor
    boxes: torch.Tensor
    weight: torch.Tensor
    neg: torch.Tensor
    logits: torch.Tensor | None = None
    log_dist: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]


_FIELDS = ("x", "heat", "boxes", "weight", "neg", "logits", "log_dist")


class ReservoirBuffer:
    def __init__(self, capacity: int, seed: int = 0) -> None:
        if capacity < 1:
            raise SparseError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.seen = 0
        self.store: dict[str, torch.Tensor] = {}
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def add(self, batch: Batch, logits: torch.Tensor, dist: torch.Tensor) -> None:
        values = {"x": batch.x, "heat": batch.heat, "boxes": batch.boxes, "weight": batch.weight,
                  "neg": batch.neg, "logits": logits.detach(),
                  "log_dist": torch.log(dist.detach().clamp(min=1e-6))}  # fmt: skip
        self.add_fields(values)

    def add_fields(self, values: dict[str, torch.Tensor]) -> None:
        """Offer every example of ``values`` (equal first dimensions) to the reservoir; any
        model's fields (the ViT's: crops, labels, logits)."""
        n = len(next(iter(values.values())))
        if not self.store:
            self.store = {
                k: torch.zeros((self.capacity, *v.shape[1:]), dtype=v.dtype)
                for k, v in values.items()
            }
        for i in range(n):
            slot = (
                self.seen if self.seen < self.capacity else int(self.rng.integers(0, self.seen + 1))
            )
            self.seen += 1
            if slot < self.capacity:
                for k, v in values.items():
                    self.store[k][slot] = v[i]

    def sample(self, n: int) -> Batch | None:
        if len(self) == 0:
            return None
        idx = torch.from_numpy(self.rng.choice(len(self), size=min(n, len(self)), replace=False))
        fields = {k: self.store[k][idx] for k in _FIELDS}
        fields["x"] = fields["x"].contiguous(memory_format=torch.channels_last)
        return Batch(**fields)

    def sample_fields(self, n: int) -> dict[str, torch.Tensor] | None:
        """Up to ``n`` stored examples as a dict of the fields given to :meth:`add_fields`."""
        if len(self) == 0:
            return None
        idx = torch.from_numpy(self.rng.choice(len(self), size=min(n, len(self)), replace=False))
        return {k: v[idx] for k, v in self.store.items()}

    def state(self) -> dict:
        return {"seen": self.seen, "store": self.store, "rng": self.rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        self.seen = state["seen"]
        self.store = state["store"]
        self.rng.bit_generator.state = state["rng"]
