"""Traffic-light scores of a run: light-state accuracy, red-light violations, needless stops.

- ``light_accuracy``: every head the camera shows with its lit lamp visible, at least half of its
  housing in view and within ``near`` metres (/ground_truth/traffic_light_rois), against the
  state the recognizer published for its group at that image's stamp; a group missing from the
  output counts as UNKNOWN (wrong). Per true state and overall.
- ``red_light_violations``: plans published while the ego's head is RED (ground truth) that
  cross its stop line with the front bumper within the plan horizon, although a stop needing at
  most ``max_stop_decel`` was still possible; counted per plan and per (group, red phase).
- ``needless_stops``: plans while the ego's head is GREEN, within ``stop_window`` metres of its
  line, whose front bumper comes to a standstill in the last ``line_band`` metres before the
  line (where a light stop puts it; a stop behind a vehicle queued at the line ends further
  back) while the recorded drive (which obeys lights and traffic) is still moving there. A halt
  that a true vehicle ahead explains is not needless: one within ``min_gap`` + ``gap_slack``
  metres behind where that vehicle's rear would stand if it braked at ``lead_brake_decel`` now
  (the planner's RSS stop: ``prediction.lead_brake_decel`` in ``launch/replay.yaml``). Those are
  counted apart as ``green_stops_behind_vehicle``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from perception.traffic_light.lightmap import LightState, load_light_map
from planning.vehicle import VehicleShape
from planning.velocity import LongitudinalConfig
from stack import topics
from stack.msgs.stamps import stamp_to_ns
from tools.scenario import topics as scenario_topics

GT_SIGNALS = scenario_topics.GT_TRAFFIC_SIGNALS
GT_ROIS = scenario_topics.GT_TRAFFIC_LIGHT_ROIS
SIGNALS = topics.TRAFFIC_SIGNALS
LEAD_BRAKE_DECEL = 8.0  # m/s^2: launch/replay.yaml's prediction.lead_brake_decel
CORRIDOR_HALF_WIDTH = 2.0  # m either side of the ego's heading line: a vehicle in its lane

# Per true vehicle at a stamp: x, y (centre, map frame), length (m), speed (m/s); (K, 4).
VehiclesAt = Callable[[int], np.ndarray]


def _states(msg: Any) -> dict[int, int]:
    return {
        int(g.traffic_light_group_id): int(g.elements[0].color) if g.elements else 0
        for g in msg.traffic_light_groups
    }


def light_accuracy(
    gt_rois: list[tuple[int, Any]], out: list[tuple[int, Any]], near: float = 60.0
) -> dict[str, Any]:
    published = {stamp_to_ns(m.stamp): _states(m) for _, m in out}
    hits: dict[str, list[bool]] = {s.name: [] for s in LightState if s is not LightState.UNKNOWN}
    on_output: list[bool] = []  # the same heads, only on frames the recognizer answered
    for _, msg in gt_rois:
        stamp = stamp_to_ns(msg.header.stamp)
        for det in msg.detections:
            hyp = det.results[0]
            truth = hyp.hypothesis.class_id
            if truth == "UNKNOWN" or hyp.hypothesis.score < 0.5 or hyp.pose.pose.position.z > near:
                continue
            got = published.get(stamp, {}).get(int(det.id), 0)
            hits[truth].append(got == LightState[truth].value)
            if stamp in published:
                on_output.append(hits[truth][-1])
    per = {k: (round(float(np.mean(v)), 4) if v else None) for k, v in hits.items()}
    every = [h for v in hits.values() for h in v]
    return {
        "light_accuracy": round(float(np.mean(every)), 4) if every else None,
        "light_accuracy_by_state": per,
        "light_heads_scored": {k: len(v) for k, v in hits.items()},
        "light_frames_published": len(published),
        # A frame the recognizer never answered (dropped under load: its input queue holds the
        # newest image only) scores its heads as UNKNOWN above; apart, as classification alone:
        "light_heads_on_unanswered_frames": len(every) - len(on_output),
        "light_accuracy_answered": round(float(np.mean(on_output)), 4) if on_output else None,
    }


def _crossings(path: np.ndarray, line: np.ndarray) -> bool:
    """Whether a polyline of front-bumper points crosses the stop line (segment (2,2))."""
    a, b = line
    direction = b - a
    normal = np.array([-direction[1], direction[0]])
    side = (path - a) @ normal
    along = (path - a) @ direction / max(direction @ direction, 1e-9)
    flips = np.flatnonzero(np.sign(side[:-1]) * np.sign(side[1:]) < 0)
    return any(-0.1 <= along[i] <= 1.1 for i in flips)


def lead_stop_ahead(
    vehicles: np.ndarray, ego_front: np.ndarray, heading: np.ndarray, decel: float
) -> float | None:
    """Metres ahead of the ego's front bumper to where the nearest vehicle ahead in its corridor
    would stand (its rear) after braking at ``decel`` from now; None without one."""
    if not len(vehicles):
        return None
    rel = vehicles[:, :2] - ego_front
    along = rel @ heading
    across = rel @ np.array([-heading[1], heading[0]])
    rear = along - 0.5 * vehicles[:, 2]
    ahead = (rear > 0) & (np.abs(across) <= CORRIDOR_HALF_WIDTH)
    if not ahead.any():
        return None
    stops = rear[ahead] + vehicles[ahead, 3] ** 2 / (2 * decel)
    return float(stops.min())


def plan_signal_scores(
    map_path: Path,
    gt_signals: list[tuple[int, Any]],
    trajs: list[tuple[int, Any]],
    ego_at,
    vehicles_at: VehiclesAt | None = None,
    lane_index: int = 0,
    max_stop_decel: float = 6.0,
    stop_window: float = 15.0,
    line_band: float = 2.5,
    lead_brake_decel: float = LEAD_BRAKE_DECEL,
    gap_slack: float = 1.0,
) -> dict[str, Any]:
    lights = load_light_map(map_path) if map_path.exists() else None
    if lights is None or not gt_signals:
        return {
            "red_light_violations": None,
            "needless_stops": None,
            "green_stops_behind_vehicle": None,
        }
    heads = np.flatnonzero(lights.lanes[:, lane_index])
    gt_t = np.array([s for s, _ in gt_signals])
    gt_states = [_states(m) for _, m in gt_signals]
    centres = lights.stop_center
    front = VehicleShape().front
    violations, phases, needless, behind = 0, set(), 0, 0
    explained_within = LongitudinalConfig().min_gap + gap_slack
    for stamp, msg in trajs:
        k = max(0, int(np.searchsorted(gt_t, stamp, side="right")) - 1)
        pts = np.array([(p.pose.position.x, p.pose.position.y) for p in msg.points])
        yaw = np.array(
            [2 * np.arctan2(p.pose.orientation.z, p.pose.orientation.w) for p in msg.points]
        )
        speeds = np.array([p.longitudinal_velocity_mps for p in msg.points])
        if len(pts) < 2:
            continue
        bumper = pts + front * np.column_stack([np.cos(yaw), np.sin(yaw)])
        # Points past where the plan stops (v = 0) only give steering a target: not driven.
        halt = np.flatnonzero(speeds < 0.1)
        driven = bumper[: halt[0] + 1] if len(halt) else bumper
        ego = ego_at(stamp)
        heading = np.array([np.cos(ego[2]), np.sin(ego[2])])
        ego_front = ego[:2] + front * heading
        moving = (
            np.hypot(*(ego_at(stamp + 200_000_000)[:2] - ego_at(stamp - 200_000_000)[:2])) / 0.4
        )
        for h in heads:
            line = lights.stop_line[h]
            dist = float((centres[h] - ego_front) @ heading)
            if dist < 0 or dist > 120:
                continue
            state = gt_states[k].get(int(lights.head_group[h]), 0)
            if state == LightState.RED and len(driven) > 1 and _crossings(driven, line):
                v = speeds[0]
                if v * v / (2 * max(dist, 0.05)) <= max_stop_decel:
                    violations += 1
                    phases.add((int(lights.head_group[h]), int(gt_t[k] // 10**9 // 30)))
            if state == LightState.GREEN and dist <= stop_window and moving > 1.0 and len(halt):
                ahead = float((bumper[halt[0]] - ego_front) @ heading)
                if not dist - line_band <= ahead <= dist:
                    continue
                lead = None
                if vehicles_at is not None:
                    lead = lead_stop_ahead(vehicles_at(stamp), ego_front, heading, lead_brake_decel)
                if lead is not None and ahead >= lead - explained_within:
                    behind += 1
                else:
                    needless += 1
    return {
        "red_light_violations": violations,
        "red_light_violation_phases": len(phases),
        "needless_stops": needless,
        "green_stops_behind_vehicle": behind,
    }
