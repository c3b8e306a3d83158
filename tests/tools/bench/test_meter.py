"""The in-run speed meter: a real sampling process, and its per-second summary."""

from __future__ import annotations

import math
import time

from tools.bench import meter


def test_meter_samples_while_the_body_runs():
    with meter.SpeedMeter(period_s=0.02) as m:
        time.sleep(1.0)
    samples = m.reading.samples_us
    assert len(samples) >= 5  # 50 periods, fewer on a loaded machine or a slow start
    assert all(0 < s < 1e6 for s in samples)
    doc = m.reading.to_json()
    assert doc["samples"] == len(samples) and doc["median_us"] > 0


def test_loop_time_is_cpu_time_not_wall_time():
    assert 0 < meter.loop_us() < 1e6


def test_window_medians_take_whole_windows_only():
    samples = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 99.0]
    assert meter.window_medians(samples, window=3) == [2.0, 20.0]
    assert meter.window_medians(samples[:2], window=3) == []


def test_reading_names_its_slowest_second():
    reading = meter.MeterReading([5.0] * 10 + [9.0] * 10 + [6.0] * 10)
    assert reading.slowest_window_us == 9.0 and reading.median_us == 6.0


def test_a_reading_shorter_than_a_window_falls_back_to_its_median():
    assert meter.MeterReading([4.0, 8.0, 6.0]).slowest_window_us == 6.0


def test_an_empty_reading_has_no_speed():
    reading = meter.MeterReading()
    assert math.isnan(reading.median_us)
    assert reading.to_json() == {"median_us": None, "slowest_1s_us": None, "samples": 0}


def test_meter_stops_promptly():
    t0 = time.monotonic()
    with meter.SpeedMeter(period_s=0.05):
        pass
    assert time.monotonic() - t0 < meter.STOP_TIMEOUT_S


def test_slow_seconds_count_the_seconds_over_the_limit_and_the_longest_spell():
    fast, slow = [5.0] * 10, [9.0] * 10
    reading = meter.MeterReading(slow + fast + slow + slow + slow + fast)
    assert reading.slow_seconds(limit_us=6.0) == (4, 3)
    assert reading.slow_seconds(limit_us=9.0) == (0, 0)  # at the limit is not over it


def test_slow_share_counts_samples_and_an_empty_reading_is_all_slow():
    assert meter.MeterReading([5.0, 9.0, 9.0, 5.0]).slow_share(limit_us=6.0) == 0.5
    assert meter.MeterReading().slow_share(limit_us=6.0) == 1.0
