"""A confirmed track is not dragged by a box grown past its footprint
(perception.tracking.footprint.size_jump_cov), with seed 1005's real tracker input in fog."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.objects import Label, ObjectArray
from perception.tracking import footprint as fp
from perception.tracking.tracker import MultiObjectTracker, TrackerConfig

DATA = Path(__file__).parent / "data" / "seed1005_fog_lead_car.npz"


def _lead_existence() -> tuple[np.ndarray, np.ndarray]:
    """Replay seed 1005's fused detections in fog (6.0-11.3 s of the lockstep demo, dumped at the
    tracker's input with the ego position). A nearly stopped lead car 14 m ahead, a car 3.5 m to
    its left; from 10.0 s its lidar boxes merge with the neighbour (5.5 x 5.2 m), grow to 8.5 m
    or go missing. Per step: the time (s) and the highest existence of a confirmed track within
    2.5 m of the true lead car (0 where none; in fog its boxes sit up to 2 m short of its centre)."""
    z = np.load(DATA)
    trk = MultiObjectTracker(TrackerConfig())
    best = np.zeros(len(z["stamp_ns"]))
    for k, stamp in enumerate(z["stamp_ns"]):
        m = z["step"] == k
        n = int(m.sum())
        det = ObjectArray(
            z["position"][m].astype(float),
            z["yaw"][m].astype(float),
            z["dims"][m].astype(float),
            z["label"][m],
            z["score"][m].astype(float),
            np.zeros((n, 2)),
            z["cov_xy"][m].astype(float),
            np.zeros((n, 16), np.uint8),
        )
        trk.step(int(stamp), det, z["ego_xy"][k].astype(float))
        objs, existence, _ = trk.confirmed_objects()
        near = np.hypot(*(objs.position[:, :2] - z["lead_xy"][k]).T) < 2.5
        best[k] = existence[near].max(initial=0.0)
    return z["time_s"], best


def test_seed1005_fog_lead_car_keeps_a_certain_track():
    # The failure (before): the lead car's track was dragged 1 m toward the neighbour by the
    # merged boxes, lost its own boxes and its existence fell 1.0 -> 0.017 by 10.8 s; the planner
    # took it for doubtful (< 0.9) and then lost it, and the plan drove on (0.00 m clearance).
    time_s, best = _lead_existence()
    late = time_s >= 10.4
    assert late.sum() >= 9
    assert (best[late] >= 0.9).all(), list(zip(time_s[late].round(1), best[late].round(3)))


def test_size_jump_cov_grows_only_along_the_grown_axis():
    track = np.array([[4.5, 2.0, 1.5]])
    wide = np.array([[4.5, 5.0, 1.5]])  # merged with a neighbour: 3 m wider
    cov = fp.size_jump_cov(track, wide, np.array([0.0]))
    np.testing.assert_allclose(cov[0], [[0.0, 0.0], [0.0, 1.5**2]], atol=1e-12)
    # The box's axes turned 90 degrees: its width lies along x.
    cov = fp.size_jump_cov(track, wide, np.array([np.pi / 2]))
    np.testing.assert_allclose(cov[0], [[1.5**2, 0.0], [0.0, 0.0]], atol=1e-12)
    # A box no larger than the track (or smaller) adds nothing.
    small = np.array([[3.0, 1.8, 1.5]])
    np.testing.assert_allclose(fp.size_jump_cov(track, small, np.array([0.3])), 0.0)


def test_size_jump_cov_broadcasts_tracks_against_detections():
    tracks = np.array([[4.5, 2.0, 1.5], [1.0, 1.0, 1.7]])
    dets = np.array([[4.5, 2.0, 1.5], [8.5, 2.0, 1.5], [0.8, 0.8, 1.7]])
    cov = fp.size_jump_cov(tracks[:, None], dets[None], np.zeros(3))
    assert cov.shape == (2, 3, 2, 2)
    assert cov[0, 0].max() == 0.0 and cov[0, 1, 0, 0] == 2.0**2
    assert cov[1, 1, 0, 0] == 3.75**2 and cov[1, 1, 1, 1] == 0.5**2


def _one(x: float, y: float, length: float, width: float) -> ObjectArray:
    return ObjectArray(
        np.array([[x, y, 0.8]]),
        np.zeros(1),
        np.array([[length, width, 1.5]]),
        np.array([Label.CAR], np.uint8),
        np.ones(1),
        np.zeros((1, 2)),
        np.tile(np.eye(2) * 0.04, (1, 1, 1)),
        np.zeros((1, 16), np.uint8),
    )


def _standing_car() -> MultiObjectTracker:
    trk = MultiObjectTracker(TrackerConfig(existence={"enabled": False}))
    for k in range(6):
        trk.step(k * 100_000_000, _one(10.0, 0.0, 4.5, 2.0))
    return trk


def test_merged_box_barely_moves_a_confirmed_track():
    trk = _standing_car()
    # One sweep's box covers the car and 2 m of its neighbour to the left: centre 1 m off.
    # Before, it pulled the track 0.52 m left and gave it 1.7 m/s across the lane.
    trk.step(600_000_000, _one(10.0, 1.0, 4.5, 4.0))
    assert len(trk.tracks) == 1 and trk.tracks.misses[0] == 0  # still associated
    assert abs(trk.tracks.x[0, 1]) < 0.15
    assert abs(trk.tracks.x[0, 3]) < 0.5  # no lateral velocity made up from it


def test_box_of_the_same_size_moves_the_track_as_before():
    trk = _standing_car()
    trk.step(600_000_000, _one(10.0, 0.6, 4.5, 2.0))  # the car itself, 0.6 m to the left
    assert trk.tracks.x[0, 1] > 0.3
