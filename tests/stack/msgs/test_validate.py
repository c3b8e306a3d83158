"""Sensor payload sizes against their declared layout (stack.msgs.validate)."""

from __future__ import annotations

import numpy as np
import pytest

from perception.lidar.pointcloud import PointCloudError, make_pointcloud2, read_points
from stack import msgs
from stack.errors import L4Error
from stack.msgs.validate import (
    IMAGE,
    POINTCLOUD2,
    SensorDataError,
    check_sizes,
    image_problem,
    pointcloud2_problem,
    size_check,
)


def _cloud(points: int = 198):
    pts = np.arange(points * 4, dtype=np.float32).reshape(points, 4)
    return make_pointcloud2(msgs.new, msgs.new("std_msgs/msg/Header"), pts)


def _image(width=4, height=2, step=12, size=24, encoding="bgr8"):
    return msgs.new(IMAGE, width=width, height=height, step=step, encoding=encoding,
                    data=np.zeros(size, np.uint8))  # fmt: skip


def test_consistent_messages_pass():
    assert pointcloud2_problem(_cloud()) is None
    assert pointcloud2_problem(_cloud(0)) is None
    assert image_problem(_image()) is None
    assert image_problem(_image(step=16, size=32)) is None  # padded rows
    assert image_problem(_image(encoding="weird", step=5, size=10)) is None  # unknown: data only
    check_sizes(_cloud(), POINTCLOUD2)
    check_sizes(object(), "std_msgs/msg/String")  # no layout to check
    assert size_check("sensor_msgs/msg/Imu") is None


def test_a_width_that_under_reports_the_data_is_named_with_the_sizes():
    msg = _cloud()
    msg.width = 8  # row_step and data still hold 198 points
    assert pointcloud2_problem(msg) == (
        "PointCloud2 width 8 x height 1, point_step 16, row_step 3168: a row of 8 points takes "
        "128 bytes, but row_step is 3168 (room for 198 points)"
    )
    msg.row_step = 128  # both lie: the data length gives it away
    assert "data has 3168 bytes, expected row_step x height = 128" in pointcloud2_problem(msg)
    with pytest.raises(PointCloudError, match="data has 3168 bytes"):
        read_points(msg)  # was read silently as 8 points


def test_row_padding_under_one_point_is_allowed():
    msg = _cloud(3)
    msg.height, msg.width, msg.row_step = 1, 3, 3 * 16 + 8
    msg.data = np.concatenate([msg.data, np.zeros(8, np.uint8)])
    assert pointcloud2_problem(msg) is None
    assert read_points(msg).shape == (3, 3)


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"size": 21}, "data has 21 bytes, expected step x height = 24"),
        ({"size": 30}, "data has 30 bytes, expected step x height = 24"),
        ({"step": 10, "size": 20}, "a row of 4 pixels takes 12 bytes, more than step"),
        ({"encoding": "mono16", "step": 4, "size": 8}, "a row of 4 pixels takes 8 bytes"),
    ],
)
def test_image_sizes_that_disagree_are_named(kwargs, text):
    problem = image_problem(_image(**kwargs))
    assert problem is not None and problem.startswith("Image 4x2") and text in problem
    with pytest.raises(SensorDataError, match=text) as err:
        check_sizes(_image(**kwargs), IMAGE)
    assert isinstance(err.value, L4Error)


def test_zero_point_step_is_refused():
    msg = _cloud(2)
    msg.point_step = 0
    assert "point_step must be > 0" in pointcloud2_problem(msg)
