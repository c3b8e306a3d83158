"""`l4 vit train`: crops -> dense ViT -> token-pruned variants -> ONNX + cards + report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path

import numpy as np
import torch

from perception.traffic_light.lightmap import CLASS_STATES
from tools.vit.crops import Crops
from tools.vit.dataset import WEATHERS, crop_set
from tools.vit.export import export_onnx, write_card
from tools.vit.model import TokenPrunedViT, VitConfig
from tools.vit.train import TrainConfig, predict, train_dense, train_pruned

NAME = "traffic_light_vit"
NEAR = 60.0  # m: the accuracy target's range


@dataclass(frozen=True)
class VitJob:
    out: Path
    cache: Path
    train_seeds: tuple[int, ...] = (3001, 3002, 3003, 3004)
    eval_seeds: tuple[int, ...] = (1001, 1002, 1003, 1004, 1005)
    seconds: float = 40.0
    rhos: tuple[float, ...] = (0.7, 0.5)
    reuse_dense: bool = False  # the dense ViT saved in the cache by an earlier run
    max_crops: int = 4000  # a random subset of the training crops (near frames repeat)
    train: TrainConfig = field(default_factory=TrainConfig)
    vit: VitConfig = field(default_factory=VitConfig)  # its stages: where selectors prune
    recipe: str = ""  # the `l4 vit train --recipe` that set the job (cards name it)


def accuracy(pred: np.ndarray, data: Crops) -> dict:
    """Accuracy overall, per weather, per true state, on crops within NEAR metres."""
    near = data.distance <= NEAR
    ok = pred == data.labels
    out = {"all": _share(ok[near]), "n": int(near.sum())}
    out["weather"] = {w: _share(ok[near & (data.weather == w)]) for w in WEATHERS}
    out["state"] = {
        s.name: _share(ok[near & (data.labels == i)]) for i, s in enumerate(CLASS_STATES)
    }
    return out


def plain(settings: dict) -> dict:
    """``settings`` with enum members as their values (the card is safe YAML)."""
    return {k: v.value if isinstance(v, Enum) else v for k, v in settings.items()}


def _share(ok: np.ndarray) -> float | None:
    return round(float(ok.mean()), 4) if len(ok) else None


def variant_name(rho: float | None) -> str:
    return NAME if rho is None else f"{NAME}_r{round(rho * 100):02d}"


def _dense(job: VitJob, train: Crops, log: Callable[[str], None]) -> TokenPrunedViT:
    """The dense ViT in a model of the job's stage choice. It is always trained with the
    default stages (the dense path has no selectors, but their count shifts the random
    initialisation of the head), so every recipe distils from the same dense ViT; the
    selectors start as a fresh model of the job's stages (seeded) has them."""
    path = job.cache / "dense.pt"
    if job.reuse_dense and path.exists():
        log(f"dense ViT reused from {path}")
    else:
        trained = train_dense(train, replace(job.vit, stages=VitConfig().stages), job.train, log)
        job.cache.mkdir(parents=True, exist_ok=True)
        torch.save(trained.state_dict(), path)
    torch.manual_seed(job.train.seed)
    dense = TokenPrunedViT(job.vit)
    state = {k: v for k, v in torch.load(path).items() if not k.startswith("selectors")}
    dense.load_state_dict(state, strict=False)
    return dense.eval()


def load_crops(job: VitJob, log: Callable[[str], None]) -> tuple[Crops, Crops]:
    """The job's training crops (a seeded subset of at most ``max_crops``) and held-out
    crops, rendered or read from the cache."""
    train = crop_set(job.cache, job.train_seeds, WEATHERS, job.seconds, 2, log)
    if len(train) > job.max_crops:
        pick = np.sort(np.random.default_rng(0).choice(len(train), job.max_crops, replace=False))
        train = train.subset(pick)
    held = crop_set(job.cache, job.eval_seeds, WEATHERS, job.seconds, 1, log)
    log(f"{len(train)} training crops, {len(held)} held-out crops")
    return train, held


def run(job: VitJob, log: Callable[[str], None]) -> dict:
    started = time.perf_counter()
    train, held = load_crops(job, log)
    dense = _dense(job, train, log)
    models = {None: dense}
    for rho in job.rhos:
        models[rho] = train_pruned(dense, train, rho, job.train, log)
    job.out.mkdir(parents=True, exist_ok=True)
    report = {"train_crops": len(train), "held_out_crops": len(held), "variants": {}}
    dense_acc = None
    for rho, model in models.items():
        acc = accuracy(predict(model, held.images, rho), held)
        dense_acc = acc["all"] if rho is None else dense_acc
        name = variant_name(rho)
        onnx_path = export_onnx(model, rho, job.out / f"{name}.onnx")
        provenance = {
            "training": {
                **({"recipe": job.recipe} if job.recipe else {}),
                "scenario_seeds": list(job.train_seeds),
                "weathers": list(WEATHERS),
                "seconds": job.seconds,
                "crops": len(train),
                **plain(asdict(job.train)),
            },
            "accuracy_held_out": {"seeds": list(job.eval_seeds), "within_m": NEAR, **acc},
        }
        write_card(job.out / f"{name}.yaml", onnx_path, model, rho, provenance)
        report["variants"][name] = {"keep_ratio": rho, "accuracy": acc}
        log(f"{name}: held-out accuracy <= {NEAR:g} m {acc['all']} ({acc['weather']})")
    report["wall_s"] = round(time.perf_counter() - started, 1)
    (job.out / f"{NAME}.train.json").write_text(json.dumps(report, indent=2))
    return report
