"""Training targets of the centernet-layout detector (numpy; TTFNet-style).

Per object: an elliptical Gaussian on its class heatmap, peaked (exactly 1) at the cell holding
its box centre, with sigmas proportional to the box size; regression cells are those where the
Gaussian exceeds ``reg_threshold``, each carrying the object's box, weighted by the Gaussian and
normalised so every object counts once. Ignored ground truth masks the heatmap negatives under
its box, so the network is not taught that a half-hidden car is background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TargetConfig:
    stride: int = 8
    alpha: float = 0.54  # Gaussian sigma = alpha * size / 6
    reg_threshold: float = 0.3
    min_sigma: float = 0.35  # cells; tiny boxes still get a peak and a neighbourhood


@dataclass
class Targets:
    heatmap: np.ndarray  # (C, gh, gw) float32 in [0, 1]
    boxes: np.ndarray  # (4, gh, gw) float32 x1 y1 x2 y2 input pixels of the assigned object
    weight: np.ndarray  # (gh, gw) float32 regression weight
    neg_mask: np.ndarray  # (C, gh, gw) float32: 0 where negatives are ignored
    num_objects: int


def _gaussian(gh: int, gw: int, ci: int, cj: int, sy: float, sx: float) -> np.ndarray:
    y = (np.arange(gh, dtype=np.float32) - ci)[:, None]
    x = (np.arange(gw, dtype=np.float32) - cj)[None, :]
    return np.exp(-(x * x) / (2 * sx * sx) - (y * y) / (2 * sy * sy))


def encode(
    boxes: np.ndarray,
    classes: np.ndarray,
    ignore: np.ndarray,
    num_classes: int,
    input_size: tuple[int, int],
    config: TargetConfig | None = None,
) -> Targets:
    """Targets for one image; ``boxes`` (N, 4) in input pixels (width, height = input_size)."""
    cfg = config or TargetConfig()
    s = cfg.stride
    gw, gh = input_size[0] // s, input_size[1] // s
    heat = np.zeros((num_classes, gh, gw), np.float32)
    reg = np.zeros((4, gh, gw), np.float32)
    weight = np.zeros((gh, gw), np.float32)
    reg_g = np.zeros((gh, gw), np.float32)
    centres = np.zeros((gh, gw), bool)  # an object's centre cell regresses that object only
    neg_mask = np.ones((num_classes, gh, gw), np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    count = 0
    for k in np.argsort(-area):  # small objects last: they win shared cells
        x1, y1, x2, y2 = boxes[k]
        c = int(classes[k])
        if ignore[k]:
            j0, j1 = int(np.floor(x1 / s)), int(np.ceil(x2 / s))
            i0, i1 = int(np.floor(y1 / s)), int(np.ceil(y2 / s))
            neg_mask[c, max(i0, 0) : max(i1, 0), max(j0, 0) : max(j1, 0)] = 0.0
            continue
        cj = min(max(int((x1 + x2) / 2 / s), 0), gw - 1)
        ci = min(max(int((y1 + y2) / 2 / s), 0), gh - 1)
        sx = max(cfg.alpha * (x2 - x1) / 6 / s, cfg.min_sigma)
        sy = max(cfg.alpha * (y2 - y1) / 6 / s, cfg.min_sigma)
        g = _gaussian(gh, gw, ci, cj, sy, sx)
        heat[c] = np.maximum(heat[c], g)
        cells = (g >= cfg.reg_threshold) & (g >= reg_g) & ~centres
        cells[ci, cj] = True
        reg[:, cells] = boxes[k][:, None]
        weight[cells] = g[cells] / g[cells].sum()
        reg_g[cells] = g[cells]
        centres[ci, cj] = True
        count += 1
    return Targets(heat, reg, weight, neg_mask, count)
