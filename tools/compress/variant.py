"""One compressed variant: export to ONNX, evaluate on held-out seeds, write its model card.

The card (perception/detector/card.py) gets a ``provenance`` section: method and parameters,
teacher, training data, fine-tuning, FLOPs, parameters, sparsity per layer, AP@0.5 per class
and condition on held-out seeds (pooled per weather), ONNX Runtime latency of the model alone
and of the whole detector pipeline, and the runtime that realises the speedup (or that none
here does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perception.detector.card import load_card, write_card
from tools.compress.errors import CompressError
from tools.compress.output import atomic_folder
from tools.train.data import iter_frames


@dataclass
class EvalSet:
    """Held-out bags grouped by condition (weather)."""

    bags: Mapping[str, Sequence[Path]]
    image: np.ndarray  # one full-size camera image, for pipeline latency


@dataclass
class VariantResult:
    name: str
    card: Path
    onnx: Path
    stats: dict[str, Any]
    accuracy: dict[str, Any]
    latency: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "card": str(self.card), "onnx": str(self.onnx),
                "stats": self.stats, "accuracy": self.accuracy, "latency": self.latency,
                "speedup_runtime": self.provenance.get("speedup_runtime")}  # fmt: skip


def eval_set(specs: Sequence[Any], bags: Sequence[Path]) -> EvalSet:
    groups: dict[str, list[Path]] = {}
    for spec, bag in zip(specs, bags):
        groups.setdefault(spec.weather, []).append(bag)
    return EvalSet(groups, next(iter_frames(bags[0])).image)


_EVALS: dict[tuple[Any, ...], EvalSet] = {}


def open_evals(recipe: Any) -> EvalSet:
    """The recipe's held-out bags (generated into ``recipe.data.dir`` once), kept per data spec
    so the dense baseline and every step of a chain evaluate on the same bags."""
    from tools.train.scenarios import ensure_bags

    data = recipe.data
    if data.dir is None:
        raise CompressError("open_evals: recipe.data.dir must be set (the runner sets it)")
    key = (data.eval, data.eval_seconds, data.dir)
    if key not in _EVALS:
        _EVALS.clear()
        _EVALS[key] = eval_set(data.eval, ensure_bags(data.eval, data.eval_seconds, data.dir))
    return _EVALS[key]


def with_data_dir(recipe: Any, folder: Path) -> Any:
    """``recipe`` with ``data.dir`` set to ``folder`` where the recipe leaves it unset."""
    if recipe.data.dir is not None:
        return recipe
    return dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, dir=folder))


def model_latency(onnx_path: Path, threads: int = 1, runs: int = 50) -> float:
    """Median ms of one ONNX Runtime run of the model alone (zeros input, after warm-up)."""
    from stack.engine.measure import time_calls
    from tools.compress.timing import cpu_session

    sess = cpu_session(str(onnx_path), threads)
    inp = sess.get_inputs()[0]
    dtype = np.uint8 if inp.type == "tensor(uint8)" else np.float32  # fused: the camera frame
    feed = {inp.name: np.zeros([int(d) for d in inp.shape], dtype)}
    for _ in range(3):
        sess.run(None, feed)
    times = time_calls(lambda: sess.run(None, feed), runs)
    return round(float(np.median(times)) / 1e6, 3)


def accuracy(card_path: Path, evals: EvalSet) -> dict[str, Any]:
    """AP@0.5 per class (and vehicle, mAP) per condition, pooled over the condition's bags."""
    from tools.train.evaluate import evaluate, load_detector

    detector = load_detector(card_path, threads=1)
    out = {}
    for condition, bags in evals.bags.items():
        r = evaluate(detector, list(bags)).to_dict()
        out[condition] = {"frames": r["frames"], "map50": r["map50"],
                          **{c: v["ap50"] for c, v in r["classes"].items()}}  # fmt: skip
    return out


def measure(card_path: Path, evals: EvalSet, threads: int) -> dict[str, Any]:
    from tools.train.evaluate import load_detector, measure_latency

    detector = load_detector(card_path, threads=threads)
    pipe = measure_latency(detector, evals.image)
    return {"runtime": "onnxruntime CPUExecutionProvider", "threads": threads,
            "model_ms": model_latency(load_card(card_path).model_path(), threads),
            "pipeline_p50_ms": pipe["p50_ms"]}  # fmt: skip


def measure_written(
    onnx_path: Path, card_path: Path, evals: EvalSet, threads: int
) -> tuple[dict[str, Any], Any, Any, dict[str, Any]]:
    """A written variant's size, accuracy and latency, and those figures as provenance keys."""
    from tools.train.evaluate import model_stats

    stats = model_stats(onnx_path)
    acc = accuracy(card_path, evals)
    lat = measure(card_path, evals, threads)
    figures = {"gflops": stats["gflops"], "params": stats["params"], "onnx_bytes": stats["bytes"],
               "accuracy_ap50": acc, "latency": lat}  # fmt: skip
    return stats, acc, lat, figures


def write_variant(
    model: Any, out_dir: Path, name: str, size: tuple[int, int], evals: EvalSet,
    provenance: dict[str, Any], threads: int = 1, engine: Mapping[str, Any] | None = None,
    rewrite: Callable[[Path], None] | None = None,
) -> VariantResult:  # fmt: skip
    """Export ``model`` (a TinyCenterNet) as ``out_dir/name/name.onnx`` + card, atomically;
    ``engine``: the engine options the card asks for (perception.detector.card.ENGINE_KEYS);
    ``rewrite``: changes the exported ONNX in place before it is measured (a graph rewrite)."""
    from tools.train.export import export_detector

    with atomic_folder(out_dir, name) as tmp:
        onnx_path, card_path = export_detector(model, tmp, name, size[0], size[1])
        if rewrite is not None:
            rewrite(onnx_path)
        stats, acc, lat, figures = measure_written(onnx_path, card_path, evals, threads)
        prov = {**provenance, **figures}
        card = dataclasses.replace(load_card(card_path), provenance=prov, engine=dict(engine or {}))
        write_card(card, card_path)
    final = out_dir / name
    return VariantResult(
        name, final / card_path.name, final / onnx_path.name, stats, acc, lat, prov
    )


def dense_result(card_path: Path, evals: EvalSet, threads: int) -> VariantResult:
    """The dense model's figures, measured the same way (not written anywhere)."""
    from tools.train.evaluate import model_stats

    card = load_card(card_path)
    stats = model_stats(card.model_path())
    return VariantResult(card.name or "dense", card_path, card.model_path(), stats,
                         accuracy(card_path, evals), measure(card_path, evals, threads),
                         {"method": "dense"})  # fmt: skip
