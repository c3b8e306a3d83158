from __future__ import annotations

from types import SimpleNamespace

import pytest

from stack.scheduler.guard import (
    GAPS,
    MIN_ARRIVALS,
    ArrivalForecast,
    BlockingGuard,
    DurationForecast,
)
from stack.scheduler.policy import ChainMembership

MS = 1_000_000


def arrivals(forecast: ArrivalForecast, *times_ms: float) -> ArrivalForecast:
    for t in times_ms:
        forecast.observe(int(t * MS))
    return forecast


# ---- ArrivalForecast --------------------------------------------------------------------------
def test_period_is_learnt_from_arrivals():
    f = arrivals(ArrivalForecast(priority=5, depth=1), 0, 100, 200, 300)
    assert f.period_ns == 100 * MS
    assert f.arrivals == 4 and f.last_ns == 300 * MS
    # Due at 400 ms; no longer expected half a period later.
    assert f.overflow_ns(310 * MS) == (400 * MS, 450 * MS)


def test_period_is_the_median_gap_and_follows_a_sensor_that_changes_rate():
    f = arrivals(ArrivalForecast(5, 1), 0, 100, 208, 310)
    assert f.period_ns == 102 * MS  # gaps 100, 108, 102
    times = [310 + 150 * k for k in range(1, GAPS // 2 + 1)]
    arrivals(f, *times)
    assert f.period_ns == 150 * MS  # half the window at the new rate


def test_sensor_dropout_does_not_become_the_period():
    f = arrivals(ArrivalForecast(5, 1), 0, 100, 200, 300, 700)  # 400 ms gap: frames lost
    assert f.period_ns == 100 * MS
    assert f.last_ns == 700 * MS  # but the forecast restarts from the latest frame
    assert f.overflow_ns(710 * MS) == (800 * MS, 850 * MS)


def test_a_bunched_first_pair_does_not_become_the_period():
    # The first two frames 27 ms apart (a warm-up stall), then 100 ms: the old average kept
    # 27 ms for good, refusing every later gap as a dropout.
    f = arrivals(ArrivalForecast(5, 1), 0, 27, 127)
    assert f.period_ns == pytest.approx(63.5 * MS)  # two gaps: their mean, for one arrival
    f.observe(227 * MS)
    assert f.period_ns == 100 * MS
    arrivals(f, *[227 + 100 * k for k in range(1, 20)])
    assert f.period_ns == 100 * MS and len(f.gaps) == GAPS


def test_no_forecast_before_enough_arrivals():
    f = arrivals(ArrivalForecast(5, 1), 0, 100)
    assert f.arrivals < MIN_ARRIVALS
    assert f.overflow_ns(150 * MS) is None
    f.observe(200 * MS)
    assert f.overflow_ns(250 * MS) is not None


def test_overdue_sensor_gives_no_forecast():
    f = arrivals(ArrivalForecast(5, 1), 0, 100, 200)
    assert f.overflow_ns(350 * MS) == (300 * MS, 350 * MS)  # just at the limit
    assert f.overflow_ns(350 * MS + 1) is None  # late or stopped: nothing to protect


def test_deeper_queue_overflows_depth_minus_one_periods_later():
    f = arrivals(ArrivalForecast(5, depth=3), 0, 100, 200)
    assert f.overflow_ns(210 * MS) == (500 * MS, 550 * MS)


# ---- DurationForecast -------------------------------------------------------------------------
def test_duration_forecast_is_mean_plus_two_deviations():
    d = DurationForecast()
    d.observe(10 * MS)
    assert d.expect_ns() == 10 * MS  # one run: no spread yet
    d.observe(18 * MS)
    assert d.mean_ns == pytest.approx(11 * MS)  # 10 + 0.125 * 8
    assert d.dev_ns == pytest.approx(1 * MS)  # 0.125 * |8|
    assert d.expect_ns() == pytest.approx(13 * MS)
    assert d.runs == 2


# ---- BlockingGuard ----------------------------------------------------------------------------
def sub(
    topic: str, depth: int = 1, *chains: tuple[str, int, str], side: bool = False
) -> SimpleNamespace:
    members = tuple(ChainMembership(name, prio, start, 100 * MS) for name, prio, start in chains)
    return SimpleNamespace(topic=topic, depth=depth, chains=members, side_input=side)


@pytest.fixture
def guard() -> tuple[BlockingGuard, SimpleNamespace, SimpleNamespace]:
    """Executor "ex" with a camera input (priority 5, depth 1) and a lidar input (priority 3,
    depth 2), both at 10 Hz: camera frames at 0/100/200 ms (next due 300, no longer expected
    after 350), lidar at 50/150/250 ms (next due 350, overflowing its queue at 450, no longer
    expected after 500)."""
    g = BlockingGuard()
    cam = sub("/cam", 1, ("camera", 5, "/cam"))
    lidar = sub("/lidar", 2, ("lidar", 3, "/lidar"))
    g.watch("ex", [cam, lidar])
    for t in (0, 100, 200):
        g.arrived(cam, t * MS)
        g.arrived(lidar, (t + 50) * MS)
    return g, cam, lidar


def test_watch_forecasts_the_hops_of_chains_only():
    g = BlockingGuard()
    start = sub("/cam", 1, ("camera", 2, "/cam"), ("camera_fast", 7, "/cam"))
    mid = sub("/mid", 2, ("camera", 2, "/cam"))  # a later hop: objects reaching the planner
    off = sub("/odom", 1)  # on no chain
    side = sub("/pose", 50, ("camera", 2, "/cam"), side=True)  # takes the priority, not a hop
    low = sub("/img", 4, ("log", 1, "/img"))
    g.watch("ex", [mid, low, off, side, start])
    inputs = g.executors["ex"].inputs
    # most urgent first
    assert [(f.priority, f.depth) for f in inputs] == [(7, 1), (2, 2), (1, 4)]
    assert g.executors["ex"].top_priority == 7
    assert set(g.arrivals) == {id(start), id(mid), id(low)}
    g.arrived(side, 5)  # not forecast: ignored
    g.arrived(off, 5)
    assert all(f.arrivals == 0 for f in inputs)


def test_low_priority_candidate_overlapping_the_next_frame_is_held(guard):
    g, _, _ = guard
    g.ran("logger", "sub:/img", 30 * MS)
    # Starts at 280 ms, would run to 310 ms: past the camera frame due at 300 ms.
    until = g.hold_until("ex", 1, "logger", "sub:/img", 280 * MS)
    assert until == 350 * MS  # look again when the camera is no longer expected
    assert g.executors["ex"].holds == 1


def test_shorter_candidate_that_fits_the_gap_is_admitted(guard):
    g, _, _ = guard
    g.ran("logger", "sub:/img", 30 * MS)
    g.ran("small", "sub:/img", 10 * MS)
    assert g.hold_until("ex", 1, "small", "sub:/img", 280 * MS) == 0
    assert g.hold_until("ex", 1, "logger", "sub:/img", 260 * MS) == 0  # ends at 290 ms
    assert g.executors["ex"].holds == 0


@pytest.mark.parametrize("priority", [5, 6])
def test_candidate_at_or_above_the_top_input_priority_is_admitted(guard, priority):
    g, _, _ = guard
    g.ran("fusion", "sub:/x", 500 * MS)
    assert g.hold_until("ex", priority, "fusion", "sub:/x", 280 * MS) == 0


def test_only_more_urgent_inputs_hold_a_candidate(guard):
    g, _, _ = guard
    # Priority 4: only the camera (5) counts, not the lidar (3).
    g.ran("mid", "sub:/x", 150 * MS)
    assert g.hold_until("ex", 4, "mid", "sub:/x", 210 * MS) == 350 * MS  # 360 > camera at 300
    # Once the camera is late past its limit, nothing holds it, even though the lidar
    # (overflowing at 450 ms) would be overrun: it is less urgent than the candidate.
    assert g.hold_until("ex", 4, "mid", "sub:/x", 351 * MS) == 0


def test_depth_two_input_allows_one_period_more(guard):
    g, _, _ = guard
    g.ran("logger", "sub:/img", 150 * MS)
    # Priority 2: judged against the camera (depth 1) and the lidar (depth 2).
    assert g.hold_until("ex", 2, "logger", "sub:/img", 140 * MS) == 0  # ends 290: fits both
    assert g.hold_until("ex", 2, "logger", "sub:/img", 200 * MS) == 350 * MS  # camera at 300
    # With the camera stopped (overdue), only the lidar is protected: a run past its next
    # frame (350 ms) is fine, the queue holds two; one past the overflow at 450 ms is not.
    g.ran("logger", "sub:/short", 40 * MS)
    assert g.hold_until("ex", 2, "logger", "sub:/short", 352 * MS) == 0  # ends 392
    assert g.hold_until("ex", 2, "logger", "sub:/img", 352 * MS) == 500 * MS  # ends 502


def test_unknown_duration_or_executor_is_admitted(guard):
    g, _, _ = guard
    assert g.hold_until("ex", 1, "never_ran", "sub:/img", 280 * MS) == 0
    g.ran("logger", "sub:/img", 30 * MS)
    assert g.hold_until("other", 1, "logger", "sub:/img", 280 * MS) == 0


def test_overdue_sensor_holds_nothing(guard):
    g, _, _ = guard
    g.ran("logger", "sub:/img", 30 * MS)
    assert g.hold_until("ex", 4, "logger", "sub:/img", 351 * MS) == 0


def test_new_arrival_moves_the_forecast_and_releases_the_hold(guard):
    g, cam, _ = guard
    g.ran("logger", "sub:/img", 30 * MS)
    assert g.hold_until("ex", 4, "logger", "sub:/img", 280 * MS) == 350 * MS
    g.arrived(cam, 300 * MS)  # the frame came: the next is due at 400 ms
    assert g.hold_until("ex", 4, "logger", "sub:/img", 301 * MS) == 0


def test_a_variant_switch_forgets_the_nodes_durations(guard):
    """After a switch the old variant's durations no longer describe the callback: the node
    runs at its next chance and its new durations seed the forecast (a cheaper logger that
    stayed held back by its old 30 ms would never run to learn it now takes 10 ms)."""
    g, _, _ = guard
    g.ran("logger", "sub:/img", 30 * MS)
    g.ran("logger", "timer:flush", 30 * MS)
    g.ran("mapper", "sub:/pts", 30 * MS)
    assert g.hold_until("ex", 1, "logger", "sub:/img", 280 * MS) == 350 * MS
    g.forget("logger")
    assert g.hold_until("ex", 1, "logger", "sub:/img", 280 * MS) == 0
    assert ("logger", "timer:flush") not in g.durations
    assert g.hold_until("ex", 1, "mapper", "sub:/pts", 280 * MS) == 350 * MS  # others kept
    g.ran("logger", "sub:/img", 10 * MS)
    assert g.hold_until("ex", 1, "logger", "sub:/img", 280 * MS) == 0  # 290 < 300: fits
