from __future__ import annotations

import numpy as np
import pytest

from tools.eval.metrics import (
    MotAccumulator,
    match_by_distance,
    polygon_distance,
    rectangle,
    rmse,
)


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


def test_rectangles_crossing_like_a_plus_sign_overlap():
    # No corner of either lies inside the other; only their edges cross.
    ego = rectangle(0, 0, 0, 4.7, 1.9)
    assert polygon_distance(ego, rectangle(0, 0, np.pi / 2, 4.5, 1.8)) == 0.0
    assert polygon_distance(ego, rectangle(0, 4.0, np.pi / 2, 4.5, 1.8)) == pytest.approx(0.8)
