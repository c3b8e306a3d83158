"""`l4 sparse train --model vit`: the traffic-light ViT trained dense or with MEST, by the ViT's
own data pipeline and training loop (:mod:`tools.vit`), scored as its card is (held-out crop
accuracy within 60 m).

Writes ``summary.json`` (accuracy, training FLOPs, densities, mutations) and ``model.pt``
(state dict; masked weights are exact zeros) into the output folder.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from tools.sparse.config import Allocation, MESTConfig, Scheme, Strategy
from tools.sparse.errors import SparseError
from tools.sparse.vit import VitSparseHooks, vit_mest
from tools.sparse.vitcl import VitCLConfig, run_sequence, vit_sparcl
from tools.vit.crops import Crops
from tools.vit.model import TokenPrunedViT, VitConfig
from tools.vit.pipeline import VitJob, accuracy, load_crops
from tools.vit.train import TrainConfig, predict, train_dense


@dataclass(frozen=True)
class VitSparseJob:
    """One run: ``mest`` None trains the dense ViT (the baseline, counted the same way)."""

    out: Path
    cache: Path
    mest: MESTConfig | None = None
    max_crops: int = 4000
    train: TrainConfig = field(default_factory=TrainConfig)
    vit: VitConfig = field(default_factory=VitConfig)


def train_vit(
    job: VitSparseJob,
    train: Crops,
    held: Crops,
    log: Callable[[str], None],
    tick: Callable[[], None] | None = None,
) -> tuple[TokenPrunedViT, dict]:
    """Train on ``train``, score on ``held``; returns the model and the summary."""
    if len(train) == 0 or len(held) == 0:
        raise SparseError(f"empty crop split: {len(train)} training, {len(held)} held-out crops")
    started = time.perf_counter()
    built: list[VitSparseHooks] = []

    def sparsify(model: TokenPrunedViT) -> VitSparseHooks:
        mest = None
        if job.mest is not None:
            mest = vit_mest(model, job.mest, job.train.epochs, job.train.seed)
        built.append(VitSparseHooks(model, mest, log, tick))
        return built[0]

    model = train_dense(train, job.vit, job.train, log, sparsify)
    hooks = built[0]
    hooks.finish()
    acc = accuracy(predict(model, held.images, None), held)
    summary = {
        "model": "vit",
        "method": "dense" if hooks.mest is None else "mest",
        "train_crops": len(train),
        "held_out_crops": len(held),
        "epochs": job.train.epochs,
        "steps": hooks.steps,
        "seed": job.train.seed,
        "train_gflops": round(hooks.flops.total / 1e9, 3),
        "accuracy_held_out": acc,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    if hooks.mest is not None:
        m = hooks.mest
        summary["mest"] = {
            "density_budget": m.cfg.density,
            "allocation": m.cfg.allocation.value,
            "density": round(m.masks.density(), 4),
            "layer_density": {k: round(v, 4) for k, v in m.masks.unit_density().items()},
            "mutations": [vars(h) for h in m.history],
        }
    return model, summary


def run(job: VitSparseJob, log: Callable[[str], None], tick=None) -> dict:
    """Crops by the ViT's pipeline (cache ``job.cache``), train, write the output folder."""
    train, held = load_crops(VitJob(out=job.out, cache=job.cache, max_crops=job.max_crops), log)
    return _write(job.out, *train_vit(job, train, held, log, tick))


def _write(out: Path, model: TokenPrunedViT, summary: dict) -> dict:
    """``model.pt`` and ``summary.json`` into ``out``; the summary back."""
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _refuse(args: argparse.Namespace) -> None:
    """Options the ViT runs do not take, refused naming the value."""
    if args.resume:
        raise SparseError("--resume is not supported with --model vit (runs take minutes)")
    if getattr(args, "remove", 0.0):
        raise SparseError(f"--remove {args.remove} is not supported with --model vit")
    if getattr(args, "inner", None) is not None:
        raise SparseError(f"--inner {args.inner} is not supported with --model vit")
    if getattr(args, "init", None) is not None:
        raise SparseError(f"--init {args.init} is not supported with --model vit")
    if getattr(args, "widths", None) is not None:
        raise SparseError(f"--widths {args.widths} are the detector's: not with --model vit")
    if args.scheme != Scheme.UNSTRUCTURED.value:
        raise SparseError(
            f"--scheme {args.scheme}: the ViT takes unstructured masks only (Linear layers)"
        )


def job_from_args(args: argparse.Namespace, mest: MESTConfig | None) -> VitSparseJob:
    """The `l4 sparse train` options (``mest``: as the CLI reads and checks them for either
    model) as a ViT job; the detector-only ones are refused."""
    _refuse(args)
    train = replace(TrainConfig(), epochs=args.epochs, threads=args.threads, seed=args.seed)
    return VitSparseJob(
        out=args.out,
        cache=args.data or args.out / "crops",
        mest=mest,
        max_crops=args.max_crops,
        train=train,
    )


def continual_from_args(args: argparse.Namespace) -> VitCLConfig:
    """The `l4 sparse continual` options as a ViT sequence; detector-only ones are refused."""
    _refuse(args)
    train = replace(TrainConfig(), threads=args.threads, seed=args.seed)
    base = VitCLConfig(strategy=Strategy(args.method), epochs=args.epochs, buffer=args.buffer,
                       train=train)  # fmt: skip
    if base.strategy is not Strategy.SPARCL:
        return base
    allocation = Allocation(args.allocation or Allocation.UNIFORM.value)
    cfg = vit_sparcl(base, args.density or 0.1, args.removal, args.grad_keep, allocation)
    cfg.mest.validate()
    return cfg


def run_continual(cfg: VitCLConfig, args: argparse.Namespace, log, tick=None) -> dict:
    """Crops by the ViT's pipeline (``--data``: crop cache), the sequence, the output folder."""
    cache = args.data or args.out / "crops"
    train, held = load_crops(VitJob(out=args.out, cache=cache, max_crops=args.max_crops), log)
    return _write(args.out, *run_sequence(cfg, train, held, args.domains, log, tick))
