"""One training loop for every method: dense or MEST-sparse, with or without replay, DDR, DGM.

:class:`Learner` owns the model, its optimiser, the optional MEST engine, gradient mask and
rehearsal buffer, and the FLOP and wall-clock counters; :meth:`Learner.run_task` trains it on
one task's frames for some epochs, removing data by forgetting counts on a schedule.

With ``slim`` (channel scheme only) the steps run on a physically slimmed copy of the model,
rebuilt at each mask change (:class:`tools.sparse.slimtrain.SlimView`); the full model is
brought up to date at the end of every epoch, before a mutation, checkpoint or evaluation.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from tools.sparse.config import MESTConfig, Scheme, Strategy
from tools.sparse.errors import SparseError
from tools.sparse.flops import FlopCounter, conv_costs
from tools.sparse.forgetting import ForgettingTracker
from tools.sparse.gradmask import GradientMask, conv_targets
from tools.sparse.hybrid import InnerSparsity
from tools.sparse.mest import MEST
from tools.sparse.replay import Batch, ReservoirBuffer
from tools.sparse.slim import coupled_groups
from tools.sparse.slimtrain import SlimView
from tools.train.data import CLASSES, Frame
from tools.train.detector_model import TinyCenterNet, focal_loss, giou_loss
from tools.train.train import TrainConfig, make_batch

CORRECT_SCORE = 0.3  # the card's operating point: a centre at or above it is "found"


@dataclass(frozen=True)
class LearnerConfig:
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        input_width=160, input_height=96, batch_size=16, lr=3e-3, widths=(8, 16, 24, 32, 48),
        threads=1))  # fmt: skip
    strategy: Strategy = Strategy.FINETUNE
    mest: MESTConfig | None = None  # None: dense
    buffer: int = 120
    replay_batch: int = 8
    alpha: float = 0.3  # DER++ logit replay weight
    beta: float = 0.5  # DER++ / ER label replay weight
    grad_keep: float = 1.0  # DGM: fraction of gradients kept (1: off)
    grad_refresh: int = 30
    removal: tuple[tuple[float, float], ...] = ()  # (fraction of epochs done, total removed)
    slim: bool = False  # channel scheme: train a physically slimmed copy between mask changes
    inner: MESTConfig | None = None  # slim: unstructured MEST inside the kept channels

    def validate(self) -> None:
        self.train.validate()
        if self.slim and (self.mest is None or self.mest.scheme is not Scheme.CHANNEL):
            raise SparseError("slim training needs MEST channel masks (scheme 'channel')")
        if self.inner is not None and not self.slim:
            raise SparseError("inner (hybrid) sparsity needs slim channel training (slim=True)")


def example_correct(logits: torch.Tensor, heat: torch.Tensor, neg: torch.Tensor) -> np.ndarray:
    """Per example: every object's centre scores >= CORRECT_SCORE and no background cell does."""
    p = torch.sigmoid(logits.detach())
    peaks = heat.eq(1.0)
    missed = (peaks & (p < CORRECT_SCORE)).flatten(1).any(1)
    background = (heat < 0.1) & (neg > 0)
    false = (background & (p >= CORRECT_SCORE)).flatten(1).any(1)
    return (~missed & ~false).numpy()


