"""Evaluate a detector ONNX + card on scenario bags: AP@0.5 per class and CPU latency.

Runs the full-size camera images through :class:`perception.detector.Detector` (the node's own
pre-/post-processing, ONNX Runtime on CPU), so the figures are those of the deployed code path.
No torch here: ``l4 eval`` can reuse it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.detector.card import load_card
from perception.detector.metrics import APAccumulator, ClassAP
from perception.detector.pipeline import Detector
from stack.engine import EngineOptions, load_engine
from stack.engine.flops import count_flops
from stack.engine.model import read_model
from tools.train.data import CLASSES, BoxRules, iter_frames

VEHICLE_GROUP = {"vehicle": ["car", "truck"]}


@dataclass
class EvalReport:
    frames: int
    rules: BoxRules
    ap: dict[str, ClassAP]
    score_threshold: float  # the detector's, at which recall is reported

    def to_dict(self) -> dict[str, Any]:
        present = [c for c in CLASSES if self.ap[c].num_truth > 0]
        mean = float(np.mean([self.ap[c].ap for c in present])) if present else float("nan")
        return {
            "frames": self.frames,
            "rules": {
                "min_height_px": self.rules.min_height,
                "min_visible": self.rules.min_visible,
            },
            "score_threshold": self.score_threshold,
            "map50": None if np.isnan(mean) else round(mean, 4),
            "classes": {name: ap.to_dict() for name, ap in self.ap.items()},
        }


def load_detector(
    card_path: str | Path, threads: int = 1, score_threshold: float | None = None
) -> Detector:
    card = load_card(card_path)
    engine = load_engine(
        card.model_path(), EngineOptions.of(backend="onnxruntime", intra_op_threads=threads)
    )
    detector = Detector(engine, card)
    if score_threshold is not None:
        detector.score_threshold = score_threshold
    return detector


def evaluate(
    detector: Detector,
    bags: Sequence[str | Path],
    rules: BoxRules | None = None,
    every: int = 1,
    iou_threshold: float = 0.5,
) -> EvalReport:
    """AP of ``detector`` on every ``every``-th frame of ``bags`` (ground truth by ``rules``).

    AP integrates over scores, so it is computed from the detections above a low threshold
    (0.05) regardless of the card's operating point."""
    rules = rules or BoxRules()
    acc = APAccumulator(CLASSES, iou_threshold, VEHICLE_GROUP)
    operating = detector.score_threshold
    detector.score_threshold = min(0.05, operating)
    try:
        for bag in bags:
            for frame in iter_frames(bag, every):
                dets = detector.detect(frame.image)
                names = [detector.card.classes[c] for c in dets.classes]
                acc.add(
                    dets.boxes, dets.scores, names, frame.boxes, frame.names(), frame.ignored(rules)
                )
    finally:
        detector.score_threshold = operating
    return EvalReport(acc.frames, rules, acc.results(), operating)


def measure_latency(detector: Detector, image: np.ndarray, runs: int = 50) -> dict[str, float]:
    """Wall time of ``detect`` on one image (pre + inference + post), after a warm-up."""
    for _ in range(3):
        detector.detect(image)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        detector.detect(image)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    arr = np.asarray(times)
    return {"p50_ms": round(float(np.percentile(arr, 50)), 2), "p90_ms": round(float(np.percentile(arr, 90)), 2),
            "runs": runs}  # fmt: skip


def model_stats(onnx_path: str | Path) -> dict[str, Any]:
    model = read_model(onnx_path)
    flops = count_flops(model)
    params = sum(int(np.prod(t.dims)) for t in model.proto.graph.initializer)
    return {"gflops": round(flops.flops / 1e9, 3), "params": params, "opset": model.opset,
            "bytes": len(model.data)}  # fmt: skip
