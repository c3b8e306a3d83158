"""Fine-tuning a compressed detector with knowledge distillation from the dense teacher (torch).

Loss = the detector's own training loss on the ground truth (focal heatmap + GIoU boxes, as
tools.train) + ``distill`` x the teacher's soft targets: the squared difference of the two
heatmaps (after sigmoid) normalised like the focal loss (per ground-truth peak), and an L1 on
the log box distances where the teacher sees an object (heat > 0.3).
Deterministic: the same seed and thread count give the same weights.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tools.compress.recipe import FinetuneSpec
from tools.compress.restride import pool_to
from tools.train import checkpoint as ckpt
from tools.train.data import Frame
from tools.train.detector_model import focal_loss, giou_loss
from tools.train.train import TrainConfig, make_batch

log = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    steps: int
    seconds: float
    history: list[dict[str, float]]


def distill_loss(
    s_logits: torch.Tensor, s_dist: torch.Tensor, t_logits: torch.Tensor, t_dist: torch.Tensor,
    num_pos: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    t_heat = torch.sigmoid(t_logits)
    heat = ((torch.sigmoid(s_logits) - t_heat) ** 2).sum() / num_pos
    mask = (t_heat.amax(dim=1, keepdim=True) > 0.3).float()
    box = (torch.abs(torch.log(s_dist + 1e-3) - torch.log(t_dist + 1e-3)) * mask).sum()
    return heat + box / mask.sum().clamp(min=1.0) / 4.0


class BatchSource:
    """Seeded batches of augmented training frames (the tools.train pipeline)."""

    def __init__(self, frames: Sequence[Frame], cfg: TrainConfig, seed: int) -> None:
        self.frames, self.cfg = frames, cfg
        self.rng = np.random.default_rng(seed)

    def epoch(self, batch_size: int) -> list[tuple[torch.Tensor, ...]]:
        order = self.rng.permutation(len(self.frames))
        n = max(1, len(self.frames) // batch_size)
        return [order[b * batch_size : (b + 1) * batch_size] for b in range(n)]

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
        return make_batch(self.frames, idx, self.cfg, self.rng)


def student_loss(
    student: torch.nn.Module, teacher: torch.nn.Module | None, batch: tuple[torch.Tensor, ...],
    cfg: TrainConfig, distill: float,
) -> torch.Tensor:  # fmt: skip
    x, heat, boxes, weight, neg = batch
    logits, dist = student(x)
    loss = focal_loss(logits, heat, neg) + cfg.box_weight * giou_loss(
        dist, boxes, weight, cfg.stride
    )
    if teacher is not None and distill > 0:
        with torch.no_grad():
            t_logits, t_dist = pool_to(*teacher(x), tuple(logits.shape[-2:]))
        num_pos = heat.eq(1.0).float().sum().clamp(min=1.0)
        loss = loss + distill * distill_loss(logits, dist, t_logits, t_dist, num_pos)
    return loss


def finetune(
    student: torch.nn.Module,
    teacher: torch.nn.Module | None,
    source: BatchSource,
    spec: FinetuneSpec,
    label: str = "fine-tune",
    epochs: int | None = None,
    on_step: Callable[[torch.nn.Module], None] | None = None,
    penalty: Callable[[], torch.Tensor] | None = None,
    on_epoch: Callable[[int], None] | None = None,
    checkpoint: Path | None = None,
) -> FinetuneResult:
    """Fine-tune ``student`` in place (AdamW, cosine decay); returns it in eval mode.

    ``on_step`` runs after each optimiser step (masks held), ``penalty`` is added to each
    step's loss (a regulariser), ``on_epoch`` runs after each epoch (its 0-based index).
    With ``checkpoint``, the state is saved there after every epoch and a run finding one there
    goes on from it, ending with the weights of an uninterrupted run (tools.train.checkpoint)."""
    epochs = spec.epochs if epochs is None else epochs
    torch.set_num_threads(spec.threads)
    if teacher is not None:
        teacher.eval()
    plan = [source.epoch(spec.batch_size) for _ in range(epochs)]
    total = sum(len(p) for p in plan)
    opt = torch.optim.AdamW(student.parameters(), lr=spec.lr, weight_decay=source.cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total))
    shape = {"label": label, "epochs": str(epochs), "steps": str(total), "lr": repr(spec.lr),
             "distill": repr(spec.distill), "batch_size": str(spec.batch_size),
             "frames": str(len(source.frames))}  # fmt: skip
    state = ckpt.TrainState(0, 0, 0.0, [])
    if checkpoint is not None and Path(checkpoint).exists():
        state = ckpt.load(checkpoint, student, opt, sched, source.rng, shape)
        log.info("%s: resuming from %s after epoch %d", label, checkpoint, state.epoch)
    start = time.perf_counter() - state.seconds
    student.train()
    with Progress(*_COLUMNS, transient=True) as bar:
        task = bar.add_task(label, total=total, loss=0.0, completed=state.steps)
        for epoch in range(state.epoch, epochs):
            losses = []
            for idx in plan[epoch]:
                loss = student_loss(student, teacher, source.batch(idx), source.cfg, spec.distill)
                losses.append(_step(student, loss, opt, sched, on_step, penalty))
                bar.update(task, advance=1, loss=float(np.mean(losses)))
                if _spent(spec, start):
                    break
            state.steps += len(losses)
            state.epoch, state.seconds = epoch + 1, time.perf_counter() - start
            state.history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4),
                                  "seconds": round(state.seconds, 1)})  # fmt: skip
            log.info("%s: epoch %d/%d loss %.4f (%.0f s)", label, epoch + 1, epochs,
                     state.history[-1]["loss"], state.seconds)  # fmt: skip
            if on_epoch is not None:
                on_epoch(epoch)
            if checkpoint is not None:
                ckpt.save(checkpoint, student, opt, sched, source.rng, state, shape)
            if _spent(spec, start):
                break
    student.eval()
    return FinetuneResult(state.steps, time.perf_counter() - start, state.history)


def _step(
    student: torch.nn.Module,
    loss: torch.Tensor,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    on_step: Callable[[torch.nn.Module], None] | None,
    penalty: Callable[[], torch.Tensor] | None,
) -> float:
    """One optimiser step on ``loss`` (+ ``penalty``), gradients clipped; returns the loss."""
    if penalty is not None:
        loss = loss + penalty()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(student.parameters(), 10.0)
    opt.step()
    sched.step()
    if on_step is not None:
        on_step(student)
    return loss.item()


def checkpoint_path(out_dir: Path, variant: str, part: str = "finetune") -> Path:
    """Where a variant's fine-tune saves its state in a run's output folder (removed once the
    variant is written: ``drop_checkpoints``)."""
    return Path(out_dir) / CHECKPOINTS / f"{variant}.{part}.pt"


def drop_checkpoints(out_dir: Path, variant: str) -> None:
    folder = Path(out_dir) / CHECKPOINTS
    for path in folder.glob(f"{variant}.*.pt"):
        path.unlink()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


CHECKPOINTS = ".checkpoints"


def _spent(spec: FinetuneSpec, start: float) -> bool:
    return spec.max_seconds is not None and time.perf_counter() - start > spec.max_seconds


_COLUMNS = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn())  # fmt: skip
