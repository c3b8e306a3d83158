"""`l4 bench lidar_structure`: lidar objects per sweep without a static map, structure cues off
vs on, on a demo drive (seed 1001, 20 s, or 5 s with --quick; generated once and cached as
`l4 demo` caches it).

Reports objects per sweep, objects not within 2.5 m of any ground-truth road user (structure
taken for obstacles), the recall of road users within 40 m (a box centre within 2 m) and the
structure stage's p50 ms, for ``structure.mode`` off, drop (shape cues per sweep) and persist
(drop with tracking persistence, perception/lidar/persistence.py, placed with the ground-truth
ego pose). Target, for persist: structure objects per sweep <= 5, and recall lost to the cues
<= 0.01.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from perception.geometry import quaternion_to_yaw

MAX_FALSE = 5.0
MAX_RECALL_LOSS = 0.01
MATCH_M, FALSE_M, RANGE_M = 2.0, 2.5, 40.0


def _actors_in_base(objects: Any, ego: Any) -> np.ndarray:
    p = ego.pose.position
    yaw = quaternion_to_yaw(ego.pose.orientation)
    c, s = np.cos(yaw), np.sin(yaw)
    out = []
    for o in objects.objects:
        q = o.kinematics.pose_with_covariance.pose.position
        dx, dy = q.x - p.x, q.y - p.y
        out.append((c * dx + s * dy, -s * dx + c * dy))
    return np.array(out).reshape(-1, 2)


def _score(objs: Any, actors: np.ndarray, hits: list[int]) -> tuple[int, int]:
    """(objects, objects > FALSE_M from every road user); counts road users within RANGE_M
    matched by a box centre within MATCH_M into ``hits`` [matched, all]."""
    xy = objs.position[:, :2]
    false = sum(1 for o in xy if not len(actors) or np.hypot(*(actors - o).T).min() > FALSE_M)
    near = actors[np.hypot(*actors.T) <= RANGE_M] if len(actors) else actors
    for a in near:
        hits[1] += 1
        hits[0] += int(len(xy) > 0 and np.hypot(*(xy - a).T).min() < MATCH_M)
    return len(objs), false


def measure(bag: Path, every: int = 2) -> dict[str, Any]:
    from perception.geometry import Pose2D, RigidTransform
    from perception.lidar.persistence import StructurePersistence
    from perception.lidar.pipeline import ObstacleConfig, PipelineStats, detect_obstacles
    from perception.lidar.pointcloud import read_points
    from tools.eval.groundtruth import read_topics
    from tools.scenario import topics as st
    from tools.scenario.config import LidarModel

    msgs = read_topics(bag, [st.LIDAR_POINTS, st.GT_OBJECTS, st.GT_EGO_POSE])
    gt, ego = dict(msgs[st.GT_OBJECTS]), msgs[st.GT_EGO_POSE]
    ego_t = np.array([t for t, _ in ego])
    mount = RigidTransform.from_xyzrpy(*LidarModel().mount.xyz, 0.0, 0.0, 0.0)
    modes: dict[str, list] = {"off": [], "drop": [], "persist": []}
    hits = {m: [0, 0] for m in modes}
    cue_ms: dict[str, list[float]] = {m: [] for m in modes}
    cfg = {m: ObstacleConfig(structure={"mode": "off" if m == "off" else "drop"}) for m in modes}
    persistence = StructurePersistence(cfg["persist"].structure.persistence)
    for t, cloud in msgs[st.LIDAR_POINTS][::every]:
        pts = mount.apply(read_points(cloud).astype(np.float32))
        ego_msg = ego[int(np.argmin(np.abs(ego_t - t)))][1]
        actors = _actors_in_base(gt[t], ego_msg)
        # the ground-truth ego pose here; the node takes /localization/odometry's
        refine = partial(persistence.refine, t, Pose2D.from_pose_msg(ego_msg.pose))
        for mode, counts in modes.items():
            stats = PipelineStats()
            objs = detect_obstacles(
                pts, cfg[mode], stats, refine=refine if mode == "persist" else None
            )
            counts.append(_score(objs, actors, hits[mode]))
            cue_ms[mode].append(stats.ms.get("structure", 0.0))
    out: dict[str, Any] = {"sweeps": len(modes["off"])}
    for mode, counts in modes.items():
        arr = np.array(counts, float)
        out[mode] = {
            "objects_per_sweep": round(float(arr[:, 0].mean()), 2),
            "structure_per_sweep": round(float(arr[:, 1].mean()), 2),
            "recall_40m": round(hits[mode][0] / max(1, hits[mode][1]), 4),
            "structure_ms_p50": round(float(np.median(cue_ms[mode])), 2),
        }
    return out


def run(quick: bool = False) -> dict[str, Any]:
    from tools.demo.scenario import demo_scenario

    bag = demo_scenario(1001, 5.0 if quick else 20.0, "day", "light")
    out = measure(bag)
    loss = out["off"]["recall_40m"] - out["persist"]["recall_40m"]
    out.update(
        bag=str(bag),
        recall_lost=round(loss, 4),
        target={"structure_per_sweep": MAX_FALSE, "recall_lost": MAX_RECALL_LOSS},
        ok=out["persist"]["structure_per_sweep"] <= MAX_FALSE and loss <= MAX_RECALL_LOSS,
    )
    return out
