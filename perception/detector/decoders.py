"""Decoders: a detector's raw output tensors -> candidate boxes in network-input pixels.

One decoder per common export layout, chosen by the card's ``decoder.name``:

- ``centernet``: our own model. ``heatmap`` [1, C, H/s, W/s] (sigmoid class scores) and ``boxes``
  [1, 4, H/s, W/s] (left, top, right, bottom distances in input pixels from each cell centre).
  Peaks are the local maxima of the heatmap over 3x3 cells. Option ``stride`` (default 8).
- ``yolov5``: [1, N, 5 + C] rows of cx, cy, w, h (input pixels), objectness, class scores
  (sigmoids applied); score = obj * cls.
- ``yolov8``: [1, 4 + C, N] (Ultralytics default) or [1, N, 4 + C]: cx, cy, w, h, class scores.
- ``yolox``: [1, N, 5 + C] as exported by YOLOX's export_onnx.py (``decode_in_inference``
  off): per anchor point of strides 8/16/32, xy = (raw + grid) * stride, wh = exp(raw) * stride;
  obj and cls already sigmoids. Options ``strides`` (default [8, 16, 32]) and ``decoded``
  (true when the export decoded boxes already: then it reads like yolov5).
- ``fastestdet``: [1, 5 + C, H, W]: obj (sigmoid), tanh cell offset of the centre, sigmoid
  w, h as image fractions, class scores (softmax); score = obj^0.6 * cls^0.4.
- ``topk``: a fused model whose head did the decoding (tools.compress.fusion.heads):
  boxes [1, K, 4] x1 y1 x2 y2 (input pixels), scores [1, K], classes [1, K]; option ``k``.
  Options ``nms_iou`` / ``nms_class_agnostic``: the head ran this NMS already (suppressed rows
  score -1), so the node does not; they must equal the card's ``nms_threshold`` /
  ``class_agnostic_nms``, which a model cannot change after it was built.

Each decoder checks the model's outputs against the card at load time (:meth:`Decoder.check`)
so a mismatched model fails once with the tensor named, never on every frame.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np

from perception.detector.card import ModelCard
from perception.detector.errors import CardError
from stack.engine import TensorSpec

Dims = tuple[int | None, ...]


@dataclass(frozen=True)
class Candidates:
    """Boxes (N, 4) x1 y1 x2 y2 float32, scores (N,) float32, class indices (N,) int64."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    @classmethod
    def make(cls, boxes: Any, scores: Any, classes: Any) -> Candidates:
        return cls(
            np.asarray(boxes, np.float32).reshape(-1, 4),
            np.asarray(scores, np.float32).reshape(-1),
            np.asarray(classes, np.int64).reshape(-1),
        )

    def select(self, index: np.ndarray) -> Candidates:
        return Candidates(self.boxes[index], self.scores[index], self.classes[index])


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    half = b[:, 2:4] * 0.5
    return np.concatenate([b[:, 0:2] - half, b[:, 0:2] + half], axis=1)


def _dims_text(dims: Sequence[int | None]) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in dims) + "]"


def _fits(expected: Dims, actual: Sequence[int | None]) -> bool:
    return len(expected) == len(actual) and all(
        e is None or a is None or e == a for e, a in zip(expected, actual)
    )


class Decoder(ABC):
    """Reads the outputs named by the card; subclasses set the layout."""

    name: ClassVar[str]
    roles: ClassVar[tuple[str, ...]]  # what each output is, in decoder order
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, card: ModelCard) -> None:
        self.card = card
        self.num_classes = card.num_classes
        self.width, self.height = card.input.width, card.input.height
        unknown = sorted(set(card.decoder.options) - set(self.defaults))
        if unknown:
            raise CardError(
                f"{card.source}: decoder.{unknown[0]}: not an option of decoder {self.name!r}; "
                f"options: {sorted(self.defaults) or 'none'}"
            )
        self.options = {**self.defaults, **card.decoder.options}

    @abstractmethod
    def expected(self) -> list[Dims]:
        """The shape each output must have (None: any size)."""

    def describe(self, index: int) -> str:
        return self.roles[index]

    @property
    def suppressed(self) -> bool:
        """The model ran the card's NMS already (its candidates come best first)."""
        return False

    def check(self, specs: Sequence[TensorSpec]) -> None:
        """Raise CardError naming the tensor whose shape does not fit the card."""
        where = f"{self.card.source}: decoder {self.name!r}"
        if len(specs) != len(self.roles):
            raise CardError(
                f"{where} reads {len(self.roles)} output(s) ({', '.join(self.roles)}), "
                f"the model gives {len(specs)}: {[s.name for s in specs]}"
            )
        for i, (spec, want) in enumerate(zip(specs, self.expected())):
            if not _fits(want, spec.shape):
                raise CardError(
                    f"{where}: output {spec.name!r} ({self.describe(i)}): expected shape "
                    f"{_dims_text(want)}, the model has {_dims_text(spec.shape)}"
                )

    @abstractmethod
    def decode(self, outputs: Sequence[np.ndarray], threshold: float) -> Candidates:
        """Candidates scoring at least ``threshold``, in input pixels."""