class Learner:
    def __init__(self, cfg: LearnerConfig, total_epochs: int, progress: Callable | None = None,
                 init: Mapping[str, torch.Tensor] | None = None) -> None:  # fmt: skip
        """``init``: a trained model's state dict to start from (dense, e.g. the shipped
        day model); MEST masks then keep its largest weights instead of random ones."""
        t = cfg.train
        cfg.validate()
        torch.manual_seed(t.seed)
        torch.set_num_threads(t.threads)
        self.cfg = cfg
        self.total_epochs = total_epochs
        self.rng = np.random.default_rng(t.seed)
        self.model = TinyCenterNet(len(CLASSES), t.widths, t.stride).to(
            memory_format=torch.channels_last
        )
        if init is not None:
            try:
                self.model.load_state_dict(init)
            except RuntimeError as exc:
                raise SparseError(f"the start weights do not fit this model: {exc}") from exc
        self.init_name: str | None = None  # where the start weights came from (runs set it)
        self.example = torch.zeros(1, 3, t.input_height, t.input_width)
        self.mest = None
        if cfg.mest:
            groups: list[tuple[str, ...]] = []
            if cfg.mest.scheme is Scheme.CHANNEL:  # coupled convolutions share one mask
                groups = coupled_groups(self.model, self.example)
            self.mest = MEST(self.model, cfg.mest, total_epochs, t.seed, groups=groups,
                             init_masks=init is None)  # fmt: skip
            if init is not None:
                self.mest.init_from_weights()
        self.gradmask = (
            GradientMask(cfg.grad_keep, cfg.grad_refresh)
            if self.mest and cfg.grad_keep < 1 else None
        )  # fmt: skip
        replay = cfg.strategy in (Strategy.ER, Strategy.DERPP, Strategy.SPARCL)
        self.buffer = ReservoirBuffer(cfg.buffer, t.seed) if replay else None
        self.full_costs = conv_costs(self.model, t.input_width, t.input_height)
        self.flops = FlopCounter(self.full_costs)
        self.slim: SlimView | None = None
        self.inner = (
            InnerSparsity(cfg.inner, self.model, total_epochs, t.seed, init is not None)
            if cfg.inner
            else None
        )
        self.seconds = 0.0
        self.steps = 0
        self.examples = 0
        self.progress = progress
        self.new_optimizer(total_epochs, 1)

    def new_optimizer(self, epochs: int, steps_per_epoch: int) -> None:
        t = self.cfg.train
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.opt, T_max=max(1, epochs * steps_per_epoch), eta_min=t.lr * 0.05
        )
        self.rebuild_slim()

    @property
    def net(self) -> torch.nn.Module:
        """The model the steps run on: the slim copy while there is one."""
        return self.slim.net if self.slim else self.model

    def rebuild_slim(self) -> None:
        """(Slim training) a new slim copy of the full model and optimiser state."""
        if not self.cfg.slim or self.mest is None:
            return
        self.slim = SlimView(self.model, self.mest.masks, self.opt, self.example)
        if self.inner:
            self.inner.attach(self.slim)
        self.flops.costs = conv_costs(self.slim.net, *self.example.shape[:1:-1])

    def sync(self) -> None:
        """(Slim training) bring the full model and optimiser up to date."""
        if self.slim:
            self.slim.push()
            if self.inner:
                self.inner.store(self.slim)

    @property
    def step_masks(self):
        """The masks of the network the steps run on (None: all its weights active)."""
        if self.inner:
            return self.inner.engine.masks
        return self.mest.masks if self.mest and not self.slim else None

    def task_loss(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, dist = self.net(b.x)
        t = self.cfg.train
        loss = focal_loss(logits, b.heat, b.neg) + t.box_weight * giou_loss(
            dist, b.boxes, b.weight, t.stride
        )
        return loss, logits, dist

    def replay_loss(self) -> tuple[torch.Tensor, int]:
        """ER: label loss on a buffer batch; DER++: logit MSE on one and label loss on
        another. Returns the loss and the number of examples run."""
        zero = torch.zeros(())
        if self.buffer is None or len(self.buffer) == 0:
            return zero, 0
        n = self.cfg.replay_batch
        if self.cfg.strategy is Strategy.ER:
            b = self.buffer.sample(n)
            return self.cfg.beta * self.task_loss(b)[0], len(b)
        b1, b2 = self.buffer.sample(n), self.buffer.sample(n)
        logits, dist = self.net(b1.x)
        der = F.mse_loss(logits, b1.logits) + F.mse_loss(
            torch.log(dist.clamp(min=1e-6)), b1.log_dist
        )
        return self.cfg.alpha * der + self.cfg.beta * self.task_loss(b2)[0], len(b1) + len(b2)

    def step(self, frames: Sequence[Frame], idx: np.ndarray, last: bool = False) -> np.ndarray:
        """One step on ``frames[idx]``; ``last``: the epoch's last (its gradient is the one
        a slim run hands to the mutation score)."""
        x, heat, boxes, weight, neg = make_batch(frames, idx, self.cfg.train, self.rng)
        b = Batch(x, heat, boxes, weight, neg)
        loss, logits, dist = self.task_loss(b)
        correct = example_correct(logits, heat, neg)
        extra, n_replay = self.replay_loss()
        opt = self.slim.opt if self.slim else self.opt
        opt.zero_grad(set_to_none=True)
        (loss + extra).backward()
        if self.slim and last:
            self.mest.record_grads(self.slim.full_grads())
        elif self.mest and not self.slim:
            self.mest.after_backward()
        if self.inner:
            self.inner.after_backward(last)
        if self.gradmask:
            self.gradmask.apply(conv_targets(self.net, self.step_masks))
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 10.0)
        self._optimise()
        if self.buffer is not None:
            self.buffer.add(b, logits, dist)
        self.flops.add(
            len(idx) + n_replay, self.step_masks, self.cfg.grad_keep if self.gradmask else 1.0
        )
        self.steps += 1
        self.examples += len(idx)
        return correct

    def _optimise(self) -> None:
        if not self.slim:
            self.opt.step()
            self.sched.step()
            if self.mest:
                self.mest.after_step()
            return
        self.slim.sync_lr()
        self.slim.opt.step()
        if self.inner:
            self.inner.engine.after_step()
        with warnings.catch_warnings():  # the full optimiser only holds the schedule here
            warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
            self.sched.step()

    def end_epoch(self, epoch: int) -> None:
        """Bring the full model up to date; mutate on schedule (a new slim copy if so).
        Hybrid: the inner masks mutate first, in the slim copy."""
        if self.inner:
            self.inner.engine.end_epoch(epoch, self.slim.opt)
        self.sync()
        if self.mest and self.mest.end_epoch(epoch, self.opt):
            if self.gradmask and self.slim:
                self.gradmask.reset()
            self.rebuild_slim()

    def run_task(self, frames: Sequence[Frame], epochs: int, start_epoch: int = 0,
                 tracker: ForgettingTracker | None = None,
                 on_epoch: Callable[[int, ForgettingTracker], None] | None = None) -> ForgettingTracker:  # fmt: skip
        """Train ``epochs`` epochs on ``frames`` (from ``start_epoch`` when resuming)."""
        tracker = tracker or ForgettingTracker(len(frames))
        bs = self.cfg.train.batch_size
        schedule = self.cfg.removal
        if not schedule and self.mest and self.mest.cfg.remove_fraction > 0:  # MEST: once
            schedule = ((self.mest.cfg.remove_at, self.mest.cfg.remove_fraction),)
        removal = {max(1, round(f * epochs)): r for f, r in schedule}
        if start_epoch == 0:
            self.new_optimizer(epochs, max(1, len(frames) // bs))
        self.model.train()
        for epoch in range(start_epoch, epochs):
            t0 = time.perf_counter()
            active = self.rng.permutation(np.nonzero(tracker.active)[0])
            steps = max(1, len(active) // bs)
            for s in range(steps):
                idx = active[s * bs : (s + 1) * bs]
                tracker.update(idx, self.step(frames, idx, s == steps - 1))
                if self.progress:
                    self.progress()
            if epoch + 1 in removal:
                done = 1.0 - float(tracker.active.mean())
                tracker.remove(max(0.0, removal[epoch + 1] - done), self.rng)
            self.end_epoch(epoch + 1)
            self.seconds += time.perf_counter() - t0
            if on_epoch:
                on_epoch(epoch + 1, tracker)
        return tracker
