"""AP@0.5 of a torch detector on held-out frames (already at its input size).

Decodes as the deployed ``centernet`` decoder does (3x3 peak, score >= 0.05, per-class NMS)
and accumulates with the node's own :class:`perception.detector.metrics.APAccumulator`, so
the figures match ``l4 train``'s held-out evaluation up to the input resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from perception.detector.metrics import APAccumulator
from perception.detector.nms import nms
from tools.train.data import CLASSES, BoxRules, Frame
from tools.train.evaluate import VEHICLE_GROUP


def _decode(heat: torch.Tensor, dist: torch.Tensor, stride: int, threshold: float = 0.05):
    peaks = F.max_pool2d(heat[None], 3, 1, 1)[0]
    keep = (heat >= threshold) & (heat >= peaks)
    cls, ys, xs = (t.numpy() for t in torch.nonzero(keep, as_tuple=True))
    cx, cy = (xs + 0.5) * stride, (ys + 0.5) * stride
    d = dist[:, ys, xs].numpy()
    boxes = np.stack([cx - d[0], cy - d[1], cx + d[2], cy + d[3]], axis=1)
    scores = heat[cls, ys, xs].numpy()
    k = nms(boxes, scores, 0.5, cls, max_keep=100)
    return boxes[k], scores[k], cls[k]


@torch.no_grad()
def evaluate_ap(model: torch.nn.Module, frames: Sequence[Frame], rules: BoxRules | None = None,
                batch: int = 16) -> dict[str, float]:  # fmt: skip
    """``{"vehicle": AP@0.5 of car+truck, "map50": mean AP of the classes present}``."""
    rules = rules or BoxRules()
    acc = APAccumulator(CLASSES, 0.5, VEHICLE_GROUP)
    was = model.training
    model.eval()
    try:
        for i in range(0, len(frames), batch):
            chunk = frames[i : i + batch]
            x = np.stack([f.image[..., ::-1].transpose(2, 0, 1) for f in chunk])
            logits, dist = model(torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0))
            heat = torch.sigmoid(logits)
            for j, f in enumerate(chunk):
                boxes, scores, cls = _decode(heat[j], dist[j], model.stride)
                names = [CLASSES[c] for c in cls]
                acc.add(boxes, scores, names, f.boxes, f.names(), f.ignored(rules))
    finally:
        model.train(was)
    res = acc.results()
    present = [c for c in CLASSES if res[c].num_truth > 0]
    mean = float(np.mean([res[c].ap for c in present])) if present else 0.0
    return {"vehicle": float(res["vehicle"].ap), "map50": mean}
