"""Training-time image augmentation (numpy / OpenCV): flip, zoom-crop, photometric jitter.

Boxes move with the pixels; a box cut to less than ``min_kept`` of its area by a zoom-crop
becomes *ignored* ground truth rather than a positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5  # probability of a horizontal flip
    zoom: float = 0.5  # probability of a zoom-crop
    max_zoom: float = 1.5
    brightness: float = 25.0  # +- pixel values
    contrast: float = 0.25  # gain in 1 +- contrast
    noise: float = 4.0  # std of Gaussian pixel noise
    min_kept: float = 0.5


def augment(
    image: np.ndarray,
    boxes: np.ndarray,
    classes: np.ndarray,
    ignore: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A jittered copy of ``image`` (HxWx3 uint8) with its boxes (N, 4), classes and ignore
    flags (boxes cropped away entirely are dropped)."""
    _h, w = image.shape[:2]
    boxes = boxes.astype(np.float32).copy()
    ignore = ignore.copy()
    img = image
    if rng.random() < cfg.zoom:
        img, boxes, ignore = _zoom_crop(img, boxes, ignore, rng, cfg)
    if rng.random() < cfg.flip:
        img = img[:, ::-1]
        boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    x = img.astype(np.float32)
    gain = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
    x = (x - x.mean()) * gain + x.mean() + rng.uniform(-cfg.brightness, cfg.brightness)
    x = x * rng.uniform(0.92, 1.08, size=3).astype(np.float32)  # colour cast
    if cfg.noise > 0:
        x += rng.normal(0.0, cfg.noise, size=x.shape).astype(np.float32)
    out = np.clip(x, 0, 255).astype(np.uint8)
    keep = (boxes[:, 2] - boxes[:, 0] >= 1.0) & (boxes[:, 3] - boxes[:, 1] >= 1.0)
    return out, boxes[keep], classes[keep], ignore[keep]


def _zoom_crop(img, boxes, ignore, rng, cfg):
    h, w = img.shape[:2]
    z = rng.uniform(1.0, cfg.max_zoom)
    cw, ch = w / z, h / z
    x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    m = np.array([[z, 0, -x0 * z], [0, z, -y0 * z]], np.float32)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    moved = (boxes - np.array([x0, y0, x0, y0], np.float32)) * z
    moved[:, 0::2] = np.clip(moved[:, 0::2], 0, w)
    moved[:, 1::2] = np.clip(moved[:, 1::2], 0, h)
    kept = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1]) / (z * z)
    ignore = ignore | (kept < cfg.min_kept * np.maximum(area, 1e-6))
    return out, moved, ignore