def _best_class(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cls = scores.argmax(axis=1)
    return cls, np.take_along_axis(scores, cls[:, None], axis=1)[:, 0]


class CenterNetDecoder(Decoder):
    name = "centernet"
    roles = ("heatmap [1, classes, H/stride, W/stride]", "boxes [1, 4, H/stride, W/stride]")
    defaults = {"stride": 8, "peak_kernel": 3}

    def expected(self) -> list[Dims]:
        s = int(self.options["stride"])
        gh, gw = self.height // s, self.width // s
        return [(1, self.num_classes, gh, gw), (1, 4, gh, gw)]

    def decode(self, outputs: Sequence[np.ndarray], threshold: float) -> Candidates:
        heat, dist = outputs[0][0], outputs[1][0]
        k = int(self.options["peak_kernel"])
        kernel = np.ones((k, k), np.uint8)
        peaks = np.stack([cv2.dilate(np.ascontiguousarray(h), kernel) for h in heat])
        keep = (heat >= threshold) & (heat >= peaks)
        cls, ys, xs = np.nonzero(keep)
        stride = float(self.options["stride"])
        cx, cy = (xs + 0.5) * stride, (ys + 0.5) * stride
        d = dist[:, ys, xs]
        boxes = np.stack([cx - d[0], cy - d[1], cx + d[2], cy + d[3]], axis=1)
        return Candidates.make(boxes, heat[cls, ys, xs], cls)


class YoloV5Decoder(Decoder):
    name = "yolov5"
    roles = ("predictions [1, N, 5 + classes]",)

    def expected(self) -> list[Dims]:
        return [(1, None, 5 + self.num_classes)]

    def _rows(self, rows: np.ndarray, threshold: float) -> Candidates:
        rows = rows[rows[:, 4] >= threshold]
        cls, cls_score = _best_class(rows[:, 5:])
        score = rows[:, 4] * cls_score
        keep = score >= threshold
        return Candidates.make(cxcywh_to_xyxy(rows[keep, :4]), score[keep], cls[keep])

    def decode(self, outputs: Sequence[np.ndarray], threshold: float) -> Candidates:
        return self._rows(outputs[0][0], threshold)


class YoloV8Decoder(Decoder):
    name = "yolov8"
    roles = ("predictions [1, 4 + classes, N] or [1, N, 4 + classes]",)

    def expected(self) -> list[Dims]:
        return [(1, 4 + self.num_classes, None)]

    def check(self, specs: Sequence[TensorSpec]) -> None:
        if len(specs) == 1 and _fits((1, None, 4 + self.num_classes), specs[0].shape):
            return  # the transposed export
        super().check(specs)

    def decode(self, outputs: Sequence[np.ndarray], threshold: float) -> Candidates:
        out = outputs[0][0]
        rows = out.T if out.shape[0] == 4 + self.num_classes else out
        cls, score = _best_class(rows[:, 4:])
        keep = score >= threshold
        return Candidates.make(cxcywh_to_xyxy(rows[keep, :4]), score[keep], cls[keep])


class YoloXDecoder(YoloV5Decoder):
    name = "yolox"
    roles = ("predictions [1, anchor points, 5 + classes]",)
    defaults = {"strides": [8, 16, 32], "decoded": False}

    def __init__(self, card: ModelCard) -> None:
        super().__init__(card)
        strides = self.options["strides"]
        if not isinstance(strides, list) or not all(isinstance(s, int) and s > 0 for s in strides):
            raise CardError(
                f"{card.source}: decoder.strides: expected positive integers, got {strides!r}"
            )
        grids, steps = [], []
        for s in strides:
            gh, gw = self.height // s, self.width // s
            yv, xv = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
            grids.append(np.stack([xv, yv], -1).reshape(-1, 2))
            steps.append(np.full((gh * gw, 1), s))
        self.grid = np.concatenate(grids).astype(np.float32)
        self.steps = np.concatenate(steps).astype(np.float32)

    def expected(self) -> list[Dims]:
        n = None if self.options["decoded"] else len(self.grid)
        return [(1, n, 5 + self.num_classes)]

    def decode(self, outputs: Sequence[np.ndarray], threshold: float) -> Candidates:
        rows = outputs[0][0]
        if not self.options["decoded"]:
            keep = rows[:, 4] >= threshold
            rows, grid, steps = rows[keep].copy(), self.grid[keep], self.steps[keep]
            rows[:, 0:2] = (rows[:, 0:2] + grid) * steps
            rows[:, 2:4] = np.exp(np.minimum(rows[:, 2:4], 20.0)) * steps
        return self._rows(rows, threshold)


class FastestDetDecoder(Decoder):
    name = "fastestdet"
    roles = ("feature map [1, 5 + classes, H, W]",)
    defaults = {"obj_power": 0.6, "cls_power": 0.4}

    def expected(self) -> list[Dims]:
        return [(1, 5 + self.num_classes, None, None)]

    def decode(self, outputs: Sequence[np.ndarray], threshold: float) -> Candidates:
        fmap = outputs[0][0]
        _, gh, gw = fmap.shape
        cells = fmap.reshape(fmap.shape[0], -1).T  # (H*W, 5 + C)
        cls, cls_score = _best_class(cells[:, 5:])
        obj = np.clip(cells[:, 0], 0.0, None)
        score = obj ** float(self.options["obj_power"]) * np.clip(cls_score, 0.0, None) ** float(
            self.options["cls_power"]
        )
        idx = np.flatnonzero(score >= threshold)
        ys, xs = np.divmod(idx, gw)
        cx = (xs + np.tanh(cells[idx, 1])) / gw * self.width
        cy = (ys + np.tanh(cells[idx, 2])) / gh * self.height
        w = 1.0 / (1.0 + np.exp(-cells[idx, 3])) * self.width
        h = 1.0 / (1.0 + np.exp(-cells[idx, 4])) * self.height
        boxes = cxcywh_to_xyxy(np.stack([cx, cy, w, h], axis=1))
        return Candidates.make(boxes, score[idx], cls[idx])


class TopKDecoder(Decoder):
    name = "topk"
    roles = ("boxes [1, K, 4]", "scores [1, K]", "classes [1, K]")
    defaults = {"k": None, "nms_iou": None, "nms_class_agnostic": False}

    def __init__(self, card: ModelCard) -> None:
        super().__init__(card)
        iou, agnostic = self.options["nms_iou"], self.options["nms_class_agnostic"]
        if iou is not None and (isinstance(iou, bool) or not isinstance(iou, (int, float))):
            raise CardError(f"{card.source}: decoder.nms_iou: expected a number, got {iou!r}")
        if iou is not None and float(iou) != card.nms_threshold:
            raise CardError(
                f"{card.source}: decoder.nms_iou: the model's NMS uses IoU {iou}, the card's "
                f"nms_threshold is {card.nms_threshold}; fuse the model again to change it"
            )
        if iou is not None and bool(agnostic) != card.class_agnostic_nms:
            raise CardError(
                f"{card.source}: decoder.nms_class_agnostic: the model's NMS is "
                f"{'class-agnostic' if agnostic else 'per class'}, the card's class_agnostic_nms "
                f"is {card.class_agnostic_nms}; fuse the model again to change it"
            )

    @property
    def suppressed(self) -> bool:
        return self.options["nms_iou"] is not None

    def expected(self) -> list[Dims]:
        k = self.options["k"]
        return [(1, k, 4), (1, k), (1, k)]

    def decode(self, outputs: Sequence[np.ndarray], threshold: float) -> Candidates:
        # Few numpy calls: this runs once per frame right after the engine, on cold caches.
        scores, classes = outputs[1][0], outputs[2][0]
        keep = (scores >= threshold).nonzero()[0]  # best first (NMS: with gaps)
        cls = classes[keep]
        if len(cls) and (cls.min() < 0 or cls.max() >= self.num_classes):
            keep = keep[(cls >= 0) & (cls < self.num_classes)]
            cls = classes[keep]
        return Candidates.make(outputs[0][0][keep], scores[keep], cls)  # no copy when typed


DECODERS: dict[str, type[Decoder]] = {
    d.name: d
    for d in (
        CenterNetDecoder, YoloV5Decoder, YoloV8Decoder, YoloXDecoder, FastestDetDecoder,
        TopKDecoder,
    )
}  # fmt: skip


def make_decoder(card: ModelCard) -> Decoder:
    kind = DECODERS.get(card.decoder.name)
    if kind is None:
        raise CardError(
            f"{card.source}: decoder.name: {card.decoder.name!r} is not one of {sorted(DECODERS)}"
        )
    return kind(card)
