"""Per-domain training and held-out frames from scenario seeds (day, night, fog, rain)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tools.sparse.config import check_domains
from tools.sparse.errors import SparseError
from tools.train.data import Frame, read_frames
from tools.train.errors import TrainError
from tools.train.scenarios import ScenarioSpec, ensure_bags


@dataclass(frozen=True)
class DataSpec:
    """Seeds of each domain: ``train_seeds`` / ``eval_seeds`` offsets added to a per-domain
    base (domain i uses base + 100 i), so domains never share a drive. Drives have their
    signalised crossings (``lights``), as when the bench's figures were measured."""

    domains: tuple[str, ...] = ("day", "night", "fog", "rain")
    train_seeds: int = 6
    eval_seeds: int = 2
    seconds: float = 4.0
    every: int = 2
    width: int = 160
    height: int = 96
    train_base: int = 2000
    eval_base: int = 3000
    lights: bool = True

    def specs(self, domain: str, heldout: bool) -> list[ScenarioSpec]:
        base = (self.eval_base if heldout else self.train_base) + 100 * self.domains.index(domain)
        n = self.eval_seeds if heldout else self.train_seeds
        return [ScenarioSpec(base + i, domain, "dense", self.lights) for i in range(n)]


@dataclass
class DomainData:
    train: dict[str, list[Frame]] = field(default_factory=dict)
    heldout: dict[str, list[Frame]] = field(default_factory=dict)


def load_domains(spec: DataSpec, data_dir: Path) -> DomainData:
    check_domains(spec.domains)
    if spec.train_seeds < 1 or spec.eval_seeds < 1:
        raise SparseError(
            f"empty data split: {spec.train_seeds} training and {spec.eval_seeds} held-out seeds "
            "per domain (both must be >= 1)"
        )
    out = DomainData()
    size = (spec.width, spec.height)
    for domain in spec.domains:
        for heldout, target in ((False, out.train), (True, out.heldout)):
            bags = ensure_bags(spec.specs(domain, heldout), spec.seconds, data_dir)
            target[domain] = frames_of(
                bags, spec.every, size, f"{domain} ({'held-out' if heldout else 'training'})"
            )
    return out


def frames_of(bags: Sequence[Path], every: int, size: tuple[int, int], what: str) -> list[Frame]:
    try:
        frames = read_frames(bags, every, size)
    except TrainError as exc:
        raise SparseError(f"empty data split {what}: {exc}") from exc
    if not frames:
        raise SparseError(f"empty data split {what}: no frames in {[str(b) for b in bags]}")
    return frames
