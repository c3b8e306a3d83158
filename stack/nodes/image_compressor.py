"""ImageCompressor node: sensor_msgs/Image -> sensor_msgs/CompressedImage, as image_transport's
``compressed`` republisher does, for recording camera frames (lossless PNG for training data,
JPEG for review). It is a logging chain: low priority, shed first under load.

Under load the logger can degrade its own work instead of only being shed: ``degrade`` lists
cheaper lossless PNG settings, in order, that a degrade controller (stack.scheduler.degrade,
``scheduler.degrade.nodes.<name>`` in the launch file) steps down to when the logging chain
misses its budget, and back from when it recovers. Every variant writes the same pixels; only
the zlib effort and so the file size change. On a 640x384 camera frame (thread CPU time, this
host): level 3 21 ms / 330 kB, ``rle`` (level 1, run-length strategy) 12.5 ms / 281 kB,
``huffman`` (level 1, Huffman only) 11 ms / 279 kB, ``store`` (level 0) 5.6 ms / 739 kB.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from stack import topics
from stack.events import EventKind
from stack.msgs.image import ImageDecodeError, image_to_bgr
from stack.node import Context, Node
from stack.params import ParamError, in_range, parse_enum
from stack.scheduler.variants import VariantSet

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"


class ImageFormat(str, enum.Enum):
    PNG = "png"
    JPEG = "jpeg"


class PngEffort(str, enum.Enum):
    """Cheaper lossless PNG settings a logger can degrade to (same pixels, other zlib work)."""

    RLE = "rle"  # level 1, Z_RLE: runs only (flat synthetic or dark regions compress well)
    HUFFMAN = "huffman"  # level 1, Huffman coding only, no string matching
    STORE = "store"  # level 0: no compression (largest files, least CPU)


_EFFORT_FLAGS = {
    PngEffort.RLE: [cv2.IMWRITE_PNG_COMPRESSION, 1,
                    cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE],
    PngEffort.HUFFMAN: [cv2.IMWRITE_PNG_COMPRESSION, 1,
                        cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY],
    PngEffort.STORE: [cv2.IMWRITE_PNG_COMPRESSION, 0],
}  # fmt: skip


@dataclass(frozen=True)
class Encoder:
    """One way to encode a frame; ``run`` has an engine's shape, so a VariantSet can hold it."""

    variant: str
    ext: str
    flags: tuple[int, ...]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray | None:
        ok, data = cv2.imencode(self.ext, feeds["image"], list(self.flags))
        return data if ok else None


@dataclass
class ImageCompressorParams:
    input: str = topics.CAMERA_IMAGE
    output: str = ""  # default: INPUT/compressed
    format: str = ImageFormat.PNG.value
    png_level: int = 3  # 0-9, zlib effort
    jpeg_quality: int = 90  # 0-100
    # Cheaper lossless PNG settings to degrade to, in order (PngEffort values); empty: none.
    degrade: list[str] = field(default_factory=list)

    def validate(self) -> None:
        fmt = parse_enum(ImageFormat, self.format, "format")
        in_range("png_level", self.png_level, 0, 9)
        in_range("jpeg_quality", self.jpeg_quality, 0, 100)
        if not isinstance(self.degrade, list):
            raise ParamError(f"degrade: expected a list of {_efforts()}, got {self.degrade!r}")
        for i, value in enumerate(self.degrade):
            parse_enum(PngEffort, value, f"degrade[{i}]")
        if self.degrade and fmt is not ImageFormat.PNG:
            raise ParamError(f"degrade: PNG settings, but format is {self.format!r}")
        if len(set(self.degrade)) != len(self.degrade):
            raise ParamError(f"degrade: repeated settings in {self.degrade!r}")


def _efforts() -> str:
    return ", ".join(e.value for e in PngEffort)


class ImageCompressor(Node):
    Params = ImageCompressorParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        p = self.params
        fmt = ImageFormat(p.format)
        first = (
            Encoder(f"png{p.png_level}", ".png", (cv2.IMWRITE_PNG_COMPRESSION, p.png_level))
            if fmt is ImageFormat.PNG
            else Encoder(f"jpeg{p.jpeg_quality}", ".jpg", (cv2.IMWRITE_JPEG_QUALITY, p.jpeg_quality))
        )  # fmt: skip
        cheaper = [
            Encoder(f"png_{e}", ".png", tuple(_EFFORT_FLAGS[PngEffort(e)])) for e in p.degrade
        ]
        self.encoder = first
        # Only a logger that can degrade holds a VariantSet (the runtime attaches a controller).
        self.encoders = VariantSet(ctx, [first, *cheaper]) if cheaper else None
        self.format_name = fmt.value
        self.pub = ctx.publisher(p.output or f"{p.input.rstrip('/')}/compressed", COMPRESSED)
        ctx.subscribe(p.input, IMAGE, self.on_image, depth=1)

    def on_image(self, msg: Any) -> None:
        try:
            bgr = image_to_bgr(msg, IMAGE)
        except ImageDecodeError as exc:
            self.ctx.event(EventKind.DROP, f"{self.params.input}: {exc}")
            return
        feeds = {"image": bgr}
        data = self.encoder.run(feeds) if self.encoders is None else self.encoders.run(feeds)
        if data is None:
            self.ctx.event(
                EventKind.DROP, f"{self.params.input}: {self.format_name} encoding failed"
            )
            return
        # image_transport's format string: "<original encoding>; <codec> compressed bgr8"
        fmt = f"{msg.encoding}; {self.format_name} compressed bgr8"
        self.pub.publish(self.ctx.new(COMPRESSED, header=msg.header, format=fmt, data=data.ravel()))
