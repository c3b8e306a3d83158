"""RSS-style worst-case prediction of vehicles ahead."""

from __future__ import annotations

import numpy as np
import pytest

from planning.prediction import _travel


def test_vehicle_ahead_is_predicted_braking_to_a_stop():
    t = np.array([[0.0], [1.0], [2.0], [3.0]])
    s = _travel(t, np.array([[10.0]]), decel=5.0)[:, 0]
    # 10 m/s braking at 5 m/s^2 stops after 2 s and 10 m, then stays.
    assert s == pytest.approx([0.0, 7.5, 10.0, 10.0])


def test_oncoming_traffic_and_zero_decel_keep_constant_speed():
    t = np.array([[0.0], [2.0]])
    assert _travel(t, np.array([[-10.0]]), decel=5.0)[:, 0] == pytest.approx([0.0, -20.0])
    assert _travel(t, np.array([[10.0]]), decel=0.0)[:, 0] == pytest.approx([0.0, 20.0])
