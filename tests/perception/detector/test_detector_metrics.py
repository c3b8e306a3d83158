from __future__ import annotations

import math

import numpy as np
import pytest

from perception.detector.metrics import APAccumulator, average_precision, match_frame


def test_average_precision_known_curves():
    assert average_precision(np.array([0.9, 0.8]), np.array([True, True]), 2) == pytest.approx(1.0)
    # TP, FP, TP over 2 truths: recall 0.5 @ p 1, recall 1 @ p 2/3
    ap = average_precision(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 2)
    assert ap == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert average_precision(np.array([0.9]), np.array([True]), 4) == pytest.approx(0.25)
    assert average_precision(np.zeros(0), np.zeros(0, bool), 3) == 0.0
    assert math.isnan(average_precision(np.zeros(0), np.zeros(0, bool), 0))


def test_match_frame_greedy_and_ignore():
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    dets = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 0, 30, 10], [50, 50, 60, 60]], float)
    tp, ignored = match_frame(
        dets, np.array([0.9, 0.8, 0.7, 0.6]), gt, np.array([False, True]), 0.5
    )
    assert tp.tolist() == [True, False, False, False]  # the duplicate is a false positive
    assert ignored.tolist() == [False, False, True, False]  # on the ignored truth: not counted


def test_accumulator_per_class_and_group():
    acc = APAccumulator(["car", "truck"], groups={"vehicle": ["car", "truck"]})
    gt_boxes = np.array([[0, 0, 10, 10], [20, 0, 40, 20], [60, 0, 70, 8]], float)
    gt_names = ["car", "truck", "car"]
    # The truck is detected as a car; the tiny far car is ignored and not detected.
    acc.add(gt_boxes[:2], [0.8, 0.9], ["car", "car"], gt_boxes, gt_names, [False, False, True])
    res = acc.results()
    assert res["car"].ap == pytest.approx(0.5)  # the FP (the truck) outranks the TP
    assert res["car"].num_truth == 1
    assert res["truck"].ap == 0.0 and res["truck"].num_truth == 1
    assert res["vehicle"].ap == pytest.approx(1.0) and res["vehicle"].num_truth == 2
    assert res["vehicle"].to_dict()["ap50"] == 1.0
