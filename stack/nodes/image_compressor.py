"""ImageCompressor node: sensor_msgs/Image -> sensor_msgs/CompressedImage, as image_transport's
``compressed`` republisher does, for recording camera frames (lossless PNG for training data,
JPEG for review). It is a logging chain: low priority, shed first under load.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import cv2

from stack import topics
from stack.events import EventKind
from stack.msgs.image import ImageDecodeError, image_to_bgr
from stack.node import Context, Node
from stack.params import in_range, parse_enum

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"


class ImageFormat(str, enum.Enum):
    PNG = "png"
    JPEG = "jpeg"


@dataclass
class ImageCompressorParams:
    input: str = topics.CAMERA_IMAGE
    output: str = ""  # default: INPUT/compressed
    format: str = ImageFormat.PNG.value
    png_level: int = 3  # 0-9, zlib effort
    jpeg_quality: int = 90  # 0-100

    def validate(self) -> None:
        parse_enum(ImageFormat, self.format, "format")
        in_range("png_level", self.png_level, 0, 9)
        in_range("jpeg_quality", self.jpeg_quality, 0, 100)


class ImageCompressor(Node):
    Params = ImageCompressorParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        p = self.params
        fmt = ImageFormat(p.format)
        self.ext, self.flags = (
            (".png", [cv2.IMWRITE_PNG_COMPRESSION, p.png_level])
            if fmt is ImageFormat.PNG
            else (".jpg", [cv2.IMWRITE_JPEG_QUALITY, p.jpeg_quality])
        )
        self.format_name = fmt.value
        self.pub = ctx.publisher(p.output or f"{p.input.rstrip('/')}/compressed", COMPRESSED)
        ctx.subscribe(p.input, IMAGE, self.on_image, depth=1)

    def on_image(self, msg: Any) -> None:
        try:
            bgr = image_to_bgr(msg, IMAGE)
        except ImageDecodeError as exc:
            self.ctx.event(EventKind.DROP, f"{self.params.input}: {exc}")
            return
        ok, data = cv2.imencode(self.ext, bgr, self.flags)
        if not ok:
            self.ctx.event(
                EventKind.DROP, f"{self.params.input}: {self.format_name} encoding failed"
            )
            return
        # image_transport's format string: "<original encoding>; <codec> compressed bgr8"
        fmt = f"{msg.encoding}; {self.format_name} compressed bgr8"
        self.pub.publish(self.ctx.new(COMPRESSED, header=msg.header, format=fmt, data=data.ravel()))
