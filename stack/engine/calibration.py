"""INT8 calibration data: images from a directory or an image topic of a bag, preprocessed
like the node does it, in fixed-size batches for the TensorRT calibrator (or ONNX Runtime's
static quantizer). Nothing here imports TensorRT.

A source is written ``DIR`` or ``BAG:TOPIC`` (``runs/drive1:/camera/image_raw``).
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from stack.engine.base import TensorSpec
from stack.engine.errors import CalibrationError
from stack.msgs.image import ImageDecodeError, image_to_bgr

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
)
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


class ChannelOrder(str, enum.Enum):
    BGR = "bgr"
    RGB = "rgb"


@dataclass(frozen=True)
class Preprocess:
    """How the network wants its image: resized (no letterbox) to the input size, channel
    order, then ``(pixel * scale - mean) / std`` per channel, NCHW float32."""

    channel_order: ChannelOrder = ChannelOrder.BGR
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def apply(self, bgr: np.ndarray, channels: int, height: int, width: int) -> np.ndarray:
        """One BGR uint8 image -> float32 [channels, height, width]."""
        img = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_LINEAR)
        if channels == 1:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[..., None]
        elif self.channel_order is ChannelOrder.RGB:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        x = img.astype(np.float32) * np.float32(self.scale)
        mean = np.asarray(self.mean[:channels], np.float32)
        std = np.asarray(self.std[:channels], np.float32)
        return np.ascontiguousarray(((x - mean) / std).transpose(2, 0, 1))

    def identity(self) -> str:
        return f"{self.channel_order.value},{self.scale!r},{self.mean},{self.std}"


def decode_image(msg: Any, msgtype: str) -> np.ndarray:
    """A sensor_msgs Image or CompressedImage -> BGR uint8 [H, W, 3]."""
    try:
        return image_to_bgr(msg, msgtype)
    except ImageDecodeError as exc:
        raise CalibrationError(str(exc)) from exc


@dataclass(frozen=True)
class CalibrationSource:
    """Where calibration images come from: a directory, or ``topic`` of the bag at ``path``."""

    path: Path
    topic: str | None = None

    @classmethod
    def parse(cls, text: str) -> CalibrationSource:
        """``DIR`` or ``BAG:TOPIC``; the topic starts with '/' so paths may hold ':'."""
        bag, sep, topic = text.rpartition(":/")
        if sep and bag:
            return cls(Path(bag), "/" + topic)
        return cls(Path(text))

    def identity(self) -> str:
        return f"{self.path.resolve()}:{self.topic or ''}"

    def images(self) -> Iterator[np.ndarray]:
        if not self.path.exists():
            raise CalibrationError(f"calibration source {self.path}: no such file or directory")
        if self.topic is None:
            if not self.path.is_dir():
                raise CalibrationError(
                    f"calibration source {self.path}: not a directory; for a bag write BAG:TOPIC"
                )
            return _dir_images(self.path)
        return _bag_images(self.path, self.topic)


def _dir_images(folder: Path) -> Iterator[np.ndarray]:
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            log.warning("calibration: skipping unreadable image %s", path)
            continue
        yield img


def _bag_images(bag: Path, topic: str) -> Iterator[np.ndarray]:
    from rosbags.highlevel import AnyReader

    from stack.msgs import typestore

    try:
        reader = AnyReader([bag], default_typestore=typestore())
        reader.open()
    except Exception as exc:  # rosbags raises several reader errors
        raise CalibrationError(f"calibration bag {bag}: cannot open: {exc}") from None
    try:
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns:
            topics = sorted({c.topic for c in reader.connections})
            raise CalibrationError(f"calibration bag {bag}: no topic {topic!r}; topics: {topics}")
        bad = [c.msgtype for c in conns if c.msgtype not in IMAGE_TYPES]
        if bad:
            raise CalibrationError(
                f"calibration bag {bag}: topic {topic!r} is {bad[0]}, not one of {IMAGE_TYPES}"
            )
        for conn, _, raw in reader.messages(connections=conns):
            yield decode_image(reader.deserialize(raw, conn.msgtype), conn.msgtype)
    finally:
        reader.close()


def image_geometry(spec: TensorSpec) -> tuple[int, int, int]:
    """(channels, height, width) of an NCHW image input, which must be static but for N."""
    if len(spec.shape) != 4 or any(d is None for d in spec.shape[1:]):
        raise CalibrationError(
            f"input {spec.name!r} {spec.dims_text()}: calibration needs an NCHW image input "
            "with static C, H, W"
        )
    c, h, w = spec.shape[1:]
    if c not in (1, 3):
        raise CalibrationError(f"input {spec.name!r} has {c} channels; images give 1 or 3")
    return int(c), int(h), int(w)  # type: ignore[arg-type]


class CalibrationFeeder:
    """Fixed-size float32 batches for one image input; a last partial batch is dropped, since
    the calibrator runs at one batch size."""

    def __init__(
        self,
        source: CalibrationSource,
        spec: TensorSpec,
        preprocess: Preprocess | None = None,
        batch_size: int = 8,
        max_images: int = 512,
    ) -> None:
        if batch_size < 1 or max_images < batch_size:
            raise CalibrationError(
                f"batch_size={batch_size}, max_images={max_images}: need 1 <= batch <= max"
            )
        if spec.shape[0] is not None and spec.shape[0] != batch_size:
            raise CalibrationError(
                f"input {spec.name!r} has a static batch of {spec.shape[0]}; "
                f"calibration batch_size={batch_size} must equal it"
            )
        self.source = source
        self.spec = spec
        self.preprocess = preprocess or Preprocess()
        self.batch_size = batch_size
        self.max_images = max_images
        self.geometry = image_geometry(spec)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.batch_size, *self.geometry)

    def identity(self) -> str:
        """What the calibration result depends on, for cache keys."""
        text = (
            f"{self.source.identity()}|{self.preprocess.identity()}|"
            f"{self.batch_size}|{self.max_images}|{self.geometry}"
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def batches(self) -> Iterator[np.ndarray]:
        batch = np.empty(self.shape, np.float32)
        filled = used = 0
        for img in self.source.images():
            if used == self.max_images:
                break
            batch[filled] = self.preprocess.apply(img, *self.geometry)
            filled += 1
            used += 1
            if filled == self.batch_size:
                yield batch.astype(self.spec.dtype, copy=True)
                filled = 0
        if used < self.batch_size:
            raise CalibrationError(
                f"calibration source {self.source.path}"
                f"{':' + self.source.topic if self.source.topic else ''}: {used} images, "
                f"fewer than one batch of {self.batch_size}"
            )
