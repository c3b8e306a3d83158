"""Non-maximum suppression inside the model, after the top-K head, with fixed output shapes.

The node's NMS (:func:`perception.detector.nms.nms`) visits candidates best score first, ties in
the order they come (a stable sort), and drops a box whose IoU with a kept box of its class is
above the threshold. The head's K rows are already sorted best first, so the same visit order is
handed to ONNX ``NonMaxSuppression`` as *ranks* (K, K-1, ..., 1) instead of scores: equal scores
(common in INT8) then cannot be reordered by the runtime's heap. Per class, a row's rank is kept
in that class's row of the [1, C, K] score tensor and 0 elsewhere, and a score threshold of 0.5
leaves those out, which is the node's class-aware NMS; class-agnostic NMS uses one row.

Suppressed rows get the score ``SUPPRESSED`` (-1, below any threshold); the shapes stay [K].
Rows below the node's score threshold come after every row above it, so they never suppress one
the node keeps: NMS over all K rows and then the threshold equals the threshold and then NMS, and
one file serves every threshold. Box corners are compared as x1 y1 x2 y2 (IoU does not depend on
which axis comes first). The IoU is computed in float32 by the runtime and in float64 by the node,
so a pair within ~1e-7 of the threshold could be decided differently.
"""

from __future__ import annotations

import numpy as np

from perception.detector.card import ModelCard
from tools.compress.fusion.graph import GraphEditor

SUPPRESSED = -1.0
MIN_OPSET = 11  # NonMaxSuppression with iou/score inputs, ScatterElements


def nms_applies(card: ModelCard, opset: int) -> bool:
    """In-model NMS gives the node's result: class-aware NMS (each class on its own), or
    class-agnostic NMS when every class is published (the node drops unpublished classes before
    its NMS, so with one shared NMS they could not suppress published boxes)."""
    if opset < MIN_OPSET:
        return False
    return not card.class_agnostic_nms or all(lab is not None for lab in card.labels)


def add_nms(ed: GraphEditor, boxes: str, scores: str, classes: str, k: int, card: ModelCard) -> str:
    """boxes [k, 4], scores [k] (sorted best first), classes [k] -> scores [k] with the rows
    NMS drops set to SUPPRESSED."""
    ranks = ed.const(np.arange(k, 0, -1, dtype=np.float32), "ranks")
    if card.class_agnostic_nms:
        per_class = ed.op("Reshape", ranks, ed.const(np.array([1, 1, k], np.int64), "shape"))
    else:
        c = card.num_classes
        row = ed.op("Reshape", classes, ed.const(np.array([1, k], np.int64), "shape"))
        mine = ed.op("Equal", row, ed.const(np.arange(c, dtype=np.int64).reshape(c, 1), "cls"))
        ranked = ed.op("Where", mine, ranks, ed.const(np.float32(0.0), "zero"))  # [c, k]
        per_class = ed.op("Reshape", ranked, ed.const(np.array([1, c, k], np.int64), "shape"))
    selected = ed.op(
        "NonMaxSuppression",
        ed.op("Reshape", boxes, ed.const(np.array([1, k, 4], np.int64), "shape")),
        per_class,
        ed.const(np.array([k], np.int64), "max_out"),
        ed.const(np.array([card.nms_threshold], np.float32), "iou"),
        ed.const(np.array([0.5], np.float32), "rank_min"),
    )  # [n, 3]: batch, class, box
    kept = ed.op("Gather", selected, ed.const(np.int64(2), "box_col"), axis=1)  # [n]
    return ed.op(
        "ScatterElements",
        ed.const(np.full(k, SUPPRESSED, np.float32), "suppressed"),
        kept,
        ed.op("Gather", scores, kept, axis=0),
        axis=0,
    )
