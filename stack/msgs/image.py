"""sensor_msgs Image / CompressedImage payloads as OpenCV BGR arrays."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from stack.msgs.errors import MessageError
from stack.msgs.validate import image_problem


class ImageDecodeError(MessageError, ValueError):
    """An image message whose encoding, size or data cannot be turned into pixels."""


# sensor_msgs/Image encodings -> (channels, dtype, conversion to BGR or None)
_ENCODINGS: dict[str, tuple[int, Any, int | None]] = {
    "bgr8": (3, np.uint8, None),
    "8UC3": (3, np.uint8, None),
    "rgb8": (3, np.uint8, cv2.COLOR_RGB2BGR),
    "bgra8": (4, np.uint8, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, np.uint8, cv2.COLOR_RGBA2BGR),
    "mono8": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "mono16": (1, np.uint16, cv2.COLOR_GRAY2BGR),
    "bayer_rggb8": (1, np.uint8, cv2.COLOR_BayerRG2BGR),
    "bayer_bggr8": (1, np.uint8, cv2.COLOR_BayerBG2BGR),
    "bayer_gbrg8": (1, np.uint8, cv2.COLOR_BayerGB2BGR),
    "bayer_grbg8": (1, np.uint8, cv2.COLOR_BayerGR2BGR),
}


def image_to_bgr(msg: Any, msgtype: str) -> np.ndarray:
    """A sensor_msgs Image or CompressedImage -> BGR uint8 [H, W, 3]."""
    if msgtype.endswith("CompressedImage"):
        buf = np.frombuffer(bytes(msg.data), np.uint8)
        # OpenCV asserts (cv2.error) on an empty buffer instead of returning None.
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
        if img is None:
            raise ImageDecodeError(f"CompressedImage format {msg.format!r} does not decode")
        return img
    if msg.encoding not in _ENCODINGS:
        raise ImageDecodeError(
            f"Image encoding {msg.encoding!r} not supported; supported: {sorted(_ENCODINGS)}"
        )
    if not msg.width or not msg.height:  # OpenCV asserts on empty images downstream
        raise ImageDecodeError(f"Image {msg.width}x{msg.height} {msg.encoding}: no pixels")
    problem = image_problem(msg)
    if problem is not None:
        raise ImageDecodeError(problem)
    channels, dtype, conversion = _ENCODINGS[msg.encoding]
    itemsize = np.dtype(dtype).itemsize
    raw = np.frombuffer(bytes(msg.data), np.uint8)
    rows = raw[: msg.height * msg.step].reshape(msg.height, msg.step)
    row_bytes = msg.width * channels * itemsize
    pixels = np.ascontiguousarray(rows[:, :row_bytes]).view(
        np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    )
    img = pixels.reshape(msg.height, msg.width, channels)
    if itemsize == 2:
        img = (img >> 8).astype(np.uint8)
    img = np.ascontiguousarray(img)
    return img if conversion is None else cv2.cvtColor(img, conversion)
