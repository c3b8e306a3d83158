"""`l4 bench int8fuse`: INT8 and fused variants of the shipped detector against the dense model.

Everything is measured in one run, interleaved, on ONNX Runtime with one intra-op thread:
- ``model``: the network alone (bare ``InferenceSession.run`` on pre-processed held-out frames),
  median CPU time per variant (one intra-op thread runs in the calling thread, so
  ``time.thread_time`` is its whole cost and the 2-core host's neighbours are not counted) and
  its speed-up over FP32. Target: INT8 >= 1.5x. The TensorRT file is
  run as the ORT backend runs it, with its symmetric ReLU chains folded at load
  (:mod:`stack.engine.qdq_relu`).
- ``accuracy``: vehicle AP@0.5 on held-out scenario seeds through the node's code path
  (:func:`tools.train.evaluate.evaluate`). Target: INT8 loses <= 1 point.
- ``callback``: CPU time (``time.thread_time``) of the CameraDetector node's image callback, the
  fused model against the unfused one (both FP32, and both INT8), and whether every frame gave
  the same detections (same classes, box corners within 0.5 px). Target: fused >= 1.3x cheaper.
The INT8 and fused variants are the shipped files (TensorRT's Q/DQ layout, made by
:func:`tools.compress.variants.make_variants`). ``int8_ort``, ONNX Runtime's own UINT8 layout,
is quantized here from the same FP32 model (calibrated on scenario seeds that are not held out)
and timed beside them, to show the shipped one-file layout costs nothing on ONNX Runtime.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tools.bench.detector import _BenchContext

INT8_SPEEDUP_TARGET = 1.5
AP_LOSS_TARGET = 0.01
CALLBACK_TARGET = 1.3
BOX_TOLERANCE_PX = 0.5
CALIBRATION_SEEDS = (2001,)
HELD_OUT_SEEDS = (1001, 1002, 1003, 1004)
SHIPPED = ("int8", "fused", "int8_fused")  # perception/models/camera_detector_{name}.yaml


def _frames(bags: list[Path], every: int) -> list[Any]:
    from tools.train.data import iter_frames

    return [f for bag in bags for f in iter_frames(bag, every)]


def _model_latency(
    cards: dict[str, Path], images: list[np.ndarray], rounds: int
) -> dict[str, float]:
    import onnx
    import onnxruntime as ort

    from perception.detector.card import load_card
    from perception.detector.preprocess import preprocess
    from stack.engine.qdq_relu import fold_symmetric_relus

    runs = {}
    for name, path in cards.items():
        card = load_card(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        folded, _ = fold_symmetric_relus(onnx.load(card.model_path()))  # as the backend does
        sess = ort.InferenceSession(
            folded.SerializeToString(), so, providers=["CPUExecutionProvider"]
        )
        feeds = [{sess.get_inputs()[0].name: preprocess(im, card.input)[0]} for im in images]
        runs[name] = (sess, feeds)
    times: dict[str, list[float]] = {n: [] for n in runs}
    for sess, feeds in runs.values():  # warm-up
        for feed in feeds:
            sess.run(None, feed)
    for _ in range(rounds):
        for i in range(len(images)):
            for name, (sess, feeds) in runs.items():
                t0 = time.thread_time_ns()
                sess.run(None, feeds[i])
                times[name].append((time.thread_time_ns() - t0) / 1e6)
    return {n: round(float(np.median(t)), 3) for n, t in times.items()}


def _node(card: Path) -> tuple[Any, Any]:
    from perception.detector.node import CameraDetector, CameraDetectorParams

    ctx = _BenchContext(CameraDetectorParams(card=str(card)))
    return CameraDetector(ctx), ctx


def _canonical(d: Any) -> Any:
    """Detections in a fixed order (equal scores, as INT8 gives, may come out in any order)."""
    order = np.lexsort((d.boxes[:, 1], d.boxes[:, 0], d.classes)) if len(d) else np.zeros(0, int)
    return type(d)(d.boxes[order], d.scores[order], d.classes[order], d.labels[order])


def _same(a: Any, b: Any) -> bool:
    a, b = _canonical(a), _canonical(b)
    if len(a) != len(b) or not (a.classes == b.classes).all():
        return False
    return bool(len(a) == 0 or np.abs(a.boxes - b.boxes).max() <= BOX_TOLERANCE_PX)


def _callbacks(pairs: dict[str, tuple[Path, Path]], bag: Path, rounds: int) -> dict[str, Any]:
    """CPU ms per image callback, unfused vs fused, interleaved; detections compared."""
    from tools.bench.detector import _messages_of

    data = _messages_of(bag)
    out: dict[str, Any] = {}
    for name, (plain_card, fused_card) in pairs.items():
        nodes = [_node(plain_card), _node(fused_card)]
        for _, ctx in nodes:
            for topic in ("/tf_static", "/sensing/camera/front/camera_info"):
                ctx.callbacks[topic](data[topic][0])
        for msg in data["/sensing/camera/front/image_raw"][:3]:  # warm-up
            for _, ctx in nodes:
                ctx.callbacks["/sensing/camera/front/image_raw"](msg)
        cpu: list[list[float]] = [[], []]
        same = frames = 0
        for r in range(rounds):
            for msg in data["/sensing/camera/front/image_raw"]:
                for i, (_, ctx) in enumerate(nodes):
                    t0 = time.thread_time_ns()
                    ctx.callbacks["/sensing/camera/front/image_raw"](msg)
                    cpu[i].append((time.thread_time_ns() - t0) / 1e6)
                if r == 0:
                    frames += 1
                    same += _same(nodes[0][0].last_detections, nodes[1][0].last_detections)
        plain, fused = float(np.median(cpu[0])), float(np.median(cpu[1]))
        out[name] = {"unfused_cpu_ms": round(plain, 3), "fused_cpu_ms": round(fused, 3),
                     "ratio": round(plain / fused, 3), "frames": frames, "identical_frames": same}  # fmt: skip
    return out


def _accuracy(cards: dict[str, Path], bags: list[Path]) -> dict[str, float]:
    from tools.train.evaluate import evaluate, load_detector

    return {
        n: round(evaluate(load_detector(c), bags).ap["vehicle"].ap, 4) for n, c in cards.items()
    }


def run(quick: bool = False) -> dict[str, Any]:
    from perception.models import CAMERA_DETECTOR_CARD, model_file
    from tools.compress.quantize import Calibration, QuantTarget, quantize_int8
    from tools.train.scenarios import ensure_bags, parse_scenarios

    seconds = 2.0 if quick else 6.0
    with tempfile.TemporaryDirectory(prefix="l4-bench-int8fuse-") as tmp:
        work = Path(tmp)
        cal = Calibration(seeds=CALIBRATION_SEEDS, seconds=2.0 if quick else 4.0, data_dir=work)
        ort_layout = quantize_int8(model_file("camera_detector.onnx"), work / "int8_ort.onnx",
                                   cal, CAMERA_DETECTOR_CARD, QuantTarget.ONNXRUNTIME)  # fmt: skip
        cards = {"fp32": CAMERA_DETECTOR_CARD,
                 **{k: model_file(f"camera_detector_{k}.yaml") for k in SHIPPED},
                 "int8_ort": ort_layout.card}  # fmt: skip
        seeds = HELD_OUT_SEEDS[:1] if quick else HELD_OUT_SEEDS
        specs = parse_scenarios(",".join(f"{s}:day:dense" for s in seeds))
        bags = ensure_bags(specs, seconds, work / "held_out")
        images = [f.image for f in _frames(bags[:1], 3)]
        latency = _model_latency(cards, images, 3 if quick else 10)
        accuracy = _accuracy(cards, bags)
        callback = _callbacks({"fp32": (cards["fp32"], cards["fused"]),
                               "int8": (cards["int8"], cards["int8_fused"])}, bags[0], 2 if quick else 5)  # fmt: skip
    speedup = {n: round(latency["fp32"] / t, 3) for n, t in latency.items()}
    ap_loss = round(accuracy["fp32"] - accuracy["int8"], 4)
    checks = {
        "int8_speedup": speedup["int8"] >= INT8_SPEEDUP_TARGET,
        "int8_ap_loss": ap_loss <= AP_LOSS_TARGET,
        "fused_callback": callback["fp32"]["ratio"] >= CALLBACK_TARGET,
        "fused_identical": all(c["identical_frames"] == c["frames"] for c in callback.values()),
    }
    return {
        "runtime": "onnxruntime CPU, 1 intra-op thread",
        "held_out_seeds": list(seeds), "scenario_seconds": seconds,
        "calibration_seeds": list(CALIBRATION_SEEDS),
        "model_ms": latency, "speedup_vs_fp32": speedup,
        "vehicle_ap50": accuracy, "int8_ap_loss": ap_loss,
        "callback": callback,
        "targets": {"int8_speedup": INT8_SPEEDUP_TARGET, "int8_ap_loss": AP_LOSS_TARGET,
                    "fused_callback_ratio": CALLBACK_TARGET, "box_tolerance_px": BOX_TOLERANCE_PX},
        "checks": checks,
        "ok": all(checks.values()),
    }  # fmt: skip
