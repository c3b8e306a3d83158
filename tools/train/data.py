"""Camera frames with ground-truth 2D boxes, read from scenario bags (no torch here).

A scenario bag (tools.scenario) holds the front camera image and, at the same stamp, the
ground-truth boxes of every actor the camera sees (vision_msgs/Detection2DArray: class name and
visible fraction). :func:`read_frames` pairs them by header stamp.

:class:`BoxRules` decides which ground truth counts: boxes too small or too hidden to be
expected of a detector are *ignored* (neither missed nor false when detected), in training and
in evaluation alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from perception.detector.preprocess import image_to_bgr
from stack import msgs
from stack.replay import Bag, ReplayError
from tools.scenario import topics
from tools.train.errors import TrainError

CLASSES = ("car", "truck", "pedestrian", "bicycle")


@dataclass(frozen=True)
class BoxRules:
    """Ground truth counts when its image box is at least ``min_height`` pixels tall (in the
    full-size image) and at least ``min_visible`` of it is visible; the rest is ignored."""

    min_height: float = 16.0
    min_visible: float = 0.35

    def ignore(self, boxes: np.ndarray, visible: np.ndarray) -> np.ndarray:
        return ((boxes[:, 3] - boxes[:, 1]) < self.min_height) | (visible < self.min_visible)


@dataclass
class Frame:
    """One camera frame: BGR image and its ground truth (boxes x1 y1 x2 y2 in its pixels)."""

    stamp_ns: int
    image: np.ndarray
    boxes: np.ndarray  # (N, 4) float32
    classes: np.ndarray  # (N,) int64 index into CLASSES
    visible: np.ndarray  # (N,) float32
    scale: float = 1.0  # this image's size / the camera's: boxes here = camera boxes * scale

    def ignored(self, rules: BoxRules) -> np.ndarray:
        """Which ground truth ``rules`` ignore, judged at the camera's own resolution."""
        return rules.ignore(self.boxes / self.scale, self.visible)

    def names(self) -> list[str]:
        return [CLASSES[c] for c in self.classes]


def _truth(msg, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes, cls, vis = [], [], []
    for det in msg.detections:
        name = det.results[0].hypothesis.class_id if det.results else ""
        if name not in classes:
            continue  # an actor kind the detector does not learn
        c, sx, sy = det.bbox.center.position, det.bbox.size_x, det.bbox.size_y
        boxes.append((c.x - sx / 2, c.y - sy / 2, c.x + sx / 2, c.y + sy / 2))
        cls.append(classes.index(name))
        vis.append(det.results[0].hypothesis.score)
    return (
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(cls, np.int64),
        np.asarray(vis, np.float32),
    )


def iter_frames(
    bag_path: str | Path, every: int = 1, size: tuple[int, int] | None = None
) -> Iterator[Frame]:
    """Frames of a scenario bag in time order; every ``every``-th one, resized to ``size``
    (width, height) with boxes scaled along when given."""
    images: dict[int, object] = {}
    truths: dict[int, object] = {}
    n = 0
    try:
        with Bag(bag_path) as bag:
            missing = [
                t for t in (topics.CAMERA_IMAGE, topics.GT_CAMERA_BOXES) if t not in bag.topics
            ]
            if missing:
                raise TrainError(f"{bag_path}: no {missing[0]} topic; is it a scenario bag?")
            for conn, _, raw in bag.messages([topics.CAMERA_IMAGE, topics.GT_CAMERA_BOXES]):
                msg = msgs.deserialize(raw, conn.msgtype)
                stamp = msgs.stamp_to_ns(msg.header.stamp)
                (images if conn.topic == topics.CAMERA_IMAGE else truths)[stamp] = msg
                if stamp in images and stamp in truths:
                    image, truth = images.pop(stamp), truths.pop(stamp)
                    n += 1
                    if (n - 1) % every == 0:
                        yield _frame(stamp, image, truth, size)
    except ReplayError as exc:
        raise TrainError(str(exc)) from exc


def _frame(stamp: int, image_msg, truth_msg, size: tuple[int, int] | None) -> Frame:
    bgr = image_to_bgr(image_msg)
    boxes, cls, vis = _truth(truth_msg, CLASSES)
    scale = 1.0
    if size is not None and (bgr.shape[1], bgr.shape[0]) != size:
        sx, sy = size[0] / bgr.shape[1], size[1] / bgr.shape[0]
        if abs(sx - sy) > 1e-3:
            raise TrainError(
                f"resizing {bgr.shape[1]}x{bgr.shape[0]} images to {size[0]}x{size[1]} "
                "would change their aspect ratio"
            )
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        boxes, scale = boxes * np.float32(sy), sy
    return Frame(stamp, np.ascontiguousarray(bgr), boxes, cls, vis, scale)


def read_frames(
    bag_paths: Sequence[str | Path], every: int = 1, size: tuple[int, int] | None = None
) -> list[Frame]:
    frames = [f for path in bag_paths for f in iter_frames(path, every, size)]
    if not frames:
        raise TrainError(f"no camera frames with ground truth in {[str(p) for p in bag_paths]}")
    return frames
