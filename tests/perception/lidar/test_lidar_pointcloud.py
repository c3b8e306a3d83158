from __future__ import annotations

import numpy as np
import pytest

from perception.lidar.pointcloud import PointCloudError, make_pointcloud2, read_points
from stack import msgs


def _header():
    return msgs.new("std_msgs/msg/Header", frame_id="lidar_top")


def test_round_trip_through_cdr_keeps_points():
    pts = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    msg = make_pointcloud2(msgs.new, _header(), pts)
    msg = msgs.deserialize(msgs.serialize(msg), "sensor_msgs/msg/PointCloud2")
    out = read_points(msg)
    assert out.dtype == np.float32
    assert np.array_equal(out, pts[:, :3])
    assert np.array_equal(read_points(msg, ("intensity", "x")), pts[:, [3, 0]])


def test_non_finite_points_are_dropped_unless_dense():
    pts = np.ones((5, 4), np.float32)
    pts[2, 1] = np.nan
    msg = make_pointcloud2(msgs.new, _header(), pts)
    assert msg.is_dense is False
    assert len(read_points(msg)) == 4


def test_other_layouts_are_read_field_by_field():
    # float64 x, y, z with 4 bytes padding after each point.
    rec = np.zeros(3, dtype=[("x", "<f8"), ("y", "<f8"), ("z", "<f8"), ("pad", "<u4")])
    rec["x"], rec["y"], rec["z"] = [1, 2, 3], [4, 5, 6], [7, 8, 9]
    fields = [
        msgs.new("sensor_msgs/msg/PointField", name=n, offset=8 * i, datatype=8, count=1)
        for i, n in enumerate("xyz")
    ]
    msg = msgs.new(
        "sensor_msgs/msg/PointCloud2",
        header=_header(),
        height=1,
        width=3,
        fields=fields,
        point_step=rec.dtype.itemsize,
        row_step=rec.nbytes,
        data=rec.view(np.uint8),
        is_dense=True,
    )
    assert np.allclose(read_points(msg), [[1, 4, 7], [2, 5, 8], [3, 6, 9]])


def test_missing_field_is_named():
    msg = make_pointcloud2(msgs.new, _header(), np.zeros((3, 2)), names=("x", "y"))
    with pytest.raises(PointCloudError, match="no field 'z'"):
        read_points(msg)


def test_truncated_data_is_reported():
    msg = make_pointcloud2(msgs.new, _header(), np.zeros((10, 4)))
    msg.data = msg.data[:-3]
    with pytest.raises(
        PointCloudError, match=r"data has 157 bytes, expected row_step x height = 160"
    ):
        read_points(msg)


def test_zero_point_step_is_reported():
    msg = make_pointcloud2(msgs.new, _header(), np.zeros((0, 4)))
    msg.point_step = 0
    with pytest.raises(PointCloudError, match="point_step"):
        read_points(msg)


@pytest.mark.parametrize("shape", [(8, 3), (12,), (2, 4, 4)])
def test_make_pointcloud2_refuses_points_that_do_not_match_the_fields(shape):
    with pytest.raises(PointCloudError, match=r"expected \(N, 4\)"):
        make_pointcloud2(msgs.new, _header(), np.zeros(shape))
