"""SparCL and its dense baselines on the traffic-light ViT: the weather domains as tasks.

The tasks are the ViT card's training crops split by weather (day -> night -> fog -> rain);
after each task the held-out crops of every weather are scored as the card scores them
(accuracy within 60 m), which fills the accuracy matrix (:mod:`tools.sparse.metrics`).

One loop for every method (:class:`VitLearner`): the ViT's own augmentation, class weights,
AdamW and one-cycle schedule (:mod:`tools.vit.train`), restarted per task; fine-tuning, ER
(replayed crops and labels), DER++ (replayed logits too) and SparCL = DER++ with task-aware
dynamic masking (the MEST engine over the blocks' Linear layers, its schedule restarted per
task), dynamic data removal (each task's least-forgotten crops, in three steps) and dynamic
gradient masking (the largest gradients of every weight, refreshed every ``grad_refresh``
steps). Training FLOPs as :class:`tools.sparse.vit.VitFlopCounter` counts them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from tools.sparse.config import Allocation, MESTConfig, Strategy, check_domains
from tools.sparse.errors import SparseError
from tools.sparse.forgetting import ForgettingTracker
from tools.sparse.gradmask import GradientMask
from tools.sparse.metrics import summary
from tools.sparse.replay import ReservoirBuffer
from tools.sparse.vit import VitFlopCounter, vit_costs, vit_mest, weight_targets
from tools.vit.crops import Crops
from tools.vit.model import TokenPrunedViT, VitConfig
from tools.vit.pipeline import accuracy
from tools.vit.train import TrainConfig, class_weights, predict
from tools.vit.train import augment_crops as augment
from tools.vit.train import crops_tensor as as_tensor


@dataclass(frozen=True)
class VitCLConfig:
    strategy: Strategy = Strategy.DERPP
    epochs: int = 5  # per task
    mest: MESTConfig | None = None  # SparCL's TDM
    removal: tuple[tuple[float, float], ...] = ()  # (share of the task's epochs, removed)
    grad_keep: float = 1.0  # DGM: fraction of gradients kept (1: off)
    grad_refresh: int = 30
    buffer: int = 200
    replay_batch: int = 32
    alpha: float = 0.3  # DER++ logit replay weight
    beta: float = 0.5  # ER / DER++ label replay weight
    train: TrainConfig = field(default_factory=TrainConfig)
    vit: VitConfig = field(default_factory=VitConfig)


def vit_sparcl(base: VitCLConfig, density: float = 0.1, removal: float = 0.3,
               grad_keep: float = 0.2, allocation: Allocation = Allocation.UNIFORM) -> VitCLConfig:  # fmt: skip
    """SparCL on DER++, as :func:`tools.sparse.runs.sparcl_config` sets it for the detector."""
    return dataclasses.replace(
        base, strategy=Strategy.SPARCL, grad_keep=grad_keep,
        mest=MESTConfig(density=density, allocation=allocation),
        removal=tuple((0.1 * (i + 1), removal * (i + 1) / 3) for i in range(3)),
    )  # fmt: skip


class VitLearner:
    def __init__(self, cfg: VitCLConfig) -> None:
        t = cfg.train
        torch.manual_seed(t.seed)
        torch.set_num_threads(t.threads)
        self.cfg = cfg
        self.model = TokenPrunedViT(cfg.vit)
        self.mest = vit_mest(self.model, cfg.mest, cfg.epochs, t.seed) if cfg.mest else None
        self.gradmask = GradientMask(cfg.grad_keep, cfg.grad_refresh) if cfg.grad_keep < 1 else None
        replay = cfg.strategy in (Strategy.ER, Strategy.DERPP, Strategy.SPARCL)
        self.buffer = ReservoirBuffer(cfg.buffer, t.seed) if replay else None
        self.flops = VitFlopCounter(vit_costs(self.model))
        self.gen = torch.Generator().manual_seed(t.seed)
        self.rng = np.random.default_rng(t.seed)
        self.params = [p for n, p in self.model.named_parameters() if not n.startswith("selectors")]
        self.steps = self.examples = 0
        self.seconds = 0.0

    def replay_loss(self, weights: torch.Tensor) -> tuple[torch.Tensor, int]:
        """ER: label loss on a buffer batch; DER++: logit MSE on one and label loss on another."""
        if self.buffer is None or len(self.buffer) == 0:
            return torch.zeros(()), 0
        n, cfg = self.cfg.replay_batch, self.cfg
        b2 = self.buffer.sample_fields(n)
        ce = cfg.beta * F.cross_entropy(self.model.forward_dense(b2["x"]), b2["y"], weight=weights)
        if cfg.strategy is Strategy.ER:
            return ce, len(b2["y"])
        b1 = self.buffer.sample_fields(n)
        mse = F.mse_loss(self.model.forward_dense(b1["x"]), b1["logits"])
        return cfg.alpha * mse + ce, len(b1["y"]) + len(b2["y"])

    def step(
        self, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, opt, sched
    ) -> np.ndarray:
        logits = self.model.forward_dense(x)
        loss = F.cross_entropy(logits, y, weight=weights)
        extra, n_replay = self.replay_loss(weights)
        opt.zero_grad()
        (loss + extra).backward()
        masks = self.mest.masks if self.mest else None
        if self.mest:
            self.mest.after_backward()
        if self.gradmask:
            self.gradmask.apply(weight_targets(self.model, masks))
        opt.step()
        sched.step()
        if self.mest:
            self.mest.after_step()
        if self.buffer is not None:
            self.buffer.add_fields({"x": x, "y": y, "logits": logits.detach()})
        self.flops.add(len(y) + n_replay, masks, self.cfg.grad_keep)
        self.steps += 1
        self.examples += len(y)
        return (logits.argmax(-1) == y).numpy()

    def run_task(self, data: Crops, tick: Callable[[], None] | None = None) -> ForgettingTracker:
        """Train the task's epochs on ``data``, removing its least-forgotten crops on schedule."""
        cfg, bs = self.cfg, self.cfg.train.batch
        x_all, y_all = as_tensor(data.images), torch.from_numpy(data.labels)
        weights = class_weights(data)
        tracker = ForgettingTracker(len(data))
        removal = {max(1, round(f * cfg.epochs)): r for f, r in cfg.removal}
        if self.mest:
            self.mest.restart(cfg.epochs)
        opt = torch.optim.AdamW(self.params, lr=cfg.train.lr, weight_decay=0.05)
        total = cfg.epochs + sum(  # (+ one step per epoch: removal rounds by a crop or so)
            -(-self._active_after(len(data), e, removal) // bs) for e in range(cfg.epochs)
        )
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.train.lr, total_steps=total,
                                                    pct_start=0.15)  # fmt: skip
        self.model.train()
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            active = self.rng.permutation(np.nonzero(tracker.active)[0])
            for s in range(0, len(active), bs):
                idx = active[s : s + bs]
                x = augment(x_all[idx], self.gen)
                tracker.update(idx, self.step(x, y_all[idx], weights, opt, sched))
                if tick:
                    tick()
            if epoch + 1 in removal:
                done = 1.0 - float(tracker.active.mean())
                tracker.remove(max(0.0, removal[epoch + 1] - done), self.rng)
            if self.mest:
                self.mest.end_epoch(epoch + 1, opt)
            self.seconds += time.perf_counter() - t0
        return tracker

    @staticmethod
    def _active_after(n: int, epoch: int, removal: dict[int, float]) -> int:
        """Crops still in at ``epoch`` (0-based) under the removal schedule (the step count the
        one-cycle schedule is sized for; removal keeps at least one crop)."""
        gone = max([r for e, r in removal.items() if e <= epoch], default=0.0)
        return max(1, n - min(round(gone * n), n - 1))


