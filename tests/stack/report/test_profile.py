"""Warm-up and sensor schedules of the profile a run leaves for the simulator."""

from __future__ import annotations

import numpy as np

from stack.report.profile import source_schedules, wakeup_delays_ns, warm_start_ns
from stack.trace.lineage import ChainSamples


def _samples(publish_ns: list[int]) -> ChainSamples:
    p = np.array(publish_ns, np.int64)
    return ChainSamples(p, np.zeros(len(p), np.int64), np.zeros(len(p), np.int64))


def test_warm_once_every_chain_delivered():
    samples = {"a": _samples([50, 90]), "b": _samples([70, 80])}
    assert warm_start_ns(samples, 10) == 70


def test_not_warm_when_a_chain_never_delivered():
    samples = {"a": _samples([50]), "b": _samples([])}
    assert warm_start_ns(samples, 10) == 10


def _rec(node: str, start: int, inputs: tuple, outputs: tuple = ()) -> tuple:
    return (node, "cb", "t", 0, start, start + 1000, inputs, outputs, "", ())


def test_schedules_from_bag_stamps_at_half_rate():
    # A bag with a 100 ms camera and a 10 ms IMU stamped in phase, the camera's first frame 5 ms
    # after the IMU's, replayed at rate 0.5 (2 wall ns per stamp ns) with jittery pickup.
    rng = np.random.default_rng(0)
    recs = []
    base, wall0 = 1_700_000_000_000_000_000, 10_000
    for k in range(40):
        stamp = base + 5_000_000 + k * 100_000_000
        wall = wall0 + 2 * (stamp - base) + int(rng.integers(0, 50_000))
        recs.append(_rec("det", wall, (("/cam", stamp),), (("/objects", wall + 900, {}),)))
    for k in range(400):
        stamp = base + k * 10_000_000
        wall = wall0 + 2 * (stamp - base) + int(rng.integers(0, 50_000))
        recs.append(_rec("ekf", wall, (("/imu", stamp),)))
    # /objects is published inside the graph: not a source even though it is consumed.
    recs.append(_rec("track", wall0, (("/objects", base),)))
    out = source_schedules(recs)
    assert set(out) == {"/cam", "/imu"}
    assert abs(out["/cam"].period_ns - 200_000_000) < 200_000
    assert abs(out["/imu"].period_ns - 20_000_000) < 20_000
    assert out["/imu"].phase_ns == 0
    assert abs(out["/cam"].phase_ns - 10_000_000) < 100_000


def test_too_few_messages_give_no_schedule():
    recs = [_rec("n", 1000 * k, (("/once", k),)) for k in range(2)]
    assert source_schedules(recs) == {}


def test_sources_stamped_alike_keep_their_arrival_order():
    # On one worker thread /b is always taken up before /a at the same stamp (the bag lists
    # /b first); /c runs on another thread and says nothing about the order.
    recs = []
    for k in range(10):
        stamp, wall = k * 100_000_000, 1_000 + k * 100_000_000
        recs.append(("nb", "cb", "w0", 0, wall, wall + 1_000, (("/b", stamp),), (), "", ()))
        recs.append(("na", "cb", "w0", 0, wall + 2_000, wall + 3_000, (("/a", stamp),), (), "", ()))
        recs.append(("nc", "cb", "w1", 0, wall + 500, wall + 900, (("/c", stamp),), (), "", ()))
    out = source_schedules(recs)
    assert out["/b"].rank < out["/a"].rank
    assert sorted(s.rank for s in out.values()) == [0, 1, 2]


def _work(node: str, thread: str, start: int, end: int, inputs=(), outputs=()) -> tuple:
    return (node, "cb", thread, 0, start, end, inputs, outputs, "", ())


def test_wakeup_runs_to_the_first_callback_whatever_input_it_took():
    # A camera frame is published at 10_000 to an idle perception worker. It first runs a pose
    # side input that came while it waited for the lock (at 11_000), then the detector (at
    # 11_500), and the image logger takes the same frame later: one wake-up, of 1_000 ns.
    cam = {"/cam": (5, 10_000)}
    recs = [
        _work("pose_sink", "perception-0", 11_000, 11_400, (("/pose", 1),)),
        _work("det", "perception-0", 11_500, 18_000, (("/cam", 5),), (("/obj", 17_000, cam),)),
        _work("logger", "perception-0", 18_100, 30_000, (("/cam", 5),), (("/png", 29_000, cam),)),
        # Published while the worker was busy: a queueing wait, not a wake-up.
        _work("det", "perception-0", 31_000, 35_000, (("/cam", 6),),
              (("/obj", 34_000, {"/cam": (6, 29_500)}),)),
        # Another executor's worker, idle when the frame came: its own sample.
        _work("plan", "planning-0", 10_300, 12_000, (("/cam", 5),), (("/traj", 11_000, cam),)),
    ]  # fmt: skip
    out = wakeup_delays_ns(recs)
    assert out["perception"].tolist() == [1_000]
    assert out["planning"].tolist() == [300]
