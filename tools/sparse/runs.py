"""The two runs: ``l4 sparse train`` (MEST on some domains) and ``l4 sparse continual``
(a domain sequence, one method), with per-epoch checkpoints and ``resume``.

A checkpoint (``checkpoint.pt`` in the output folder, written atomically after every epoch)
holds the model, optimiser, masks, buffer, forgetting counts, random states, counters and the
accuracy rows so far; a resumed run continues at the epoch after it.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tools.sparse.config import Allocation, MESTConfig, Scheme, Strategy, check_domains
from tools.sparse.data import DomainData
from tools.sparse.errors import SparseError
from tools.sparse.evaluate import evaluate_ap
from tools.sparse.forgetting import ForgettingTracker
from tools.sparse.metrics import summary
from tools.sparse.trainer import Learner, LearnerConfig
from tools.train.checkpoint import save_atomically

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class RunConfig:
    learner: LearnerConfig
    domains: tuple[str, ...]
    epochs: int  # per task (continual) or in all (train)
    out: Path | None = None  # checkpoints go here; None: none
    resume: bool = False
    init: Path | None = None  # a trained model's state dict to start from (None: from scratch)


def _save(out: Path | None, learner: Learner, where: dict[str, Any], tracker, rows) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    state = {
        "run": _identity(learner), "where": where, "rows": rows, "model": learner.model.state_dict(),
        "opt": learner.opt.state_dict(), "sched": learner.sched.state_dict(),
        "mest": learner.mest.state() if learner.mest else None,
        "buffer": learner.buffer.state() if learner.buffer is not None else None,
        "gradmask": learner.gradmask.state() if learner.gradmask else None,
        "inner": learner.inner.state() if learner.inner else None,
        "tracker": tracker.state() if tracker else None,
        "rng": learner.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
        "counters": {"flops": learner.flops.total, "seconds": learner.seconds,
                     "steps": learner.steps, "examples": learner.examples},
    }  # fmt: skip
    save_atomically(state, out / CHECKPOINT)


def _load(out: Path | None, learner: Learner) -> dict[str, Any] | None:
    path = None if out is None else out / CHECKPOINT
    if path is None or not path.exists():
        raise SparseError(f"--resume: no checkpoint at {path}")
    try:
        state = torch.load(path, weights_only=False)
        learner.model.load_state_dict(state["model"])
        learner.opt.load_state_dict(state["opt"])
        learner.sched.load_state_dict(state["sched"])
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise SparseError(f"{path}: not a usable checkpoint of this run: {exc}") from exc
    if state.get("run") != _identity(learner):
        raise SparseError(
            f"{path}: checkpoint of another run ({state.get('run')}); this run is "
            f"{_identity(learner)}: use the same options or a new --out"
        )
    if learner.mest and state["mest"]:
        learner.mest.load_state(state["mest"])
    if learner.gradmask and state["gradmask"]:
        learner.gradmask.load_state(state["gradmask"])
    if learner.buffer is not None and state["buffer"]:
        learner.buffer.load_state(state["buffer"])
    learner.rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    if learner.inner and state.get("inner"):
        learner.inner.load_state(state["inner"])
    learner.rebuild_slim()
    c = state["counters"]
    learner.flops.total, learner.seconds = c["flops"], c["seconds"]
    learner.steps, learner.examples = c["steps"], c["examples"]
    return state


def _identity(learner: Learner) -> str:
    """What must match for a checkpoint to resume this run (options, epochs, start)."""
    return f"{learner.cfg!r} epochs={learner.total_epochs} init={learner.init_name}"


def _tracker(state: dict | None, n: int) -> ForgettingTracker | None:
    if not state or state["tracker"] is None:
        return None
    t = ForgettingTracker(n)
    t.load_state(state["tracker"])
    return t


def _counters(learner: Learner) -> dict[str, Any]:
    return {"train_gflops": round(learner.flops.total / 1e9, 3), "wall_seconds": round(learner.seconds, 2),
            "steps": learner.steps, "examples": learner.examples,
            "density": round(learner.mest.masks.density(), 4) if learner.mest else 1.0,
            "inner_density": round(learner.inner.engine.masks.density(), 4) if learner.inner else 1.0}  # fmt: skip


def _start(cfg: RunConfig, total_epochs: int, progress: Callable | None):
    check_domains(cfg.domains)
    if cfg.epochs < 1:
        raise SparseError(f"epochs must be >= 1, got {cfg.epochs}")
    try:
        learner = Learner(cfg.learner, total_epochs, progress, _init_weights(cfg.init))
    except SparseError as exc:
        raise SparseError(f"--init {cfg.init}: {exc}" if cfg.init else str(exc)) from exc
    learner.init_name = str(cfg.init) if cfg.init else None
    state = _load(cfg.out, learner) if cfg.resume else None
    return learner, state


def _init_weights(path: Path | None) -> dict[str, torch.Tensor] | None:
    """The state dict a run starts from: a ``model.pt`` of ``l4 sparse train`` / ``continual``
    (or a ``checkpoint.pt``, whose model is used)."""
    if path is None:
        return None
    try:
        state = torch.load(path, weights_only=False, map_location="cpu")
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise SparseError(f"not a readable model: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SparseError("not a model state dict")
    return state


def train_mest(
    cfg: RunConfig, data: DomainData, progress: Callable | None = None
) -> dict[str, Any]:
    """MEST (or dense, without ``learner.mest``) on the pooled frames of ``cfg.domains``."""
    learner, state = _start(cfg, cfg.epochs, progress)
    frames = [f for d in cfg.domains for f in data.train[d]]
    start = state["where"]["epoch"] if state else 0
    learner.run_task(frames, cfg.epochs, start, _tracker(state, len(frames)),
                     lambda e, t: _save(cfg.out, learner, {"epoch": e}, t, []))  # fmt: skip
    if learner.mest:
        learner.mest.finish()
    heldout = {d: evaluate_ap(learner.model, data.heldout[d]) for d in data.heldout}
    return {"heldout": heldout, **_counters(learner), "learner": learner}


def continual_tasks(
    cfg: RunConfig, data: DomainData, progress: Callable | None = None
) -> Iterator[dict[str, Any]]:
    """Train the domains in order; after each task, AP@0.5 (vehicle) on every domain. Yields
    the result so far after each task (a benchmark interleaves methods task by task)."""
    learner, state = _start(cfg, cfg.epochs, progress)
    rows: list[list[float]] = state["rows"] if state else []
    where = state["where"] if state else {"task": 0, "epoch": 0}
    if where["task"] >= len(cfg.domains):  # resumed after the last task: the stored result
        yield _task_result(cfg, rows, learner)
    for ti in range(where["task"], len(cfg.domains)):
        frames = data.train[cfg.domains[ti]]
        first = ti == where["task"]
        start = where["epoch"] if first else 0
        if learner.mest and ti > 0 and start == 0:
            learner.mest.restart(cfg.epochs)  # TDM: the mask schedule starts again per task
            if learner.inner:
                learner.inner.restart(cfg.epochs)
        tracker = _tracker(state, len(frames)) if first else None

        def save(epoch: int, t: ForgettingTracker, ti: int = ti) -> None:
            _save(cfg.out, learner, {"task": ti, "epoch": epoch}, t, rows)

        learner.run_task(frames, cfg.epochs, start, tracker, save)
        rows.append([round(evaluate_ap(learner.model, data.heldout[d])["vehicle"], 4)
                     for d in cfg.domains])  # fmt: skip
        _save(cfg.out, learner, {"task": ti + 1, "epoch": 0}, None, rows)
        yield _task_result(cfg, rows, learner)


def _task_result(cfg: RunConfig, rows: list[list[float]], learner: Learner) -> dict[str, Any]:
    return {"domains": list(cfg.domains), "matrix": rows, **_counters(learner), "learner": learner}


def run_continual(
    cfg: RunConfig, data: DomainData, progress: Callable | None = None
) -> dict[str, Any]:
    """The whole sequence: the accuracy matrix and its metrics (average AP, forgetting,
    backward transfer), FLOPs and wall clock."""
    result: dict[str, Any] = {}
    for partial in continual_tasks(cfg, data, progress):
        result = partial
    return {**result, **summary(np.array(result["matrix"]))}


def sparcl_config(base: LearnerConfig, density: float, scheme: Scheme = Scheme.UNSTRUCTURED,
                  removal: float = 0.3, grad_keep: float = 0.2, inner: float | None = None,
                  allocation: Allocation = Allocation.UNIFORM) -> LearnerConfig:  # fmt: skip
    """SparCL on DER++: MEST masks (restarted per task), DDR removing ``removal`` of each
    task's data in three equal steps (after 10, 20 and 30 % of the task's epochs) and DGM.
    Channel masks train a physically slimmed copy between mask changes; ``inner`` (channel
    scheme only): unstructured MEST at that density inside the kept channels (hybrid).
    ``allocation`` spreads the unstructured masks (the inner ones, or the scheme's own when it
    is unstructured); channel masks are spread uniformly."""
    if inner is not None and scheme is not Scheme.CHANNEL:
        raise SparseError(f"inner density {inner!r} needs the channel scheme, got {scheme.value!r}")
    inner_cfg = None if inner is None else MESTConfig(density=inner, allocation=allocation)
    outer = allocation if scheme is Scheme.UNSTRUCTURED else Allocation.UNIFORM
    return dataclasses.replace(
        base, strategy=Strategy.SPARCL,
        mest=MESTConfig(density=density, scheme=scheme, allocation=outer),
        removal=tuple((0.1 * (i + 1), removal * (i + 1) / 3) for i in range(3)),
        grad_keep=grad_keep, slim=scheme is Scheme.CHANNEL, inner=inner_cfg,
    )  # fmt: skip
