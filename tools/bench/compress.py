"""`l4 bench compress`: the dense camera detector against every shipped compressed variant
(pruned, INT8, fused, pruned + INT8 + fused: perception.models' CAMERA_DETECTOR_VARIANTS and
CAMERA_DETECTOR_REWRITES).

Each variant is measured interleaved with the dense model (one run of each per round, the pairs
one after another in one run), so its ratio holds on a shared host and does not depend on which
other variants are shipped; one round robin over every model is reported beside it. ONNX
Runtime on CPU with 1 and 2 intra-op threads (1 thread: thread CPU time, since ORT then runs in
the calling thread and neighbours' load is not counted; 2 threads: wall time, as the second
thread's work is not the caller's CPU time),

- the model alone (``session.run`` on a fixed input), and
- the whole node callback (perception.detector.node.CameraDetector.on_image: decode,
  preprocess, inference, decode, NMS, 3D lift, both messages) over the camera frames of a
  short generated scenario.

Accuracy per condition (held-out seeds, day/night/fog/rain) is what ``l4 compress`` measured
with tools.train.evaluate and wrote into each card's provenance.
Targets (issue 21): a variant at least 3x faster than the dense model alone (1 thread) with at
most 1 point of vehicle AP@0.5 lost on the day seeds, and at least 2x for the node callback.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from tools.bench.detector import _BenchContext, _scenario_messages

MODEL_TARGET = 3.0
CALLBACK_TARGET = 2.0
MAX_AP_LOSS_POINTS = 1.0
THREADS = (1, 2)


class _Context(_BenchContext):
    """The detector bench's context, without the node's precision option."""

    def engine(self, model: str, **options: Any) -> Any:
        options.pop("precision", None)
        return super().engine(model, **options)


def _cards() -> list[Path]:
    """The dense card first, then every variant once (degrade order, the rewrites, then the
    teacher's compressed variants)."""
    from perception.models import (
        CAMERA_DETECTOR_FAMILY,
        CAMERA_DETECTOR_REWRITES,
        CAMERA_DETECTOR_VARIANTS,
    )

    cards = (*CAMERA_DETECTOR_VARIANTS, *CAMERA_DETECTOR_REWRITES, *CAMERA_DETECTOR_FAMILY)
    return list(dict.fromkeys(cards))


def _feed(sess: Any, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A random input of the session's one input: the uint8 camera frame for a fused model."""
    inp = sess.get_inputs()[0]
    shape = [int(d) for d in inp.shape]
    if inp.type == "tensor(uint8)":
        return {inp.name: rng.integers(0, 256, shape, dtype=np.uint8)}
    return {inp.name: rng.random(shape, np.float32)}


def _clock(threads: int) -> Any:
    return time.thread_time_ns if threads == 1 else time.perf_counter_ns


def _paired(names: list[str], measure: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Each variant (``names[1:]``) timed interleaved with the dense model (``names[0]``) and
    nothing else: ``measure(pair)`` -> median ms per name. Returns each model's own figure (the
    dense model's: the median over its pairs) and the dense model's figure in each variant's
    pair, so a ratio compares two models in the same rounds and does not depend on how many
    other models are shipped (in one round robin over all of them every call follows the
    others', on evicted caches, which slows the thin models most)."""
    dense, own, base = names[0], {}, {}
    for name in names[1:]:
        ms = measure([dense, name])
        own[name], base[name] = round(ms[name], 3), round(ms[dense], 3)
    own[dense] = round(float(np.median(list(base.values()))), 3) if base else 0.0
    return own, base


def _model_alone(cards: list[Path], threads: int, rounds: int) -> dict[str, dict[str, float]]:
    """Model-alone medians: each variant paired with the dense model (the verdict's figures)
    and, for reference, one round robin over every model."""
    from perception.detector.card import load_card
    from tools.compress.timing import cpu_session, interleaved_ms

    sessions = {p.stem: cpu_session(str(load_card(p).model_path()), threads) for p in cards}
    rng = np.random.default_rng(0)
    feeds = {name: _feed(sess, rng) for name, sess in sessions.items()}

    def measure(names: list[str]) -> dict[str, float]:
        return interleaved_ms({n: sessions[n] for n in names}, feeds, threads, rounds, warmup=5)

    own, base = _paired(list(sessions), measure)
    robin = {k: round(v, 3) for k, v in measure(list(sessions)).items()}
    return {"model_ms": own, "model_dense_ms": base, "round_robin_model_ms": robin}


def _callbacks(
    cards: list[Path], threads: int, data: dict, repeats: int
) -> dict[str, dict[str, float]]:
    """Node-callback medians over the scenario's camera frames, each variant paired with the
    dense model (:func:`_paired`)."""
    from perception.detector.node import CameraDetector, CameraDetectorParams

    nodes = {}
    for path in cards:
        ctx = _Context(CameraDetectorParams(card=str(path)), threads)
        CameraDetector(ctx)
        for topic in ("/tf_static", "/sensing/camera/front/camera_info"):
            ctx.callbacks[topic](data[topic][0])
        nodes[path.stem] = ctx.callbacks["/sensing/camera/front/image_raw"]
    images = data["/sensing/camera/front/image_raw"]
    clock = _clock(threads)

    def measure(names: list[str]) -> dict[str, float]:
        times: dict[str, list[float]] = {k: [] for k in names}
        for rep in range(repeats):
            for i, msg in enumerate(images):
                for name in names:
                    t0 = clock()
                    nodes[name](msg)
                    if rep or i >= 3:  # warm-up frames
                        times[name].append((clock() - t0) / 1e6)
        return {k: float(np.median(v)) for k, v in times.items()}

    own, base = _paired(list(nodes), measure)
    return {"callback_ms": own, "callback_dense_ms": base}


def _accuracy(cards: list[Path]) -> dict[str, Any]:
    from perception.detector.card import load_card

    out = {}
    for path in cards:
        prov = load_card(path).provenance
        out[path.stem] = prov.get("accuracy_ap50")
    return out


def _speedup(f: dict[str, Any], dense: str, name: str) -> dict[str, float]:
    """``name``'s speedups over ``dense`` in one thread count's figures."""
    if name == dense:
        return {"model": 1.0, "callback": 1.0}
    return {
        "model": round(f["model_dense_ms"][name] / f["model_ms"][name], 2),
        "callback": round(f["callback_dense_ms"][name] / f["callback_ms"][name], 2),
    }


def _ratios(ms: dict[str, float], dense: str) -> dict[str, float]:
    return {name: round(ms[dense] / v, 2) for name, v in ms.items()}


def _verdict(dense: str, figures: dict[str, Any], accuracy: dict[str, Any]) -> dict[str, Any]:
    base = (accuracy.get(dense) or {}).get("day", {}).get("vehicle")
    best = None
    for name in figures["1"]["model_ms"]:
        if name == dense:
            continue
        vehicle = (accuracy.get(name) or {}).get("day", {}).get("vehicle")
        lost = None if vehicle is None or base is None else round(100 * (base - vehicle), 2)
        speed = _speedup(figures["1"], dense, name)
        row = {"name": name, "model_speedup": speed["model"], "callback_speedup": speed["callback"],
               "vehicle_ap50_lost_points": lost}  # fmt: skip
        row["ok"] = (
            row["model_speedup"] >= MODEL_TARGET and row["callback_speedup"] >= CALLBACK_TARGET
            and lost is not None and lost <= MAX_AP_LOSS_POINTS
        )  # fmt: skip
        if best is None or (row["ok"], row["model_speedup"]) > (best["ok"], best["model_speedup"]):
            best = row
    return best or {"ok": False, "reason": "no compressed variant shipped"}


def _block_rewrite(dense_card: Path, rounds: int) -> dict[str, Any]:
    """Each conv of the dense model block-pruned to half its input columns (1, 2, 4 blocks),
    rewritten for dense execution and timed alone before and after; the layers the mapper
    rewrites measured again (tools.bench.blocksparse, also `l4 bench blocksparse`)."""
    import onnx

    from perception.detector.card import load_card
    from tools.bench.blocksparse import measure

    return measure(onnx.load(str(load_card(dense_card).model_path())), rounds)


def run(quick: bool = False) -> dict[str, Any]:
    cards = _cards()
    dense = cards[0].stem
    data = _scenario_messages(1.0 if quick else 3.0)
    rounds, repeats = (30, 1) if quick else (200, 3)
    figures = {}
    for threads in THREADS:
        figures[str(threads)] = {
            **_model_alone(cards, threads, rounds),
            **_callbacks(cards, threads, data, repeats),
        }
    accuracy = _accuracy(cards)
    best = _verdict(dense, figures, accuracy)
    blocks = _block_rewrite(cards[0], 30 if quick else 100)
    return {
        "dense": dense,
        "variants": [c.stem for c in cards[1:]],
        "runtime": "onnxruntime CPUExecutionProvider",
        "interleaved": "each variant paired with the dense model, medians"
        " (round_robin_model_ms: one round robin over every model, for reference)",
        "clock": {"1": "thread CPU time", "2": "wall time"},
        "threads": figures,
        "speedup": {
            t: {name: _speedup(f, dense, name) for name in f["model_ms"]}
            for t, f in figures.items()
        },
        "round_robin_model_speedup": {
            t: _ratios(f["round_robin_model_ms"], dense) for t, f in figures.items()
        },
        "accuracy_ap50": accuracy,
        "best": best,
        "targets": {
            "model_speedup": MODEL_TARGET,
            "callback_speedup": CALLBACK_TARGET,
            "max_vehicle_ap50_lost_points": MAX_AP_LOSS_POINTS,
        },
        "block_rewrite": blocks,
        "ok": bool(best.get("ok")),
    }
