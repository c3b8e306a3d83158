"""The in-run speed meter: a real sampling process, and its per-second summary."""

from __future__ import annotations

import math
import time

import pytest

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


def _stamped(samples, period_ns=100):
    return meter.MeterReading(samples, [period_ns * (i + 1) for i in range(len(samples))])


def test_meter_stamps_every_sample_on_the_trace_clock():
    before = time.perf_counter_ns()
    with meter.SpeedMeter(period_s=0.02) as m:
        time.sleep(0.5)
    stamps = m.reading.stamps_ns
    assert len(stamps) == len(m.reading.samples_us) > 0
    assert before < stamps[0] and stamps == sorted(stamps) and stamps[-1] < time.perf_counter_ns()


def test_slow_spans_cover_the_seconds_in_a_spell_and_merge_neighbours():
    fast, slow = [5.0] * 10, [9.0] * 10
    reading = _stamped(fast + slow + slow + fast + slow)
    # seconds 2-3 merge; each span starts one period before its first sample
    assert reading.slow_spans(limit_us=6.0) == [(1000, 3000), (4000, 5000)]


def test_a_lone_slow_sample_is_no_spell_but_a_flickering_second_is():
    lone = [5.0] * 4 + [9.0] + [5.0] * 5
    flicker = [9.0, 5.0, 9.0, 5.0, 5.0, 9.0, 5.0, 5.0, 5.0, 5.0]
    assert _stamped(lone).slow_spans(limit_us=6.0) == []
    assert _stamped(lone + flicker).slow_spans(limit_us=6.0) == [(1000, 2000)]


def test_slow_spans_refuse_a_reading_without_stamps():
    with pytest.raises(ValueError, match="0 stamps for 10 samples"):
        meter.MeterReading([9.0] * 10).slow_spans(limit_us=6.0)


def test_a_reading_saved_loads_back_the_same(tmp_path):
    reading = _stamped([5.0, 9.5, 6.25])
    reading.save(tmp_path / meter.METER_FILE)
    assert meter.MeterReading.load(tmp_path / meter.METER_FILE) == reading


def test_loading_a_file_that_is_no_reading_names_the_file(tmp_path):
    bad = tmp_path / "meter.json"
    bad.write_text('{"samples_us": [1.0]}')
    with pytest.raises(ValueError, match=r"meter.json: not a meter reading: 'stamps_ns'"):
        meter.MeterReading.load(bad)
