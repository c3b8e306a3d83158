"""`l4 bench engine`: our ONNX Runtime backend against a bare InferenceSession on FastestDet.

Same model, same seeded input, same intra-op thread count (2), measured in one run with the two
interleaved in blocks (A,B, B,A, ...). Target: our p50 within 5 % or 50 us of the bare p50.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

THREADS = 2


def fastestdet_path() -> Path:
    root = Path(os.environ.get("L4_SHARED_DATA", "/work/shared/data"))
    return root / "onnx" / "fastestdet" / "FastestDet.onnx"


def run(quick: bool = False) -> dict[str, Any]:
    from stack.engine import EngineOptions, load_engine
    from stack.engine.measure import bench_engine

    model = fastestdet_path()
    if not model.exists():
        return {"ok": True, "skipped": f"{model} not present (set L4_SHARED_DATA)"}
    engine = load_engine(model, EngineOptions.of(backend="onnxruntime", intra_op_threads=THREADS))
    result = bench_engine(engine, model, iters=60 if quick else 600, threads=THREADS)
    result["ok"] = result["within_target"]
    return result
