"""ONNX export of the dense and token-pruned ViTs, and their model cards."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import yaml

from stack.engine.flops import count_flops
from stack.engine.model import read_model
from tools.train.export import finish_onnx
from tools.vit.crops import SIDE
from tools.vit.model import StaticExport, TokenPrunedViT, keep_counts

OPSET = 17
INPUT, OUTPUT = "crops", "probs"


def export_onnx(model: TokenPrunedViT, rho: float | None, path: Path) -> Path:
    """``crops`` uint8 [B,32,32,3] BGR -> ``probs`` float32 [B,4]; batch dynamic, every other
    shape static (the pruned stages are TopK + Gather with constant k)."""
    counts = None if rho is None else keep_counts(model.cfg, rho)
    module = StaticExport(model.eval(), counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(1, SIDE, SIDE, 3, dtype=torch.uint8),),
            str(path),
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
    return finish_onnx(path, "l4stack tools.vit")


def flops(path: Path) -> int:
    count = count_flops(read_model(path), batch=1)
    return int(count.flops) if count is not None else -1


def _method(provenance: dict) -> str:
    selection = provenance.get("training", {}).get("selection", "gumbel")
    training = (
        "trained on the exact TopK subsets (Gumbel top-k, straight-through) with KL "
        "distillation from the dense ViT"
        if selection == "topk"
        else "keep-ratio loss + KL distillation from the dense ViT"
    )
    return (
        "SPViT-style token pruning (arXiv 2112.13890): multi-head token selectors, package "
        f"token, {training}"
    )


def write_card(
    path: Path,
    onnx_path: Path,
    model: TokenPrunedViT,
    rho: float | None,
    provenance: dict,
) -> Path:
    """The card (perception/traffic_light/card.py reads it)."""
    cfg = model.cfg
    card = {
        "name": onnx_path.stem,
        "model": onnx_path.name,
        "input": {
            "name": INPUT,
            "size": SIDE,
            "layout": "NHWC",
            "dtype": "uint8",
            "channel_order": "bgr",
            "normalisation": "fused",
        },
        "output": OUTPUT,
        "classes": ["RED", "AMBER", "GREEN", "UNKNOWN"],
        "architecture": {**cfg.as_dict(), "stages": list(cfg.stages)},
        "compression": (
            {"method": "none (dense teacher)"}
            if rho is None
            else {
                "method": _method(provenance),
                "keep_ratio": rho,
                "keep_counts": list(keep_counts(cfg, rho)),
                "inference": "TopK + Gather with static counts (no masks); the speedup is "
                "realised by ONNX Runtime CPU (l4 bench vit)",
            }
        ),
        "flops": flops(onnx_path),
        "params": int(sum(p.numel() for p in model.parameters())),
        **provenance,
    }
    path.write_text(
        "# Model card of a traffic-light classifier; format: perception/traffic_light/card.py\n"
        + yaml.safe_dump(card, sort_keys=False)
    )
    return path
