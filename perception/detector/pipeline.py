"""A detector = an inference engine + its model card: BGR image -> 2D detections in image pixels.

The node, the evaluation and the trainer's held-out check all run images through this class, so
the numbers in a model card are the numbers of the code that runs on the car.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.detector.card import ModelCard
from perception.detector.decoders import Candidates, Decoder, make_decoder
from perception.detector.errors import CardError
from perception.detector.nms import nms
from perception.detector.preprocess import preprocess
from perception.objects import Label
from stack.engine import Engine, TensorSpec

_FLOAT_INPUTS = (np.dtype(np.float32), np.dtype(np.float16))


@dataclass(frozen=True)
class Detections2D:
    """N detections: boxes (N, 4) x1 y1 x2 y2 image pixels, scores, card class indices, labels."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    labels: np.ndarray  # (N,) uint8 Autoware labels

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections2D:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros(0, np.int64), np.zeros(0, np.uint8))  # fmt: skip


def _find_input(card: ModelCard, inputs: Sequence[TensorSpec]) -> TensorSpec:
    if card.input.tensor is None:
        if len(inputs) != 1:
            raise CardError(
                f"{card.source}: input.tensor: the model has {len(inputs)} inputs "
                f"{[s.name for s in inputs]}; name the image input"
            )
        return inputs[0]
    for spec in inputs:
        if spec.name == card.input.tensor:
            return spec
    raise CardError(
        f"{card.source}: input.tensor: {card.input.tensor!r} is not an input of the model; "
        f"inputs: {[s.name for s in inputs]}"
    )


def check_input(card: ModelCard, spec: TensorSpec) -> None:
    """The image input must be float [1, 3, height, width] as the card says (uint8
    [1, height, width, 3] for a fused model)."""
    h, w = card.input.height, card.input.width
    want, dtypes, text = (
        ((1, h, w, 3), (np.dtype(np.uint8),), f"uint8[1,{h},{w},3] (input.fused)")
        if card.input.fused
        else ((1, 3, h, w), _FLOAT_INPUTS, f"float32[1,3,{h},{w}]")
    )
    fits = len(spec.shape) == 4 and all(d is None or d == x for d, x in zip(spec.shape, want))
    if not fits or np.dtype(spec.dtype) not in dtypes:
        raise CardError(
            f"{card.source}: input {spec.name!r}: the card expects {text}, "
            f"the model has {spec.describe()}"
        )


def _output_order(card: ModelCard, outputs: Sequence[TensorSpec]) -> list[TensorSpec]:
    by_name = {s.name: s for s in outputs}
    if not card.decoder.outputs:
        return list(outputs)
    missing = [n for n in card.decoder.outputs if n not in by_name]
    if missing:
        raise CardError(
            f"{card.source}: decoder.outputs: {missing[0]!r} is not an output of the model; "
            f"outputs: {list(by_name)}"
        )
    return [by_name[n] for n in card.decoder.outputs]


class Detector:
    """Runs one image through the engine with the card's pre- and post-processing."""

    def __init__(self, engine: Engine, card: ModelCard) -> None:
        self.engine = engine
        self.card = card
        self.decoder: Decoder = make_decoder(card)
        self.input = _find_input(card, engine.inputs)
        self._input_dtype = np.dtype(self.input.dtype)
        check_input(card, self.input)
        outputs = _output_order(card, engine.outputs)
        self.decoder.check(outputs)
        self.output_names = [s.name for s in outputs]
        self.publish_mask = np.array([lab is not None for lab in card.labels])
        self.publish_all = bool(self.publish_mask.all())
        self.label_of = np.array(
            [int(lab if lab is not None else Label.UNKNOWN) for lab in card.labels], np.uint8
        )
        self.score_threshold = card.score_threshold

    def infer(self, bgr: np.ndarray) -> tuple[list[np.ndarray], Any]:
        tensor, plan = preprocess(bgr, self.card.input)
        if self._input_dtype != tensor.dtype:
            tensor = tensor.astype(self._input_dtype)
        result = self.engine.run({self.input.name: tensor})
        return [_as_float(np.asarray(result[n])) for n in self.output_names], plan

    def postprocess(self, outputs: list[np.ndarray], plan: Any) -> Detections2D:
        cands = self.decoder.decode(outputs, self.score_threshold)
        if not self.publish_all:
            cands = cands.select(self.publish_mask[cands.classes])
        if len(cands) == 0:
            return Detections2D.empty()
        cands = _finite(cands)
        if not self.decoder.suppressed:
            keep = nms(
                cands.boxes,
                cands.scores,
                self.card.nms_threshold,
                None if self.card.class_agnostic_nms else cands.classes,
                self.card.max_detections,
            )
            cands = cands.select(keep)
        elif len(cands) > self.card.max_detections:  # a fused head ran the NMS: best first
            cands = cands.select(slice(0, self.card.max_detections))
        boxes = plan.to_image(cands.boxes)
        wide = boxes[:, 2:] > boxes[:, :2]  # x2 > x1 and y2 > y1
        if wide.all():  # the usual case: no empty box to drop, no copies
            return Detections2D(boxes, cands.scores, cands.classes, self.label_of[cands.classes])
        valid = wide.all(axis=1)
        return Detections2D(
            boxes[valid],
            cands.scores[valid],
            cands.classes[valid],
            self.label_of[cands.classes[valid]],
        )

    def detect(self, bgr: np.ndarray) -> Detections2D:
        outputs, plan = self.infer(bgr)
        return self.postprocess(outputs, plan)


def _as_float(x: np.ndarray) -> np.ndarray:
    """Float outputs as float32 (an FP16 engine's too); integer outputs (class ids) as they are."""
    return x if x.dtype.kind in "iu" else x.astype(np.float32, copy=False)


def _finite(cands: Candidates) -> Candidates:
    if np.isfinite(cands.boxes).all() and np.isfinite(cands.scores).all():  # the usual case
        return cands
    ok = np.isfinite(cands.boxes).all(axis=1) & np.isfinite(cands.scores)
    return cands if ok.all() else cands.select(ok)
