"""The INT8 and fused variants of one detector, each an ONNX file with its card beside it.

``make_variants(model, card, out_dir, calibration)`` writes, for a model ``STEM.onnx``:

| file | what | runs on |
|---|---|---|
| ``STEM_int8.onnx`` | Q/DQ, INT8 symmetric activations, float biases (TensorRT's layout) | TensorRT >= 8.5, and ONNX Runtime (ReLU chains folded at load) |
| ``STEM_int8_ort.onnx`` | Q/DQ, UINT8 activations (ONNX Runtime's layout); a baseline, not shipped | ONNX Runtime only |
| ``STEM_fused.onnx`` | cleanup + pre-processing + top-K head | any |
| ``STEM_int8_fused.onnx`` | ``STEM_int8`` quantized first, then fused | TensorRT and ONNX Runtime |

The shipped INT8 files are the TensorRT layout: one file for ``backend: auto``, as fast in ONNX
Runtime as the UINT8 layout (``l4 bench int8fuse`` measures both in one run).

For a shipped variant use ``l4 compress`` with a chain instead (``start:`` the pruned card,
``method: [int8, fuse]``; tools/compress/recipes/camera_detector_p50_int8_fused.yaml), which
also measures and cards each step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.compress.fusion.fuse import FuseOptions, fuse
from tools.compress.quantize import Calibration, QuantTarget, quantize_int8


@dataclass(frozen=True)
class Variant:
    name: str
    model: Path
    card: Path


def make_variants(
    model: str | Path,
    card: str | Path,
    out_dir: str | Path,
    calibration: Calibration,
    top_k: int = 100,
) -> dict[str, Variant]:
    model, card, out = Path(model), Path(card), Path(out_dir)
    stem = model.stem
    frames = list(calibration.frames())  # read once, used by both quantizations
    made: dict[str, Variant] = {}

    def keep(key: str, onnx_path: Path) -> Path:
        made[key] = Variant(onnx_path.stem, onnx_path, onnx_path.with_suffix(".yaml"))
        return onnx_path

    q = quantize_int8(model, out / f"{stem}_int8.onnx", frames, card, QuantTarget.TENSORRT)
    keep("int8", q.model)
    qo = quantize_int8(model, out / f"{stem}_int8_ort.onnx", frames, card, QuantTarget.ONNXRUNTIME)
    keep("int8_ort", qo.model)
    f = fuse(model, out / f"{stem}_fused.onnx", card, FuseOptions(top_k=top_k))
    keep("fused", f.model)
    qf = fuse(q.model, out / f"{stem}_int8_fused.onnx", q.card or card, FuseOptions(top_k=top_k))
    keep("int8_fused", qf.model)
    return made