def run_sequence(cfg: VitCLConfig, train: Crops, held: Crops, domains: Sequence[str],
                 log: Callable[[str], None], tick: Callable[[], None] | None = None
                 ) -> tuple[TokenPrunedViT, dict]:  # fmt: skip
    """Every task in turn: the model, and the accuracy matrix, its metrics (average
    accuracy, forgetting, backward transfer), FLOPs and training seconds."""
    domains = check_domains(tuple(domains))
    tasks = {d: _split(train, d) for d in domains}
    for d in domains:
        n_held = int((held.weather == d).sum())
        if len(tasks[d]) == 0 or n_held == 0:
            raise SparseError(
                f"empty data split for domain {d!r}: {len(tasks[d])} training, "
                f"{n_held} held-out crops"
            )
    learner = VitLearner(cfg)
    matrix = []
    for d in domains:
        learner.run_task(tasks[d], tick)
        acc = accuracy(predict(learner.model, held.images, None), held)["weather"]
        matrix.append([acc[e] for e in domains])
        log(f"{cfg.strategy.value} after {d}: " + ", ".join(f"{e} {a}" for e, a in acc.items()))
    metrics = summary(np.array(matrix))  # crop accuracy here, not AP
    metrics["average_accuracy"] = metrics.pop("average_ap")
    out = {"method": cfg.strategy.value, "domains": list(domains), "matrix": matrix,
           **metrics, "train_gflops": round(learner.flops.total / 1e9, 3),
           "train_s": round(learner.seconds, 1), "steps": learner.steps,
           "examples": learner.examples}  # fmt: skip
    if learner.mest:
        out["density"] = round(learner.mest.masks.density(), 4)
    return learner.model, out


def _split(data: Crops, weather: str) -> Crops:
    return data.subset(data.weather == weather)
