"""Score a localization run on a log without ground truth: against the log's own GNSS fixes.

- **distance to the fixes**: the fused base_link position, interpolated at each valid fix's
  stamp, against the fix in the map frame: p50 / p95 / max (m). The antenna's lever arm is not
  removed, so a figure includes up to its horizontal length;
- **rejected**: the share of fixes the EKF did not use (its counted ``/sensing/gnss/fix`` drops:
  gated as outliers or too old), read from the run's trace;
- **drift** (``align_first_s``): for a run replayed without GNSS (``l4 replay --topics`` leaving
  the fix topic out), the track is in a frame of its own; it is aligned rigidly to the fixes of
  its first ``align_first_s`` seconds, and the distance to the later fixes measures how far dead
  reckoning drifts: p50/p95/max, at the end, and as a share of the distance driven.

The map frame's origin must be the one the EKF used: the ``map_path`` given to both (a
scenario's map.npz), or else the first valid fix, as EkfLocalizer takes it without an origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from perception.localization.geodesy import LocalTangentPlane
from perception.localization.gnss_align import align
from perception.localization.params import origin_from_map
from stack import topics
from stack.trace.fileformat import read_trace
from tools.eval.groundtruth import EvalError, read_topics

_EVENTS = 9  # CallbackRecord.events
_NO_FIX = -1


def _fixes(bag: Path, topic: str) -> tuple[np.ndarray, np.ndarray]:
    """(stamps ns, lat/lon/alt) of the valid fixes of ``topic``."""
    msgs = read_topics(bag, [topic])[topic]
    rows = [
        (t, m.latitude, m.longitude, m.altitude)
        for t, m in msgs
        if m.status.status > _NO_FIX and np.isfinite(m.latitude) and np.isfinite(m.longitude)
    ]
    if not rows:
        raise EvalError(f"{bag}: no valid fix on {topic}; name the log's topic with --gnss-topic")
    arr = np.array(rows, float)
    return arr[:, 0].astype(np.int64), arr[:, 1:]


def _plane(map_path: Path | None, first: np.ndarray) -> LocalTangentPlane:
    origin = origin_from_map(str(map_path)) if map_path else None
    if origin is not None:
        return LocalTangentPlane(*origin)
    alt = first[2] if np.isfinite(first[2]) else 0.0
    return LocalTangentPlane(first[0], first[1], alt)


def _track(outputs: Path) -> tuple[np.ndarray, np.ndarray]:
    msgs = read_topics(outputs, [topics.LOCALIZATION_ODOMETRY])[topics.LOCALIZATION_ODOMETRY]
    if len(msgs) < 2:
        raise EvalError(f"{outputs}: fewer than 2 {topics.LOCALIZATION_ODOMETRY} messages")
    t = np.array([s for s, _ in msgs], np.int64)
    xy = np.array([[m.pose.pose.position.x, m.pose.pose.position.y] for _, m in msgs])
    return t, xy


def rejected_fixes(trace: Path) -> int:
    """How many GNSS fixes the localization node counted as dropped (gated or stale)."""
    if not trace.exists():
        raise EvalError(f"{trace}: no trace; replay without --no-trace to count rejected fixes")
    prefix = f"{topics.GNSS_FIX}: fix at"
    return sum(
        1
        for rec in read_trace(trace).records
        for _, detail in rec[_EVENTS]
        if str(detail).startswith(prefix)
    )


def _stats(d: np.ndarray) -> dict[str, float]:
    return {
        "p50_m": float(np.percentile(d, 50)),
        "p95_m": float(np.percentile(d, 95)),
        "max_m": float(d.max()),
    }


def score_against_gnss(
    run_dir: Path,
    bag: Path,
    gnss_topic: str = topics.GNSS_FIX,
    align_first_s: float = 0.0,
    map_path: Path | None = None,
) -> dict[str, Any]:
    """The figures above for ``run_dir`` (a `l4 replay` run of ``bag``)."""
    stamps, lla = _fixes(bag, gnss_topic)
    plane = _plane(map_path, lla[0])
    fix_xy = np.array([plane.to_enu(*row)[:2] for row in lla])
    t, xy = _track(run_dir / "outputs")
    inside = (stamps >= t[0]) & (stamps <= t[-1])
    if inside.sum() < 2:
        raise EvalError(f"{run_dir}: the track and the fixes of {bag} do not overlap in time")
    at = np.column_stack([np.interp(stamps[inside], t, xy[:, i]) for i in (0, 1)])
    fixes, fix_t = fix_xy[inside], stamps[inside]
    result: dict[str, Any] = {"fixes": len(stamps), "fixes_scored": int(inside.sum())}
    if align_first_s > 0:
        return {**result, **_drift(at, fixes, fix_t, align_first_s, xy)}
    result["distance_to_fixes"] = _stats(np.hypot(*(at - fixes).T))
    rejected = rejected_fixes(run_dir / "trace.l4t")
    result["rejected"] = rejected
    result["rejected_share"] = rejected / len(stamps)
    return result


def _drift(
    at: np.ndarray, fixes: np.ndarray, fix_t: np.ndarray, first_s: float, track: np.ndarray
) -> dict[str, Any]:
    early = fix_t <= fix_t[0] + first_s * 1e9
    found = align(at[early], fixes[early], tolerance_m=5.0, min_span_m=1.0)
    if found is None or early.sum() < 3:
        raise EvalError(f"the first {first_s:g} s of the track do not span enough to align")
    later = ~early
    if not later.any():
        raise EvalError(f"no fix after the first {first_s:g} s to measure drift against")
    d = np.hypot(*(found.apply(at[later]) - fixes[later]).T)
    driven = float(np.hypot(*np.diff(track, axis=0).T).sum())
    return {
        "aligned_on_first_s": first_s,
        "drift": {**_stats(d), "final_m": float(d[-1])},
        "driven_m": driven,
        "final_drift_share": float(d[-1]) / driven if driven > 0 else float("nan"),
    }
