"""Average precision of 2D detections at an IoU threshold (PASCAL VOC / COCO style).

Per class (or group of classes, e.g. ``vehicle`` = car + truck with class-agnostic matching),
detections are matched greedily by descending score to the unmatched ground-truth box of
highest IoU >= the threshold. Ground truth marked *ignore* (too small, mostly occluded) neither
counts as missed nor turns a detection on it into a false positive. AP is the area under the
all-point interpolated precision/recall curve.

    acc = APAccumulator(["car", "truck"], groups={"vehicle": ["car", "truck"]})
    for frame in frames:
        acc.add(det_boxes, det_scores, det_names, gt_boxes, gt_names, gt_ignore)
    acc.results()["vehicle"].ap
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from perception.detector.nms import iou_matrix


def average_precision(scores: np.ndarray, true_positive: np.ndarray, num_truth: int) -> float:
    """All-point interpolated AP of detections (``scores``, ``true_positive`` flags) against
    ``num_truth`` ground-truth objects; NaN when there is no ground truth."""
    if num_truth == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.asarray(true_positive, bool)[order]
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(~tp)
    recall = tp_cum / num_truth
    precision = tp_cum / np.maximum(tp_cum + fp_cum, 1)
    # Precision envelope (monotone non-increasing from the right), then area under the steps.
    mrec = np.concatenate([[0.0], recall, [recall[-1]]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def match_frame(
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    gt_boxes: np.ndarray,
    gt_ignore: np.ndarray,
    iou_threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per detection: (true positive, ignored) flags. Ignored detections only matched ignored
    ground truth and are left out of the AP."""
    n = len(det_scores)
    tp, ignored = np.zeros(n, bool), np.zeros(n, bool)
    if n == 0 or len(gt_boxes) == 0:
        return tp, ignored
    iou = iou_matrix(det_boxes, gt_boxes)
    gt_ignore = np.asarray(gt_ignore, bool)
    taken = np.zeros(len(gt_boxes), bool)
    for d in np.argsort(-np.asarray(det_scores), kind="stable"):
        free = np.where(~gt_ignore & ~taken, iou[d], -1.0)
        best = int(free.argmax())
        if free[best] >= iou_threshold:
            tp[d], taken[best] = True, True
        elif gt_ignore.any() and iou[d, gt_ignore].max() >= iou_threshold:
            ignored[d] = True
    return tp, ignored


@dataclass(frozen=True)
class ClassAP:
    ap: float
    num_truth: int  # ground truth counted (not ignored)
    num_detections: int  # detections counted (not on ignored ground truth)
    recall: float  # at the lowest score threshold evaluated

    def to_dict(self) -> dict[str, float | int]:
        return {
            "ap50": None if np.isnan(self.ap) else round(self.ap, 4),
            "num_truth": self.num_truth,
            "num_detections": self.num_detections,
            "max_recall": None if np.isnan(self.recall) else round(self.recall, 4),
        }  # type: ignore[return-value]


class APAccumulator:
    """Collects frames, then gives AP per class and per group of classes."""

    def __init__(
        self,
        classes: Sequence[str],
        iou_threshold: float = 0.5,
        groups: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.iou_threshold = iou_threshold
        self.categories: dict[str, frozenset[str]] = {c: frozenset([c]) for c in classes}
        for name, members in (groups or {}).items():
            self.categories[name] = frozenset(members)
        self._scores: dict[str, list[np.ndarray]] = {c: [] for c in self.categories}
        self._tp: dict[str, list[np.ndarray]] = {c: [] for c in self.categories}
        self._truth: dict[str, int] = dict.fromkeys(self.categories, 0)
        self.frames = 0

    def add(
        self,
        det_boxes: np.ndarray,
        det_scores: np.ndarray,
        det_classes: Sequence[str],
        gt_boxes: np.ndarray,
        gt_classes: Sequence[str],
        gt_ignore: np.ndarray | None = None,
    ) -> None:
        """One frame: detections and ground truth as (N, 4) x1 y1 x2 y2 boxes + class names."""
        det_boxes = np.asarray(det_boxes, float).reshape(-1, 4)
        gt_boxes = np.asarray(gt_boxes, float).reshape(-1, 4)
        det_scores = np.asarray(det_scores, float).reshape(-1)
        ignore = np.zeros(len(gt_boxes), bool) if gt_ignore is None else np.asarray(gt_ignore, bool)
        det_cls, gt_cls = np.asarray(det_classes, object), np.asarray(gt_classes, object)
        self.frames += 1
        for name, members in self.categories.items():
            dm = np.array([c in members for c in det_cls], bool).reshape(-1)
            gm = np.array([c in members for c in gt_cls], bool).reshape(-1)
            tp, ignored = match_frame(
                det_boxes[dm], det_scores[dm], gt_boxes[gm], ignore[gm], self.iou_threshold
            )
            self._scores[name].append(det_scores[dm][~ignored])
            self._tp[name].append(tp[~ignored])
            self._truth[name] += int((~ignore[gm]).sum())

    def results(self) -> dict[str, ClassAP]:
        out = {}
        for name in self.categories:
            scores = np.concatenate(self._scores[name]) if self._scores[name] else np.zeros(0)
            tp = np.concatenate(self._tp[name]) if self._tp[name] else np.zeros(0, bool)
            truth = self._truth[name]
            recall = float(tp.sum() / truth) if truth else float("nan")
            out[name] = ClassAP(average_precision(scores, tp, truth), truth, len(scores), recall)
        return out
