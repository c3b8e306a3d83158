"""Standard cleanup: onnxslim (constant folding, dead code, shape-op simplification), then ONNX
Runtime's BASIC graph optimizations saved offline.

BASIC rewrites (constant folding, redundant-node elimination, Conv+BN/Mul/Add fusion) keep the
graph in standard ONNX operators, so the file still runs on any execution provider and parses in
TensorRT. EXTENDED and ALL fuse into provider-specific operators (FusedConv, NCHWc layouts) and
tie the file to one provider and CPU: never saved here, ONNX Runtime applies them at load time.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import onnxruntime as ort

from tools.compress.fusion.errors import FusionError


def slim(model: onnx.ModelProto, source: str = "<model>") -> onnx.ModelProto:
    """onnxslim's standard pipeline (no shape or dtype changes)."""
    try:
        import onnxslim
    except ImportError:
        raise FusionError("onnxslim is not installed (pip install 'l4stack[train]')") from None
    try:
        return onnxslim.slim(model)
    except Exception as exc:  # onnxslim raises what its passes raise
        raise FusionError(f"{source}: onnxslim failed: {exc}") from None


def ort_basic(src: Path, dst: Path) -> Path:
    """Write ONNX Runtime's BASIC-level optimized graph of ``src`` to ``dst`` (CPU provider)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(dst)
    so.log_severity_level = 3
    try:
        ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail / InvalidGraph
        raise FusionError(f"{src}: ONNX Runtime cannot load the model: {exc}") from None
    if not dst.exists():
        raise FusionError(f"{src}: ONNX Runtime wrote no optimized model to {dst}")
    return dst


def cleanup(model: onnx.ModelProto, work: Path, source: str = "<model>") -> onnx.ModelProto:
    """onnxslim, then ORT BASIC saved offline; ``work`` is a scratch folder."""
    work.mkdir(parents=True, exist_ok=True)
    slimmed = work / f"slim.{os.getpid()}.onnx"
    basic = work / f"basic.{os.getpid()}.onnx"
    try:
        onnx.save(slim(model, source), slimmed)
        ort_basic(slimmed, basic)
        out = _used_opsets_only(onnx.load(basic))
    finally:
        slimmed.unlink(missing_ok=True)
        basic.unlink(missing_ok=True)
    return out


def _used_opsets_only(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX Runtime lists every domain it knows in a saved model; keep the ones nodes use."""
    used = {n.domain or "" for n in model.graph.node} | {""}
    keep = [op for op in model.opset_import if (op.domain or "") in used or op.domain == "ai.onnx"]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    return model
