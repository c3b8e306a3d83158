"""Image messages to pixels, and pixels to the network's input tensor (stretch or letterbox).

:class:`Resize` remembers how the image was mapped into the network input, so boxes found in
input pixels map back to image pixels exactly (``to_image`` inverts ``to_input``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from perception.detector.card import InputSpec, Interpolation, PadPosition, ResizeMode
from perception.detector.errors import ImageError
from stack.engine import ChannelOrder

# encoding -> (channels, cv2 conversion to BGR or None)
_ENCODINGS: dict[str, tuple[int, int | None]] = {
    "bgr8": (3, None),
    "8UC3": (3, None),
    "rgb8": (3, cv2.COLOR_RGB2BGR),
    "bgra8": (4, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, cv2.COLOR_RGBA2BGR),
    "mono8": (1, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, cv2.COLOR_GRAY2BGR),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)
_CV2_INTERPOLATION = {
    Interpolation.LINEAR: cv2.INTER_LINEAR,
    Interpolation.NEAREST: cv2.INTER_NEAREST,
    Interpolation.CUBIC: cv2.INTER_CUBIC,
}


def image_to_bgr(msg: Any) -> np.ndarray:
    """A sensor_msgs/Image as an HxWx3 uint8 BGR array; ImageError says what is wrong."""
    encoding = str(msg.encoding)
    if encoding not in _ENCODINGS:
        raise ImageError(f"encoding {encoding!r} not supported; supported: {list(_ENCODINGS)}")
    channels, conversion = _ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageError(f"image size {width}x{height} is empty")
    if step < width * channels:
        raise ImageError(f"step {step} is less than width {width} x {channels} bytes")
    data = (
        np.frombuffer(memoryview(msg.data), np.uint8)
        if not isinstance(msg.data, np.ndarray)
        else msg.data
    )
    if data.size != step * height:
        raise ImageError(
            f"{width}x{height} {encoding} with step {step} needs {step * height} bytes, got {data.size}"
        )
    rows = data.reshape(height, step)[:, : width * channels]
    img = rows.reshape(height, width, channels)
    if conversion is not None:
        return cv2.cvtColor(img, conversion)
    return img


@dataclass(frozen=True)
class Resize:
    """input = image * (sx, sy) + (pad_x, pad_y); both in pixels."""

    sx: float
    sy: float
    pad_x: float
    pad_y: float
    image_width: int
    image_height: int

    @classmethod
    def plan(cls, spec: InputSpec, image_width: int, image_height: int) -> Resize:
        if spec.resize is ResizeMode.STRETCH:
            return cls(spec.width / image_width, spec.height / image_height, 0.0, 0.0,
                       image_width, image_height)  # fmt: skip
        s = min(spec.width / image_width, spec.height / image_height)
        new_w, new_h = round(image_width * s), round(image_height * s)
        if spec.pad_position is PadPosition.TOP_LEFT:
            pad_x = pad_y = 0
        else:
            pad_x, pad_y = (spec.width - new_w) // 2, (spec.height - new_h) // 2
        return cls(new_w / image_width, new_h / image_height, float(pad_x), float(pad_y),
                   image_width, image_height)  # fmt: skip

    def __post_init__(self) -> None:
        # The per-box constants, made once per plan (the callback maps boxes every frame).
        scale = np.array([self.sx, self.sy, self.sx, self.sy], np.float32)
        pad = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        limit = np.array([self.image_width, self.image_height] * 2, np.float32)
        for name, value in (("_scale", scale), ("_pad", pad), ("_limit", limit)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) x1 y1 x2 y2 boxes from image pixels to input pixels."""
        return np.asarray(boxes, np.float32) * self._scale + self._pad

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) boxes from input pixels back to image pixels, clipped to the image."""
        out = (np.asarray(boxes, np.float32) - self._pad) / self._scale
        return np.clip(out, 0.0, self._limit, out=out)  # x to the width, y to the height


def _resized(
    bgr: np.ndarray, spec: InputSpec, plan: Resize, dtype: type = np.float32
) -> np.ndarray:
    h, w = bgr.shape[:2]
    new_w, new_h = round(w * plan.sx), round(h * plan.sy)
    if spec.interpolation is Interpolation.AREA:
        interp = cv2.INTER_AREA if new_w < w else cv2.INTER_LINEAR
    else:
        interp = _CV2_INTERPOLATION[spec.interpolation]
    img = cv2.resize(bgr, (new_w, new_h), interpolation=interp) if (new_w, new_h) != (w, h) else bgr
    if spec.resize is ResizeMode.STRETCH:
        return img
    canvas = np.full((spec.height, spec.width, 3), spec.pad_value, dtype)
    x0, y0 = int(plan.pad_x), int(plan.pad_y)
    canvas[y0 : y0 + new_h, x0 : x0 + new_w] = img
    return canvas


@lru_cache(maxsize=32)
def _plan(spec: InputSpec, image_width: int, image_height: int) -> Resize:
    """The plan for a card's input and an image size, made once (plans are immutable)."""
    return Resize.plan(spec, image_width, image_height)


def preprocess(bgr: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, Resize]:
    """A BGR uint8 image -> float32 [1, 3, H, W] network input and the mapping used; for a
    fused model (``spec.fused``) the resized uint8 BGR frame [1, H, W, 3] as it is."""
    plan = _plan(spec, bgr.shape[1], bgr.shape[0])
    if spec.fused:
        if spec.resize is ResizeMode.LETTERBOX and spec.pad_value != min(
            max(round(spec.pad_value), 0), 255
        ):  # Python numbers: np.clip of a scalar costs more than the rest of this branch
            raise ImageError(f"fused input: pad_value {spec.pad_value} is not a uint8 value")
        img = _resized(bgr, spec, plan, np.uint8)
        return np.ascontiguousarray(img)[None], plan
    img = _resized(bgr, spec, plan)
    if spec.channel_order is ChannelOrder.RGB:
        img = img[..., ::-1]
    x = img.astype(np.float32) * np.float32(spec.scale)
    mean, std = np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32)
    if mean.any() or (std != 1.0).any():
        x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), plan
