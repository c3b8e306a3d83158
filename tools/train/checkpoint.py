"""Resumable training: the whole training state written after every epoch, atomically.

A checkpoint holds the model, the optimiser, the learning-rate schedule, both random
generators (numpy's, which draws the epoch order and the augmentation, and torch's), the epochs
done, the history and the seconds spent. A run resumed from it continues as if it had not been
stopped (same thread count: same weights). It also records the training options that shape the
run; resuming with different ones is refused, naming the option, so a checkpoint never mixes two
runs. Written to ``PATH.tmp`` and renamed, so an interrupted write leaves the last good one.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tools.train.errors import TrainError

# Options that change what a step computes; threads, max_seconds do not enter the fingerprint.
_SHAPING = ("input_width", "input_height", "epochs", "batch_size", "lr", "weight_decay",
            "box_weight", "seed", "widths", "stride", "rules", "augment")  # fmt: skip


def fingerprint(cfg: Any, frames: int) -> dict[str, str]:
    """The options of ``cfg`` (a TrainConfig) that a resumed run must share, as strings."""
    fields = {f.name for f in dataclasses.fields(cfg)}
    out = {name: repr(getattr(cfg, name)) for name in _SHAPING if name in fields}
    out["frames"] = str(frames)
    return out


@dataclass
class TrainState:
    epoch: int  # epochs done
    steps: int
    seconds: float
    history: list[dict[str, float]]


def save_atomically(blob: Any, path: Path) -> None:
    """``torch.save`` to ``PATH.tmp``, then renamed over ``path``: an interrupted write leaves
    the last good file (OSError on a failed write)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)


def save(
    path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any,
    rng: np.random.Generator, state: TrainState, shape: dict[str, str],
) -> None:  # fmt: skip
    blob = {
        "model": model.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "state": dataclasses.asdict(state),
        "fingerprint": shape,
    }
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_atomically(blob, path)
    except OSError as exc:
        raise TrainError(f"{path}: cannot write the checkpoint: {exc.strerror}") from None


def load(
    path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any,
    rng: np.random.Generator, shape: dict[str, str],
) -> TrainState:  # fmt: skip
    """Restore everything from ``path`` into the given objects; returns the state to go on from."""
    try:
        blob = torch.load(Path(path), weights_only=False)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise TrainError(f"{path}: cannot read the checkpoint: {exc}") from None
    if not isinstance(blob, dict) or "fingerprint" not in blob:
        raise TrainError(f"{path}: not a training checkpoint of l4 train")
    for key, value in shape.items():
        if blob["fingerprint"].get(key) != value:
            raise TrainError(
                f"{path}: checkpoint was made with {key}={blob['fingerprint'].get(key)}, this run "
                f"has {key}={value}; use another --checkpoint or the same options"
            )
    model.load_state_dict(blob["model"])
    opt.load_state_dict(blob["opt"])
    sched.load_state_dict(blob["sched"])
    rng.bit_generator.state = blob["numpy_rng"]
    torch.set_rng_state(blob["torch_rng"])
    return TrainState(**blob["state"])
