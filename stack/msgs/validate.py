"""Sensor payload sizes checked against the layout the message declares.

A PointCloud2 or Image carries its data as bytes plus the fields that say how to read them
(width, height, point_step/row_step, step). When they disagree, a reader either fails deep in
numpy or, worse, reads a prefix silently (a cloud whose ``width`` under-reports its data loses
most of its points). These checks are the one place that says what agrees:

- PointCloud2: ``len(data) == row_step * height`` and ``width * point_step <= row_step <
  (width + 1) * point_step`` (a row may be padded, by less than one point);
- Image: ``len(data) == step * height`` and, for a known encoding, ``step >= width * bytes per
  pixel``.

Each check returns what is wrong (naming the sizes) or None; the replay player drops and counts
a message that fails (stack.replay.player), and the decoders raise with the same text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stack.msgs.errors import MessageError

POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
IMAGE = "sensor_msgs/msg/Image"
# sensor_msgs/image_encodings: bytes per pixel of the encodings with a fixed size.
PIXEL_BYTES = {
    **dict.fromkeys(("mono8", "8UC1", "8SC1"), 1),
    **dict.fromkeys(("mono16", "16UC1", "16SC1", "8UC2", "8SC2"), 2),
    **dict.fromkeys(("bgr8", "rgb8", "8UC3", "8SC3"), 3),
    **dict.fromkeys(("bgra8", "rgba8", "8UC4", "8SC4", "32FC1", "32SC1", "16UC2"), 4),
    **dict.fromkeys(("bgr16", "rgb16", "16UC3", "16SC3"), 6),
    **dict.fromkeys(("bgra16", "rgba16", "16UC4", "16SC4", "32FC2", "64FC1"), 8),
    "32FC3": 12,
    "32FC4": 16,
    **{f"bayer_{p}8": 1 for p in ("rggb", "bggr", "gbrg", "grbg")},
    **{f"bayer_{p}16": 2 for p in ("rggb", "bggr", "gbrg", "grbg")},
}

SizeCheck = Callable[[Any], "str | None"]


class SensorDataError(MessageError, ValueError):
    """A sensor message whose data length disagrees with its declared layout."""


def pointcloud2_problem(msg: Any) -> str | None:
    """What is wrong with a PointCloud2's sizes, or None."""
    width, height = int(msg.width), int(msg.height)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    size = len(msg.data)
    layout = (
        f"PointCloud2 width {width} x height {height}, point_step {point_step}, row_step {row_step}"
    )
    if point_step <= 0:
        return f"{layout}: point_step must be > 0"
    if not width * point_step <= row_step < (width + 1) * point_step:
        return (
            f"{layout}: a row of {width} points takes {width * point_step} bytes, but row_step "
            f"is {row_step} (room for {row_step // point_step} points)"
        )
    if size != row_step * height:
        return f"{layout}: data has {size} bytes, expected row_step x height = {row_step * height}"
    return None


def image_problem(msg: Any) -> str | None:
    """What is wrong with an Image's sizes, or None."""
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    size = len(msg.data)
    layout = f"Image {width}x{height} {msg.encoding}, step {step}"
    pixel = PIXEL_BYTES.get(str(msg.encoding))
    if pixel is not None and step < width * pixel:
        return f"{layout}: a row of {width} pixels takes {width * pixel} bytes, more than step"
    if size != step * height:
        return f"{layout}: data has {size} bytes, expected step x height = {step * height}"
    return None


SIZE_CHECKS: dict[str, SizeCheck] = {POINTCLOUD2: pointcloud2_problem, IMAGE: image_problem}


def size_check(msgtype: str) -> SizeCheck | None:
    """The size check for messages of ``msgtype``, or None when it has no layout to check."""
    return SIZE_CHECKS.get(msgtype)


def check_sizes(msg: Any, msgtype: str) -> None:
    """Raise SensorDataError naming the sizes when ``msg``'s data disagrees with its layout."""
    check = SIZE_CHECKS.get(msgtype)
    problem = check(msg) if check is not None else None
    if problem is not None:
        raise SensorDataError(problem)
