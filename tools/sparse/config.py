"""Options of MEST and SparCL: schemes, strategies, domains and their checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from tools.sparse.errors import SparseError

DOMAINS = ("day", "night", "fog", "rain")


class Scheme(str, Enum):
    """What a mask entry covers: one weight, a block of output channels x one input
    channel x the kernel, or a whole output channel (with its BatchNorm scale and shift)."""

    UNSTRUCTURED = "unstructured"
    BLOCK = "block"
    CHANNEL = "channel"


class Allocation(str, Enum):
    """How a density budget is spread over the masked layers: the same density in every layer
    (MEST's uniform), or Erdos-Renyi-Kernel (RigL, MEST's ablation): density proportional to
    (c_in + c_out + k_h + k_w) / (c_in c_out k_h k_w), so small layers stay denser, at the
    same number of active weights in all."""

    UNIFORM = "uniform"
    ERK = "erk"


class SparseModel(str, Enum):
    """What `l4 sparse train` trains: the camera detector (conv + BatchNorm masks, vehicle
    AP) or the traffic-light ViT (Linear masks in its blocks, held-out crop accuracy)."""

    DETECTOR = "detector"
    VIT = "vit"


class Strategy(str, Enum):
    """A continual-learning method: what is replayed, and whether SparCL's parts are on."""

    FINETUNE = "finetune"  # dense sequential fine-tuning, no replay
    ER = "er"  # experience replay: buffer examples with their labels
    DERPP = "derpp"  # DER++: replayed logits and labels
    SPARCL = "sparcl"  # DER++ with TDM, DDR and DGM


def check_density(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= 1:
        raise SparseError(f"{name} must lie in (0, 1], got {value!r}")
    return float(value)


def check_fraction(name: str, value: float, high: float = 1.0) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value < high:
        raise SparseError(f"{name} must lie in [0, {high:g}), got {value!r}")
    return float(value)


def check_domains(domains: Sequence[str]) -> tuple[str, ...]:
    if not domains:
        raise SparseError("no domains given; expected some of " + ", ".join(DOMAINS))
    for d in domains:
        if d not in DOMAINS:
            raise SparseError(f"unknown domain {d!r}; expected one of {list(DOMAINS)}")
    if len(set(domains)) != len(domains):
        raise SparseError(f"domain sequence {list(domains)} repeats a domain")
    return tuple(domains)


@dataclass(frozen=True)
class MESTConfig:
    """MEST: density budget, mutation schedule and data efficiency.

    Every ``mutate_every`` epochs (until ``stop_fraction`` of training) a fraction of the active
    weights, ``mutation_ratio`` in the first third of training, half of it in the second, a
    quarter in the last, is pruned by |w| + ``grad_weight`` |grad| and as many random zeros are
    regrown (at zero). With ``soft_bound`` > 0 the model trains at density + soft_bound and is
    pruned back to the budget at each update (and at the end). ``remove_fraction`` of the
    examples, the least forgotten, are removed once at ``remove_at`` of training."""

    density: float = 0.2
    scheme: Scheme = Scheme.UNSTRUCTURED
    mutate_every: int = 2
    mutation_ratio: float = 0.1
    grad_weight: float = 1.0
    stop_fraction: float = 0.85
    soft_bound: float = 0.0
    block: int = 4
    remove_fraction: float = 0.0
    remove_at: float = 0.5
    allocation: Allocation = Allocation.UNIFORM

    def validate(self) -> None:
        check_density("density", self.density)
        check_density("density + soft_bound", self.density + self.soft_bound)
        check_fraction("mutation_ratio", self.mutation_ratio)
        check_fraction("remove_fraction", self.remove_fraction)
        check_density("stop_fraction", self.stop_fraction)
        check_density("remove_at", self.remove_at)
        if self.soft_bound < 0:
            raise SparseError(f"soft_bound must be >= 0, got {self.soft_bound!r}")
        if self.mutate_every < 1 or self.block < 1:
            raise SparseError(
                f"mutate_every and block must be >= 1, got {self.mutate_every}, {self.block}"
            )
        if not isinstance(self.allocation, Allocation):
            raise SparseError(
                f"allocation {self.allocation!r} is not one of {[a.value for a in Allocation]}"
            )
        if not isinstance(self.scheme, Scheme):
            raise SparseError(f"scheme {self.scheme!r} is not one of {[s.value for s in Scheme]}")
