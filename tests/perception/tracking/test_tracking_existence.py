"""Existence probability against the clutter density (perception.tracking.existence), including
seed 1004's real tracker input in fog, and the per-class largest footprint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from perception.objects import Label, ObjectArray
from perception.tracking import existence as ex
from perception.tracking.tracker import MultiObjectTracker, TrackerConfig
from stack.errors import ParamError
from tests.perception.tracking.replay import detections

DT_NS = 100_000_000
DATA = Path(__file__).parent / "data" / "seed1004_fog_clutter.npz"
NEAR = 13.0  # m: fog clutter lies within 12 m of the lidar


def _fog_run(cfg: TrackerConfig) -> tuple[int, int]:
    """Replay seed 1004's fused detections in fog (6.0-10.5 s of the lockstep demo, dumped at the
    tracker's input with the ego position) and count, over all steps, confirmed tracks within
    NEAR m of the ego that are 2 m or more from every true road user (clutter), and true road
    users within NEAR m with a confirmed track within 2 m."""
    z = np.load(DATA)
    trk = MultiObjectTracker(cfg)
    clutter = found = 0
    for k, stamp in enumerate(z["stamp_ns"]):
        det = detections(z, k)
        ego = z["ego_xy"][k]
        trk.step(int(stamp), det, ego)
        pos = trk.confirmed_objects()[0].position[:, :2]
        truth = z["gt_xy"][z["gt_step"] == k]
        diff = pos[:, None] - truth[None]  # (tracks, truths, 2)
        dist = np.hypot(diff[..., 0], diff[..., 1])
        near_track = np.hypot(*(pos - ego).T) < NEAR
        near_truth = np.hypot(*(truth - ego).T) < NEAR
        clutter += int((near_track & (dist.min(axis=1, initial=np.inf) >= 2.0)).sum())
        found += int((near_truth & (dist.min(axis=0, initial=np.inf) < 2.0)).sum())
    return clutter, found


def test_seed1004_fog_without_existence_clutter_tracks_crowd_the_ego():
    # The failure: counting hits alone confirms tracks of fog returns around the ego.
    clutter, _ = _fog_run(TrackerConfig(existence={"enabled": False}))
    assert clutter > 300


def test_seed1004_fog_existence_removes_most_clutter_tracks_and_keeps_road_users():
    old_clutter, old_found = _fog_run(TrackerConfig(existence={"enabled": False}))
    clutter, found = _fog_run(TrackerConfig())
    assert clutter < 0.1 * old_clutter
    assert found >= 0.5 * old_found


def test_a_clear_day_track_confirms_after_min_hits_as_before():
    # No clutter anywhere: the density stays at its floor, and existence passes the
    # confirmation level by the third hit.
    trk = MultiObjectTracker()
    box = ObjectArray.create([[20.0, 0.0, 0.8]], [0.0], [[4.5, 1.8, 1.5]], [Label.CAR], [0.7])
    for k in range(3):
        trk.step(k * DT_NS, box, np.zeros(2))
        assert len(trk.confirmed_objects()[0]) == (1 if k == 2 else 0)
    assert trk.confirmed_objects()[1][0] > 0.99


def test_clutter_map_density_by_ring_and_floor():
    cfg = ex.ExistenceConfig(ring_edges=[0.0, 5.0, 10.0], clutter_smoothing=1.0)
    cmap = ex.ClutterMap(cfg)
    sensor = np.array([100.0, 0.0])
    pts = sensor + np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [7.0, 0.0]])
    cmap.observe(pts, sensor)
    ring0 = 3 / (np.pi * 25.0)
    assert cmap.at(sensor[None] + [[0.5, 0.0]], sensor)[0] == pytest.approx(ring0)
    assert cmap.at(sensor[None] + [[8.0, 0.0]], sensor)[0] == pytest.approx(1 / (np.pi * 75.0))
    # The open last ring (10-20 m counted) saw nothing: the floor.
    assert cmap.at(sensor[None] + [[15.0, 0.0]], sensor)[0] == cfg.clutter_floor
    # Without a sensor position the density is not updated and reads as the floor.
    cmap.observe(pts, None)
    assert cmap.at(pts[:1], None)[0] == cfg.clutter_floor


def test_existence_rises_with_likely_hits_and_falls_with_misses_and_clutter():
    cfg = ex.ExistenceConfig()
    r = np.array([0.5, 0.5])
    likely = ex.hit(r, np.array([1.0, 1.0]), np.array([1e-3, 1.0]), cfg)
    assert likely[0] > 0.99 and likely[1] < likely[0]
    unlikely = ex.hit(r, np.array([0.01, 0.01]), np.array([0.1, 0.1]), cfg)
    assert (unlikely < r).all()  # a detection where clutter is likelier than the track
    assert (ex.miss(r, cfg) < r).all()
    assert ex.hit(np.array([1.0]), np.array([1e3]), np.array([1e-3]), cfg)[0] < 1.0
    assert ex.predict(np.array([1.0]), 1.0, cfg)[0] == pytest.approx(cfg.survival_per_s)


def test_gaussian_density_matches_the_formula():
    s = np.array([[[2.0, 0.0], [0.0, 0.5]]])
    resid = np.array([[1.0, 0.5]])
    want = np.exp(-0.5 * (1.0 / 2.0 + 0.25 / 0.5)) / (2 * np.pi * np.sqrt(1.0))
    assert ex.gaussian_density(resid, s)[0] == pytest.approx(want)


def test_a_track_below_the_deletion_level_is_dropped():
    trk = MultiObjectTracker(TrackerConfig(max_misses=100))
    box = ObjectArray.create([[20.0, 0.0, 0.8]], [0.0], [[4.5, 1.8, 1.5]], [Label.CAR], [0.7])
    for k in range(5):
        trk.step(k * DT_NS, box, np.zeros(2))
    k = 5
    while len(trk.tracks) and k < 60:
        trk.step(k * DT_NS, ObjectArray.empty(), np.zeros(2))
        k += 1
    assert len(trk.tracks) == 0 and k < 60  # existence, not max_misses, ended it


def test_a_track_footprint_is_clipped_to_its_class():
    trk = MultiObjectTracker()
    person = ObjectArray.create(
        [[10.0, 3.0, 0.9]], [0.0], [[2.2, 1.1, 1.7]], [Label.PEDESTRIAN], [0.8]
    )
    truck = ObjectArray.create([[30.0, 0.0, 1.5]], [0.0], [[9.0, 3.7, 3.0]], [Label.TRUCK], [0.8])
    for k in range(3):
        trk.step(k * DT_NS, ObjectArray.concat([person, truck]))
    objs = trk.confirmed_objects()[0]
    dims = {int(label): d for label, d in zip(objs.label, objs.dims)}
    np.testing.assert_allclose(dims[Label.PEDESTRIAN][:2], [1.0, 1.0])
    np.testing.assert_allclose(dims[Label.TRUCK][:2], [9.0, 2.6])
    assert dims[Label.PEDESTRIAN][2] == pytest.approx(1.7)  # height untouched


@pytest.mark.parametrize(
    "bad",
    [
        {"existence": {"confirm_existence": 1.5}},
        {"existence": {"ring_edges": [1.0, 5.0]}},
        {"existence": {"ring_edges": [0.0, 5.0, 5.0]}},
        {"existence": {"clutter_floor": 0.0}},
        {"existence": {"detection_probability": 1.0}},
        {"max_footprint": {"LORRY": [10.0, 2.5]}},
        {"max_footprint": {"CAR": [5.0]}},
        {"max_footprint": {"CAR": [5.0, -1.0]}},
    ],
)
def test_bad_existence_and_footprint_settings_are_refused(bad):
    with pytest.raises(ParamError):
        TrackerConfig(**bad)
