"""sensor_msgs/PointCloud2 <-> numpy, without per-point Python work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stack.errors import L4Error
from stack.msgs.validate import pointcloud2_problem

POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
# sensor_msgs/PointField datatype constants.
_DATATYPES = {
    1: np.int8,
    2: np.uint8,
    3: np.int16,
    4: np.uint16,
    5: np.int32,
    6: np.uint32,
    7: np.float32,
    8: np.float64,
}
_FLOAT32 = 7


class PointCloudError(L4Error, ValueError):
    """A PointCloud2 message cannot be read as x, y, z points."""


def _field_dtype(msg: Any, names: Sequence[str]) -> np.dtype:
    fields = {f.name: f for f in msg.fields}
    spec: dict[str, list] = {"names": [], "formats": [], "offsets": [], "itemsize": msg.point_step}
    for name in names:
        field = fields.get(name)
        if field is None:
            raise PointCloudError(f"PointCloud2 has no field {name!r} (fields: {sorted(fields)})")
        base = _DATATYPES.get(field.datatype)
        if base is None:
            raise PointCloudError(
                f"PointCloud2 field {name!r} has unknown datatype {field.datatype}"
            )
        if field.offset + np.dtype(base).itemsize > msg.point_step:
            raise PointCloudError(
                f"PointCloud2 field {name!r} at offset {field.offset} exceeds point_step {msg.point_step}"
            )
        spec["names"].append(name)
        spec["formats"].append(np.dtype(base).newbyteorder(">" if msg.is_bigendian else "<"))
        spec["offsets"].append(field.offset)
    return np.dtype(spec)


def read_points(msg: Any, names: Sequence[str] = ("x", "y", "z")) -> np.ndarray:
    """The named fields of every point as an (N, len(names)) float32 array, non-finite rows dropped.

    Raises PointCloudError naming the field or size that does not fit (sizes: see
    stack.msgs.validate; a ``width`` that under-reports the data is refused, never read short).
    """
    problem = pointcloud2_problem(msg)
    if problem is not None:
        raise PointCloudError(problem)
    count = int(msg.width) * int(msg.height)
    data = np.frombuffer(msg.data, dtype=np.uint8)
    dtype = _field_dtype(msg, names)
    if msg.height > 1 and msg.row_step != msg.width * msg.point_step:
        rows = data.reshape(msg.height, msg.row_step)[:, : msg.width * msg.point_step]
        data = np.ascontiguousarray(rows).reshape(-1)
    if (
        len(names) == 3
        and all(dtype[n] == np.dtype("<f4") for n in names)
        and (dtype.fields["x"][1] + 4 == dtype.fields["y"][1] == dtype.fields["z"][1] - 4)
    ):
        # The common layout: x, y, z packed float32 — a strided view, one copy.
        start = dtype.fields["x"][1]
        raw = data[: count * msg.point_step].reshape(count, msg.point_step)[:, start : start + 12]
        points = np.ascontiguousarray(raw).view(np.float32)
    else:
        records = data[: count * msg.point_step].view(dtype)
        points = np.stack([records[n].astype(np.float32) for n in names], axis=1)
    if not msg.is_dense:
        points = points[np.isfinite(points).all(axis=1)]
    return points


def make_pointcloud2(
    new: Callable[..., Any],
    header: Any,
    points: np.ndarray,
    names: Sequence[str] = ("x", "y", "z", "intensity"),
) -> Any:
    """A PointCloud2 of float32 fields ``names`` from an (N, len(names)) array.

    PointCloudError for any other shape: an (N, 3) array with four names would otherwise be
    re-cut into rows of four, every point wrong."""
    points = np.ascontiguousarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != len(names):
        raise PointCloudError(
            f"points of shape {points.shape} do not match fields {tuple(names)}: "
            f"expected (N, {len(names)})"
        )
    fields = [
        new("sensor_msgs/msg/PointField", name=name, offset=4 * i, datatype=_FLOAT32, count=1)
        for i, name in enumerate(names)
    ]
    step = 4 * len(names)
    return new(
        POINTCLOUD2,
        header=header,
        height=1,
        width=len(points),
        fields=fields,
        is_bigendian=False,
        point_step=step,
        row_step=step * len(points),
        data=points.view(np.uint8).reshape(-1).copy(),
        is_dense=bool(np.isfinite(points).all()),
    )
