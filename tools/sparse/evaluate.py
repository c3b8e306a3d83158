"""AP@0.5 of a torch detector on held-out frames (already at its input size).

The model runs in torch; its outputs go through the node's own post-processing: the
``centernet`` decoder (:class:`perception.detector.decoders.CenterNetDecoder`) of the card
``l4 train`` would export with it, then the card's per-class NMS, and the node's
:class:`perception.detector.metrics.APAccumulator` scores them, so the figures match
``l4 train``'s held-out evaluation up to the input resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from perception.detector.decoders import CenterNetDecoder
from perception.detector.metrics import APAccumulator
from perception.detector.nms import nms
from tools.train.data import CLASSES, BoxRules, Frame
from tools.train.evaluate import VEHICLE_GROUP
from tools.train.export import detector_card

SCORE_FLOOR = 0.05  # AP integrates over scores: detections from this score up


@torch.no_grad()
def evaluate_ap(model: torch.nn.Module, frames: Sequence[Frame], rules: BoxRules | None = None,
                batch: int = 16) -> dict[str, float]:  # fmt: skip
    """``{"vehicle": AP@0.5 of car+truck, "map50": mean AP of the classes present}``."""
    rules = rules or BoxRules()
    acc = APAccumulator(CLASSES, 0.5, VEHICLE_GROUP)
    if not frames:
        return {"vehicle": 0.0, "map50": 0.0}
    h, w = frames[0].image.shape[:2]
    card = detector_card("model.onnx", w, h, model.stride)
    decoder = CenterNetDecoder(card)
    was = model.training
    model.eval()
    try:
        for i in range(0, len(frames), batch):
            chunk = frames[i : i + batch]
            x = np.stack([f.image[..., ::-1].transpose(2, 0, 1) for f in chunk])
            logits, dist = model(torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0))
            heat = torch.sigmoid(logits).numpy()
            dist = dist.numpy()
            for j, f in enumerate(chunk):
                c = decoder.decode([heat[j : j + 1], dist[j : j + 1]], SCORE_FLOOR)
                k = nms(c.boxes, c.scores, card.nms_threshold, c.classes, card.max_detections)
                names = [CLASSES[n] for n in c.classes[k]]
                acc.add(c.boxes[k], c.scores[k], names, f.boxes, f.names(), f.ignored(rules))
    finally:
        model.train(was)
    res = acc.results()
    present = [c for c in CLASSES if res[c].num_truth > 0]
    mean = float(np.mean([res[c].ap for c in present])) if present else 0.0
    return {"vehicle": float(res["vehicle"].ap), "map50": mean}
