"""Latency of a prune recipe's widths before any training: ``l4 compress RECIPE --widths``.

Choosing per-layer widths for a latency target needs the latency each choice gives on the target
backend, not FLOPs: ONNX Runtime's NCHWc convs work in blocks of the SIMD width (16 channels
with AVX-512), and memory-bound layers at the stride-4 grid do not shrink with their FLOPs. This
prunes a copy of the dense model to each variant of a ``method: prune`` recipe (no fine-tuning;
magnitude importance, which gives the same shapes as any importance), exports it, and times
every file against the dense one in one interleaved run (ONNX Runtime CPU, model alone, one
random input; thread CPU time with 1 thread, as ``l4 bench compress``: on a loaded host a 3 ms
call's wall time is mostly other processes' time slices). Seconds per variant, no data needed.
With ``int8``, each file (the dense one too) is also quantized to INT8 Q/DQ in TensorRT's layout
(as every shipped INT8 file, :mod:`tools.compress.quantize`) and timed in the same run as ORT's
CPU backend runs it: a quantized file's speed does not depend on its scales, so the calibration
frames are seeded random images.
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stack.errors import L4Error
from tools.compress.errors import RecipeError
from tools.compress.prune import ImportanceKind, conv_shapes, make_pruner, prune_step
from tools.compress.prune_method import PruneTarget, parse_options
from tools.compress.recipe import Recipe
from tools.compress.restride import to_stride8
from tools.compress.teacher import load_dense
from tools.compress.timing import cpu_session, interleaved_ms

_AGAINST = "against"  # the reference model's key in the interleaved run


def _pruned_onnx(
    dense: Any, target: PruneTarget, path: Path, size: tuple[int, int], source: str
) -> dict[str, int]:
    """``dense`` pruned to ``target`` (magnitude importance, no fine-tuning), written to ``path``;
    returns the kept output channels per conv."""
    import torch

    from tools.train.export import export_onnx

    model = copy.deepcopy(dense)
    spec = dataclasses.replace(target.spec, importance=ImportanceKind.MAGNITUDE)
    pruner = make_pruner(model, torch.zeros(1, 3, size[1], size[0]), spec)
    prune_step(pruner, spec, None)
    if target.stride == 8:
        to_stride8(model, f"{source}: {target.where}")
    export_onnx(model, path, *size)
    return {name: shape[0] for name, shape in conv_shapes(model).items()}


def _int8_copy(src: Path, card: Any, size: tuple[int, int]) -> Path:
    """``src`` quantized to INT8 Q/DQ (TensorRT layout) on 8 seeded random frames, for timing."""
    from tools.compress.quantize import QuantTarget, quantize_int8

    rng = np.random.default_rng(0)
    frames = (rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(8))
    out = src.parent / f"{src.stem}_int8.onnx"
    quantize_int8(src, out, frames, card, QuantTarget.TENSORRT, write_model_card=False)
    return out


def _interleaved(
    files: Mapping[str, Path], image: np.ndarray, threads: int, runs: int
) -> dict[str, float]:
    """Median ms per file, round-robin after 5 warm-up rounds."""
    sessions = {n: cpu_session(str(f), threads) for n, f in files.items()}
    feeds = {n: {s.get_inputs()[0].name: image} for n, s in sessions.items()}
    return interleaved_ms(sessions, feeds, threads, runs, warmup=5)


def width_latency(
    recipe: Recipe,
    runs: int = 200,
    threads: int | None = None,
    against: Path | None = None,
    int8: bool = False,
) -> dict[str, Any]:
    """Model-alone latency (median ms) and speedup over the dense model per variant; threads:
    the recipe's ``latency_threads`` unless given. With ``against`` (a card), that model is timed
    in the same run and each variant also gets ``vs_against``: its latency / that model's. With
    ``int8``, the dense model and each variant also get ``int8``: their INT8 Q/DQ copy's
    latency, speedup over the dense FP32 model (and ``vs_against``), timed in the same run."""
    from tools.train.evaluate import model_stats

    if recipe.methods != ("prune",):
        raise RecipeError(f"{recipe.source}: --widths needs method: prune (got {recipe.method})")
    targets = parse_options(recipe)
    threads = recipe.latency_threads if threads is None else threads
    dense = load_dense(recipe.model)
    size = (dense.card.input.width, dense.card.input.height)
    image = np.random.default_rng(0).random((1, 3, size[1], size[0]), np.float32)
    with tempfile.TemporaryDirectory(prefix="l4-widths-") as tmp:
        files, widths = {"dense": dense.onnx_path}, {}
        if against is not None:
            files[_AGAINST] = _card_model(against, size)
        for t in targets:
            files[t.name] = Path(tmp) / f"{t.name}.onnx"
            widths[t.name] = _pruned_onnx(dense.model, t, files[t.name], size, recipe.source)
        if int8:
            for name in ["dense", *widths]:
                files[_int8_key(name)] = _int8_copy(_local(files[name], tmp), dense.card, size)
        ms = _interleaved(files, image, threads, runs)
        gflops = {n: model_stats(f)["gflops"] for n, f in files.items()}
    out = {
        "runtime": "onnxruntime CPUExecutionProvider", "threads": threads, "runs": runs,
        "clock": "thread CPU time" if threads == 1 else "wall time",
        "dense": {"model_ms": round(ms["dense"], 3), "gflops": gflops["dense"]},
        "variants": {n: {"model_ms": round(ms[n], 3), "speedup": round(ms["dense"] / ms[n], 2),
                         "gflops": gflops[n], "out_channels": widths[n]} for n in widths},
    }  # fmt: skip
    if against is not None:
        out["against"] = {"card": str(against), "model_ms": round(ms[_AGAINST], 3),
                          "gflops": gflops[_AGAINST]}  # fmt: skip
        for n, v in out["variants"].items():
            v["vs_against"] = round(ms[n] / ms[_AGAINST], 3)
    if int8:
        _add_int8(out, ms, gflops, against is not None)
    return out


def _int8_key(name: str) -> str:
    return f"{name}/int8"


def _local(path: Path, tmp: str) -> Path:
    """``path``, copied into ``tmp`` first when it lies elsewhere (the INT8 copy goes beside it)."""
    if path.parent == Path(tmp):
        return path
    copy_to = Path(tmp) / path.name
    copy_to.write_bytes(path.read_bytes())
    return copy_to


def _add_int8(out: dict[str, Any], ms: Mapping[str, float], gflops: Mapping[str, float],
              against: bool) -> None:  # fmt: skip
    """The INT8 copies' rows: latency, speedup over the dense FP32 model, ratio to ``against``."""
    for name, row in [("dense", out["dense"]), *out["variants"].items()]:
        key = _int8_key(name)
        row["int8"] = {"model_ms": round(ms[key], 3), "speedup": round(ms["dense"] / ms[key], 2),
                       "gflops": gflops[key]}  # fmt: skip
        if against:
            row["int8"]["vs_against"] = round(ms[key] / ms[_AGAINST], 3)


def _card_model(card_path: Path, size: tuple[int, int]) -> Path:
    """The ONNX of ``card_path``, refused unless it takes the recipe model's input size."""
    from perception.detector.card import load_card

    try:
        card = load_card(card_path)
    except (OSError, L4Error) as exc:
        raise RecipeError(f"--against {card_path}: cannot read the card: {exc}") from None
    if (card.input.width, card.input.height) != size:
        raise RecipeError(
            f"--against {card_path}: input {card.input.width}x{card.input.height}, the recipe's "
            f"model takes {size[0]}x{size[1]}"
        )
    return card.model_path()
