from __future__ import annotations

import numpy as np
import pytest

from tools.eval.metrics import (
    FrameDetections,
    MotAccumulator,
    average_precision,
    iou_xywh,
    match_by_distance,
    polygon_distance,
    rectangle,
    rmse,
)


def test_iou_known_values():
    a = np.array([[0, 0, 2, 2]])
    b = np.array([[1, 0, 2, 2], [0, 0, 2, 2], [10, 10, 1, 1]])
    assert iou_xywh(a, b)[0] == pytest.approx([2 / 6, 1.0, 0.0])


def test_ap_perfect_and_with_false_positive():
    gt = np.array([[10, 10, 4, 4], [30, 30, 4, 4]])
    perfect = FrameDetections(gt.copy(), np.array([0.9, 0.8]), gt)
    assert average_precision([perfect]) == (pytest.approx(1.0), pytest.approx(1.0))
    # a high-scoring false positive first: precision 1/2 at recall 0.5, 2/3 at recall 1
    boxes = np.array([[50, 50, 4, 4], [10, 10, 4, 4], [30, 30, 4, 4]])
    frame = FrameDetections(boxes, np.array([0.95, 0.9, 0.8]), gt)
    ap, recall = average_precision([frame])
    assert recall == pytest.approx(1.0)
    assert ap == pytest.approx(2 / 3)


def test_ap_duplicate_detection_is_false_positive_and_ignored_gt_is_neutral():
    gt = np.array([[10, 10, 4, 4], [30, 30, 4, 4]])
    boxes = np.array([[10, 10, 4, 4], [10.2, 10, 4, 4], [30, 30, 4, 4]])
    ap, recall = average_precision([FrameDetections(boxes, np.array([0.9, 0.85, 0.1]), gt)])
    assert recall == 1.0 and ap == pytest.approx(0.5 + 0.5 * 2 / 3)
    frame = FrameDetections(gt[:1], np.array([0.9]), gt, ignore=np.array([False, True]))
    assert average_precision([frame]) == (pytest.approx(1.0), pytest.approx(1.0))
    frame = FrameDetections(gt[1:], np.array([0.9]), gt, ignore=np.array([False, True]))
    assert average_precision([frame]) == (0.0, 0.0)


def test_match_by_distance_is_optimal_and_gated():
    gt = np.array([[0, 0], [3, 0]])
    pred = np.array([[2.0, 0], [0.5, 0], [100, 100]])
    assert sorted(match_by_distance(gt, pred, 1.5)) == [(0, 1), (1, 0)]
    assert match_by_distance(gt, np.zeros((0, 2)), 1.0) == []


def test_mot_counts_id_switch_miss_and_false_positive():
    acc = MotAccumulator(max_dist=1.0)
    acc.update([1, 2], np.array([[0, 0], [5, 0]]), [10, 20], np.array([[0, 0], [5, 0]]))
    acc.update(
        [1, 2], np.array([[1, 0], [6, 0]]), [10, 30], np.array([[1, 0], [6, 0]])
    )  # 2: 20->30
    acc.update(
        [1, 2], np.array([[2, 0], [7, 0]]), [10, 99], np.array([[2, 0], [50, 0]])
    )  # miss + FP
    assert (acc.gt_count, acc.id_switches, acc.misses, acc.false_positives) == (6, 1, 1, 1)
    assert acc.mota == pytest.approx(1 - 3 / 6)


def test_polygon_distance():
    a = rectangle(0, 0, 0, 4, 2)
    assert polygon_distance(a, rectangle(6, 0, 0, 4, 2)) == pytest.approx(2.0)
    assert polygon_distance(a, rectangle(1, 0, 0.3, 4, 2)) == 0.0
    b = rectangle(0, 5, np.pi / 2, 4, 2)  # 4 long along y: nearest edge at y = 3
    assert polygon_distance(a, b) == pytest.approx(2.0)


def test_rmse():
    assert rmse(np.array([3.0, -4.0])) == pytest.approx(np.sqrt(12.5))
    assert np.isnan(rmse(np.array([])))


def test_mot_ignored_ground_truth_is_neutral():
    acc = MotAccumulator(max_dist=1.0)
    gt_xy = np.array([[0, 0], [50, 0]])
    acc.update(
        [1, 2], gt_xy, [7, 8], np.array([[0, 0], [50, 0]]), gt_ignore=np.array([False, True])
    )
    acc.update([1, 2], gt_xy, [7], np.array([[0, 0]]), gt_ignore=np.array([False, True]))
    assert (acc.gt_count, acc.misses, acc.false_positives) == (2, 0, 0)
    assert acc.mota == 1.0
