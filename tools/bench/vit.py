"""`l4 bench vit`: the dense traffic-light ViT against each token-pruned variant, in one run.

For every shipped variant (perception/models/traffic_light_vit*.yaml): ONNX Runtime CPU with 1
and 2 intra-op threads, sessions interleaved round by round on the same held-out crops (batch 1
and 4), median latency and speed-up over the dense model; accuracy on held-out crops (scenario
seeds 1001-1005, every weather, heads within 60 m; rendered by tools.vit.crops, never used in
training) through the ONNX model itself; FLOPs per crop from the graph (stack.engine.flops).

The node classifies all regions of a frame as one batch; ``node_batch`` counts the frames of
the held-out drives by region count (heads in range facing the camera, true pose). The verdict
uses the node's most common batch (1 on seeds 1001-1005: one head per direction faces the ego),
1 thread. Target: some variant >= 2x faster than dense with at most 1 point of accuracy lost.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

SPEEDUP_TARGET = 2.0
ACCURACY_LOSS_TARGET = 0.01
HELD_OUT_SEEDS = (1001, 1002, 1003, 1004, 1005)
BATCHES = (1, 4)
THREADS = (1, 2)


def _sessions(cards: list[Any], threads: int) -> dict[str, Any]:
    from tools.compress.timing import cpu_session

    return {card.name: cpu_session(str(card.model_path()), threads) for card in cards}


def _latency(cards, images: np.ndarray, threads: int, batch: int, rounds: int) -> dict:
    sessions = _sessions(cards, threads)
    feeds = [images[i : i + batch] for i in range(0, len(images) - batch + 1, batch)][:50]
    times: dict[str, list[float]] = {n: [] for n in sessions}
    for sess in sessions.values():  # warm-up
        for f in feeds[:10]:
            sess.run(None, {"crops": f})
    for _ in range(rounds):
        for name, sess in sessions.items():  # interleaved: every variant sees the same load
            start = time.perf_counter()
            for f in feeds:
                sess.run(None, {"crops": f})
            times[name].append((time.perf_counter() - start) / len(feeds) * 1e3)
    med = {n: statistics.median(t) for n, t in times.items()}
    dense = med[cards[0].name]
    return {n: {"median_ms": round(m, 4), "speedup": round(dense / m, 3)} for n, m in med.items()}


def _accuracy(cards, crops) -> dict:
    import onnxruntime as ort

    from tools.vit.pipeline import accuracy

    out = {}
    for card in cards:
        sess = ort.InferenceSession(str(card.model_path()), providers=["CPUExecutionProvider"])
        probs = np.concatenate(
            [
                sess.run(None, {"crops": crops.images[i : i + 256]})[0]
                for i in range(0, len(crops), 256)
            ]
        )
        out[card.name] = accuracy(probs.argmax(1), crops)
    return out


def run(quick: bool = False, cache: Path | None = None) -> dict[str, Any]:
    import yaml

    from perception.models import MODELS_DIR
    from perception.traffic_light.card import load_light_card
    from perception.traffic_light.node import SHIPPED
    from tools.vit.dataset import WEATHERS, crop_set, node_batches

    load_before = os.getloadavg()
    cards = [load_light_card(MODELS_DIR / name) for name in SHIPPED]
    cache = cache or Path("runs/vit-crops")
    seeds = HELD_OUT_SEEDS[:2] if quick else HELD_OUT_SEEDS
    crops = crop_set(cache, seeds, WEATHERS, 40.0, 1, lambda _: None)
    rounds = 5 if quick else 15
    sizes = np.bincount(node_batches(cache, seeds, 40.0))
    node_batch = int(np.argmax(sizes)) if len(sizes) else 1
    batches = sorted({*BATCHES, node_batch})
    latency = {
        f"threads{t}_batch{b}": _latency(cards, crops.images, t, b, rounds)
        for t in THREADS
        for b in batches
    }
    acc = _accuracy(cards, crops)
    flops = {c.name: yaml.safe_load(c.path.read_text()).get("flops") for c in cards}
    dense = cards[0].name
    verdicts = {}
    for card in cards[1:]:
        speed = latency[f"threads1_batch{node_batch}"][card.name]["speedup"]
        lost = acc[dense]["all"] - acc[card.name]["all"]
        verdicts[card.name] = {
            "keep_ratio": card.keep_ratio,
            "speedup_1thread_node_batch": speed,
            "accuracy_lost": round(lost, 4),
            "ok": speed >= SPEEDUP_TARGET and lost <= ACCURACY_LOSS_TARGET,
        }
    return {
        "held_out_crops": len(crops),
        "held_out_seeds": list(seeds),
        "node_batch": {
            "frames_by_regions": {str(i): int(n) for i, n in enumerate(sizes) if n},
            "verdict_batch": node_batch,
        },
        "latency": latency,
        "accuracy": acc,
        "flops": flops,
        "variants": verdicts,
        # 1/5/15-minute load of the host: ratios shrink on a busy one (per-run overhead)
        "load_average": {"start": list(load_before), "end": list(os.getloadavg())},
        "target": f">= {SPEEDUP_TARGET}x faster (ORT 1 thread, the node's batch "
        f"{node_batch}), <= 1 point accuracy lost",
        "ok": any(v["ok"] for v in verdicts.values()),
    }
