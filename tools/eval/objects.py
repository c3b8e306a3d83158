"""Object-level scores of a run: which actors the lidar saw, lidar recall and tracking (MOT).

An actor counts as seen at a lidar stamp when it is within ``RANGE_M`` of the ego with at least
``MIN_POINTS`` returns above the ground inside its box; detections and tracks match within
``MATCH_M`` of its centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.lidar.pointcloud import PointCloudError, read_points
from tools.eval.groundtruth import GroundTruth, to_map, uuid_int
from tools.eval.metrics import MotAccumulator, match_by_distance

RANGE_M = 40.0
MATCH_M = 2.0
MIN_POINTS = 3


def _lidar_extrinsic(
    tf_msgs: list[tuple[int, Any]], frame: str = "lidar_top"
) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial.transform import Rotation

    for _, msg in tf_msgs:
        for tf in msg.transforms:
            if tf.child_frame_id == frame:
                t, q = tf.transform.translation, tf.transform.rotation
                return Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), np.array(
                    [t.x, t.y, t.z]
                )
    return np.eye(3), np.zeros(3)


@dataclass
class SkippedCloud:
    """A scenario lidar cloud that cannot be read, so its stamp scores no lidar recall."""

    topic: str
    stamp_ns: int
    reason: str


def _cloud_xyz(msg: Any) -> np.ndarray:
    """x, y, z of every point (float64); PointCloudError names sizes or fields that disagree."""
    return read_points(msg).astype(np.float64)


def visible_actors(
    gt: GroundTruth,
    clouds: list[tuple[int, Any]],
    tf_msgs: list,
    skipped: list[SkippedCloud],
    topic: str,
) -> dict[int, set[int]]:
    """Per lidar stamp: ids of actors within range with >= MIN_POINTS lidar returns.

    A cloud that cannot be read is left out (no stamp, so it scores nothing) and appended to
    ``skipped``.
    """
    rot, trans = _lidar_extrinsic(tf_msgs)
    out: dict[int, set[int]] = {}
    for stamp, msg in clouds:
        try:
            xyz = _cloud_xyz(msg)
        except PointCloudError as exc:
            skipped.append(SkippedCloud(topic, stamp, str(exc)))
            continue
        base = xyz @ rot.T + trans
        base = base[base[:, 2] > 0.25]
        ego = gt.ego_at(stamp)
        pts = to_map(base[:, :2], ego)
        seen = set()
        for aid, _label, pose, (length, width) in gt.actors_at(stamp):
            if np.hypot(*(pose[:2] - ego[:2])) > RANGE_M:
                continue
            c, s = np.cos(pose[2]), np.sin(pose[2])
            rel = pts - pose[:2]
            lx = rel[:, 0] * c + rel[:, 1] * s
            ly = -rel[:, 0] * s + rel[:, 1] * c
            inside = (np.abs(lx) <= length / 2 + 0.2) & (np.abs(ly) <= width / 2 + 0.2)
            if inside.sum() >= MIN_POINTS:
                seen.add(aid)
        out[stamp] = seen
    return out


def _objects_xy_map(gt: GroundTruth, stamp: int, msg: Any) -> np.ndarray:
    xy = np.array(
        [
            [
                o.kinematics.pose_with_covariance.pose.position.x,
                o.kinematics.pose_with_covariance.pose.position.y,
            ]
            for o in msg.objects
        ]
    ).reshape(-1, 2)
    if msg.header.frame_id == "map":
        return xy
    return to_map(xy, gt.ego_at(stamp))


def _nearest(stamps: np.ndarray, t: int) -> int:
    i = int(np.clip(np.searchsorted(stamps, t), 1, len(stamps) - 1)) if len(stamps) > 1 else 0
    if len(stamps) > 1 and abs(stamps[i - 1] - t) < abs(stamps[i] - t):
        i -= 1
    return int(stamps[i])


def lidar_recall(
    gt: GroundTruth, objs: list[tuple[int, Any]], visible: dict[int, set[int]]
) -> tuple[float, int]:
    found = total = 0
    for stamp, msg in objs:
        seen = visible.get(stamp)
        if seen is None:
            continue
        actors = [(aid, pose) for aid, _l, pose, _s in gt.actors_at(stamp) if aid in seen]
        if not actors:
            continue
        pred = _objects_xy_map(gt, stamp, msg)
        pairs = match_by_distance(np.array([p[:2] for _, p in actors]), pred, MATCH_M)
        found += len(pairs)
        total += len(actors)
    return (found / total if total else float("nan")), total


def tracking(
    gt: GroundTruth, tracks: list[tuple[int, Any]], visible: dict[int, set[int]]
) -> MotAccumulator:
    acc = MotAccumulator(max_dist=MATCH_M)
    lidar_stamps = np.array(sorted(visible), dtype=np.int64)
    if not len(lidar_stamps):
        return acc
    for stamp, msg in tracks:
        seen = visible[_nearest(lidar_stamps, stamp)]
        ego = gt.ego_at(stamp)
        actors = [(aid, pose) for aid, _l, pose, _s in gt.actors_at(stamp)]
        ids = [a for a, _ in actors]
        xy = np.array([p[:2] for _, p in actors]).reshape(-1, 2)
        ignore = np.array(
            [a not in seen or np.hypot(*(p[:2] - ego[:2])) > RANGE_M for a, p in actors], bool
        )
        trk_xy = _objects_xy_map(gt, stamp, msg)
        in_range = (
            np.hypot(*(trk_xy - ego[:2]).T) <= RANGE_M + MATCH_M
            if len(trk_xy)
            else np.zeros(0, bool)
        )
        trk_ids = [uuid_int(o.object_id) for o in msg.objects]
        trk_ids = [t for t, keep in zip(trk_ids, in_range) if keep]
        acc.update(ids, xy, trk_ids, trk_xy[in_range], ignore)
    return acc
