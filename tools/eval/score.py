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

from perception.tracking.vehicle_motion import is_vehicle
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
)
from tools.eval.metrics import MotAccumulator, rmse
from tools.eval.objects import SkippedCloud, lidar_recall, tracking, visible_actors
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
            vehicles_at(gt),
        ),
        "messages": {k: len(out[k]) for k in sorted(out)},
        "skipped_clouds": {
            "count": len(skipped),
            "first": [dataclasses.asdict(c) for c in skipped[:MAX_SKIPPED_LISTED]],
        },
        "conventions": _conventions(),
    }
    return _finite_or_none(result)


def vehicles_at(gt: GroundTruth) -> lights.VehiclesAt:
    """The true vehicles at a stamp as ``lights.plan_signal_scores`` takes them: (K, 4) rows of
    x, y, length, speed."""
    tracks = [t for t in gt.actors.values() if is_vehicle(t.label)]

    def at(stamp: int) -> np.ndarray:
        rows = []
        for track in tracks:
            pose = track.at(stamp)
            if pose is not None:
                speed = float(track.speeds(np.array([stamp]))[0])
                rows.append((pose[0], pose[1], track.size[0], speed))
        return np.array(rows, dtype=np.float64).reshape(-1, 4)

    return at


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
