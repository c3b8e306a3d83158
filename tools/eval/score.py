"""Score a replay run against the ground truth of its scenario bag (`l4 eval`).

Conventions (stated in the JSON under "conventions"):
- camera AP@0.5 is for vehicles (car and truck as one class) in the image plane; ground truth
  under 35 % visible or under 16 px tall is ignored (found or not, it costs nothing), the
  rules the shipped detector's model card uses;
- lidar recall counts ground-truth actors within 40 m of the ego that the lidar saw (>= 3 points
  above the ground inside the box); a detection matches within 2 m of the centre;
- MOTA / ID switches use the same visible-within-40 m ground truth and 2 m matching;
- a scenario lidar cloud whose sizes or fields cannot be read is skipped and counted
  (``skipped_clouds``: count, and the first few with topic, stamp and reason); its stamp scores
  no lidar recall;
- localization RMSE is over the position error after a 2 s warm-up;
- min clearance, contacts and their fault: see below (tools.eval.collisions);
- control error is the cross-track distance from the planned path of the pose a kinematic
  bicycle reaches after 1 s under each command, started from the true pose.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.lidar.pointcloud import PointCloudError, read_points
from tools.eval import collisions, lights
from tools.eval.collisions import (
    EGO_CENTER_AHEAD,
    LaneStrips,
    ego_footprint_centers,
    min_clearance,
    plan_clearance,
    plan_poses,
)
from tools.eval.groundtruth import (
    EvalError,
    GroundTruth,
    load_ground_truth,
    read_topics,
    to_map,
    uuid_int,
)
from tools.eval.metrics import (
    MotAccumulator,
    match_by_distance,
    rmse,
)
from tools.eval.variants import split_by_variant


@dataclass(frozen=True)
class Topics:
    gt_objects: str = "/ground_truth/objects"
    gt_ego: str = "/ground_truth/ego_pose"
    gt_boxes: str = "/ground_truth/camera_boxes"
    lidar: str = "/sensing/lidar/top/points"
    tf_static: str = "/tf_static"
    camera_2d: str = "/perception/camera/detections2d"
    lidar_objects: str = "/perception/lidar/objects"
    tracked: str = "/perception/objects"
    odometry: str = "/localization/odometry"
    trajectory: str = "/planning/trajectory"
    command: str = "/control/command"


log = logging.getLogger(__name__)
VEHICLES = {"car", "truck", "bus", "trailer"}
RANGE_M = 40.0
MATCH_M = 2.0
MIN_POINTS = 3
WARMUP_NS = 2_000_000_000
WHEELBASE = 2.8
MAX_SKIPPED_LISTED = 10  # skipped clouds named in the JSON (all are counted)


def camera_ap(gt: GroundTruth, dets: list[tuple[int, Any]]) -> tuple[float, float, int]:
    """Vehicle AP@0.5 (car and truck matched as one class) with the detector's own rules for
    which ground truth counts (perception.detector.metrics, tools.train.data.BoxRules)."""
    from perception.detector.metrics import APAccumulator
    from tools.train.data import BoxRules

    acc = APAccumulator(sorted(VEHICLES), 0.5, groups={"vehicle": sorted(VEHICLES)})
    rules = BoxRules()
    frames = 0
    for stamp, msg in dets:
        rows = gt.camera_boxes.get(stamp)
        if rows is None:
            continue
        frames += 1
        gt_xyxy = _xyxy(np.array([box for _, _, box, _ in rows]))
        visible = np.array([vis for _, _, _, vis in rows], dtype=float)
        boxes, scores, names = [], [], []
        for det in msg.detections:
            hyp = det.results[0].hypothesis if len(det.results) else None
            if hyp is None:
                continue
            c = det.bbox.center.position
            boxes.append([c.x, c.y, det.bbox.size_x, det.bbox.size_y])
            scores.append(hyp.score)
            names.append(hyp.class_id)
        acc.add(
            _xyxy(np.array(boxes)),
            np.array(scores),
            names,
            gt_xyxy,
            [cls for _, cls, _, _ in rows],
            rules.ignore(gt_xyxy, visible) if len(rows) else None,
        )
    result = acc.results()["vehicle"]
    return result.ap, result.recall, frames


def _xyxy(cxcywh: np.ndarray) -> np.ndarray:
    b = np.asarray(cxcywh, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2])


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


def localization_rmse(gt: GroundTruth, odom: list[tuple[int, Any]]) -> float:
    if not odom:
        return float("nan")
    t0 = odom[0][0]
    rows = [
        (s, m.pose.pose.position.x, m.pose.pose.position.y) for s, m in odom if s - t0 >= WARMUP_NS
    ]
    if not rows:
        return float("nan")
    arr = np.array(rows, dtype=np.float64)
    truth = gt.ego_at(arr[:, 0].astype(np.int64))
    return rmse(np.hypot(arr[:, 1] - truth[:, 0], arr[:, 2] - truth[:, 1]))


def control_error(
    gt: GroundTruth, cmds: list[tuple[int, Any]], trajs: list[tuple[int, Any]]
) -> float:
    if not cmds or not trajs:
        return float("nan")
    traj_stamps = np.array([s for s, _ in trajs], dtype=np.int64)
    errors = []
    for stamp, cmd in cmds:
        i = int(np.searchsorted(traj_stamps, stamp, side="right")) - 1
        if i < 0:
            continue
        path = plan_poses(gt, trajs[i][0], trajs[i][1]).xyyaw
        if len(path) < 2:
            continue
        x, y, yaw = gt.ego_at(stamp)
        v, delta = float(cmd.drive.speed), float(cmd.drive.steering_angle)
        for _ in range(10):  # 1 s in 0.1 s steps
            x += v * np.cos(yaw) * 0.1
            y += v * np.sin(yaw) * 0.1
            yaw += v / WHEELBASE * np.tan(delta) * 0.1
        a, b = path[:-1, :2], path[1:, :2]
        ab = b - a
        t = np.clip(
            np.einsum("ij,ij->i", [x, y] - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-9),
            0,
            1,
        )
        errors.append(float(np.min(np.linalg.norm(a + t[:, None] * ab - [x, y], axis=1))))
    return float(np.mean(errors)) if errors else float("nan")


def score_run(
    outputs_bag: Path,
    scenario_bag: Path,
    topics: Topics | None = None,
    variants: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """Scores of a run's outputs; ``variants`` (image stamp -> model variant, from the trace)
    adds the camera AP per variant."""
    topics = topics or Topics()
    gt_topics = [topics.gt_objects, topics.gt_ego, topics.gt_boxes]
    light_gt = [lights.GT_SIGNALS, lights.GT_ROIS]
    sensors = read_topics(scenario_bag, [*gt_topics, topics.lidar, topics.tf_static, *light_gt])
    gt = load_ground_truth(scenario_bag, *gt_topics, data=sensors)
    out = read_topics(
        outputs_bag,
        [
            topics.camera_2d,
            topics.lidar_objects,
            topics.tracked,
            topics.odometry,
            topics.trajectory,
            topics.command,
            lights.SIGNALS,
        ],
    )
    skipped: list[SkippedCloud] = []
    visible = visible_actors(
        gt, sensors[topics.lidar], sensors[topics.tf_static], skipped, topics.lidar
    )
    _warn_skipped(scenario_bag, skipped)
    recall, lidar_gt = lidar_recall(gt, out[topics.lidar_objects], visible)
    mot = tracking(gt, out[topics.tracked], visible)
    map_path = Path(scenario_bag) / "map.npz"
    clearance = plan_clearance(gt, out[topics.trajectory], LaneStrips.from_map(map_path))
    result = {
        **_camera_scores(gt, out[topics.camera_2d], variants or {}),
        "lidar_recall": recall,
        "lidar_gt_objects": lidar_gt,
        **_tracking_scores(mot),
        "loc_rmse_m": localization_rmse(gt, out[topics.odometry]),
        **collisions.clearance_scores(clearance),
        "control_error_m": control_error(gt, out[topics.command], out[topics.trajectory]),
        **lights.light_accuracy(sensors[lights.GT_ROIS], out[lights.SIGNALS]),
        **lights.plan_signal_scores(
            map_path,
            sensors[lights.GT_SIGNALS],
            out[topics.trajectory],
            gt.ego_at,
        ),
        "messages": {k: len(v) for k, v in out.items()},
        "skipped_clouds": {
            "count": len(skipped),
            "first": [dataclasses.asdict(c) for c in skipped[:MAX_SKIPPED_LISTED]],
        },
        "conventions": _conventions(),
    }
    return _finite_or_none(result)


def _warn_skipped(scenario_bag: Path, skipped: list[SkippedCloud]) -> None:
    if skipped:
        first = skipped[0]
        log.warning(
            "%s: %d lidar cloud(s) on %s cannot be read and are skipped (first at %d ns: %s)",
            scenario_bag, len(skipped), first.topic, first.stamp_ns, first.reason,
        )  # fmt: skip


def _camera_scores(
    gt: GroundTruth, dets: list[tuple[int, Any]], variants: Mapping[int, str]
) -> dict[str, Any]:
    """Camera AP@0.5, recall and frames, overall and per model variant."""
    ap, recall, frames = camera_ap(gt, dets)
    by_variant = {
        name: _finite_or_none(dict(zip(("ap50", "recall", "frames"), camera_ap(gt, part))))
        for name, part in split_by_variant(dets, variants).items()
    }
    return {"camera_ap50": ap, "camera_recall": recall, "camera_frames": frames,
            "camera_ap50_by_variant": by_variant}  # fmt: skip


def _tracking_scores(mot: MotAccumulator) -> dict[str, Any]:
    counts = {"gt": mot.gt_count, "misses": mot.misses, "false_positives": mot.false_positives}
    return {"mota": mot.mota, "id_switches": mot.id_switches, "mot_counts": counts}


def _conventions() -> str:
    """This module's conventions, then those of the clearance and contacts."""
    own = (__doc__ or "").split('Conventions (stated in the JSON under "conventions"):')[-1]
    plans = (collisions.__doc__ or "").split("Conventions (score.py puts them")[-1]
    return own.strip() + "\n" + plans.split(":", 1)[-1].strip()


def _finite_or_none(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in values.items()
    }


def write_json(result: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(result, indent=2) + "\n")


__all__ = [
    "EGO_CENTER_AHEAD",
    "EvalError",
    "Topics",
    "ego_footprint_centers",
    "min_clearance",
    "score_run",
    "write_json",
]
