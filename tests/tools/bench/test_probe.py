"""The machine-speed probe (the median time of its work mix, warm-up pass excluded) and the
steady-host rule over probes and in-run meter readings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tools.bench import probe
from tools.bench.meter import MeterReading


def test_probe_reports_the_median_pass_after_a_warm_up(monkeypatch):
    passes = iter([0.2, 0.01, 0.05, 0.01])  # the 0.2 s warm-up pass is not counted

    def mix():
        def once() -> None:
            time.sleep(next(passes))

        return once

    monkeypatch.setattr(probe, "_mix", mix)
    assert 8 <= probe.probe_ms(repeats=3) < 40  # the median pass: 10 ms


def test_real_mix_runs_the_graph_kinds_of_work():
    ms = probe.probe_ms(repeats=1)
    assert 0 < ms < 5_000


@pytest.fixture
def readings(monkeypatch):
    """The probe reads the given speeds, in order."""

    def set_readings(values):
        it = iter(values)
        monkeypatch.setattr(probe, "probe_ms", lambda: next(it))

    return set_readings


def _runs_probed_twice(runs: list[int]):
    def attempt(host: probe.SteadyHost) -> int:
        host.probe()
        host.note("try", len(runs))
        runs.append(len(runs))
        host.probe()
        return len(runs)

    return attempt


def test_runs_on_a_steady_host_are_taken_once(readings):
    readings([23.5, 24.0])
    host, runs = probe.SteadyHost(), []
    assert host.run(_runs_probed_twice(runs)) == 1
    assert host.to_json() == {
        "reported_try": 1,
        "probe_ms": [23.5, 24.0],
        "meter": [],
        "steady": True,
        "discarded_tries": [],
        "discarded_probe_ms": [],
        "discarded_meter": [],
        "discarded_outcomes": [],
        "waited_for_quiet_s": [0.0],
        "retaken_setup": [[]],
    }


def test_runs_on_a_disturbed_host_are_taken_again_keeping_the_discarded_probes(readings):
    readings([23.5, 37.0, 23.6, 24.1])
    host, runs = probe.SteadyHost(), []
    assert host.run(_runs_probed_twice(runs)) == 2
    assert host.to_json() == {
        "reported_try": 2,
        "probe_ms": [23.6, 24.1],
        "meter": [],
        "steady": True,
        "discarded_tries": [1],
        "discarded_probe_ms": [[23.5, 37.0]],
        "discarded_meter": [[]],
        "discarded_outcomes": [{"try": 0}],
        "waited_for_quiet_s": [0.0, 0.0],
        "retaken_setup": [[], []],
    }


def test_a_host_disturbed_throughout_gives_the_last_try_marked_unsteady(readings):
    readings([23.5, 37.0] * probe.ATTEMPTS)
    host, runs = probe.SteadyHost(), []
    assert host.run(_runs_probed_twice(runs)) == probe.ATTEMPTS
    doc = host.to_json()
    assert not doc["steady"] and len(doc["discarded_probe_ms"]) == probe.ATTEMPTS - 1


def test_the_fastest_probe_carries_over_to_the_next_runs(readings):
    readings([23.5, 23.6, 25.0, 25.5, 23.9, 24.0])  # 25.5 ms is 8.5 % over 23.5: steady
    host = probe.SteadyHost()
    host.run(_runs_probed_twice([]))
    host.run(_runs_probed_twice([]))
    assert host.fastest_ms == 23.5 and host.to_json()["probe_ms"] == [25.0, 25.5]


@pytest.fixture
def meter_readings(monkeypatch):
    """Each metered run reads the next list of samples (us) instead of running the meter."""

    def set_readings(runs):
        it = iter(runs)

        class FakeMeter:
            def __enter__(self):
                self.reading = MeterReading(next(it))
                return self

            def __exit__(self, *exc):
                return None

        monkeypatch.setattr(probe, "SpeedMeter", FakeMeter)

    return set_readings


def _metered_run(host: probe.SteadyHost) -> str:
    host.probe()
    with host.metered():
        pass
    host.probe()
    return "done"


STEADY_RUN = [730.0] * 30
SPELL_RUN = [730.0] * 10 + [1200.0] * 20  # its last two seconds 1.64x slower


def test_a_run_with_a_spell_is_taken_again(readings, meter_readings):
    readings([23.5, 23.6, 23.5, 23.7])
    meter_readings([SPELL_RUN, STEADY_RUN])
    host = probe.SteadyHost()
    host.run(_metered_run)
    doc = host.to_json()
    assert doc["steady"] and doc["probe_ms"] == [23.5, 23.7]
    assert doc["meter"] == [
        {"median_us": 730.0, "slowest_1s_us": 730.0, "samples": 30, "slow_s": 0,
         "longest_spell_s": 0, "slow_share": 0.0}
    ]  # fmt: skip
    spell = doc["discarded_meter"][0][0]
    assert spell["slow_s"] == 2 and spell["longest_spell_s"] == 2
    assert host.fastest_meter_us == 730.0


def test_one_slow_second_is_no_disturbance(readings, meter_readings):
    readings([23.5, 23.6])
    meter_readings([[730.0] * 200 + [1200.0] * 10 + [730.0] * 190])  # 1 slow second of 40
    host = probe.SteadyHost()
    host.run(_metered_run)
    doc = host.to_json()
    assert doc["steady"] and len(host.tries) == 1 and doc["meter"][0]["slow_s"] == 1


def test_too_many_isolated_slow_seconds_are_a_disturbance(readings, meter_readings):
    slow, fast = [1200.0] * 10, [730.0] * 10
    readings([23.5, 23.6] * probe.ATTEMPTS)
    meter_readings([fast * 8 + slow + fast * 8 + slow] * probe.ATTEMPTS)  # 2 of 18 s: 11 %
    host = probe.SteadyHost()
    host.run(_metered_run)
    doc = host.to_json()
    assert not doc["steady"] and doc["meter"][0]["longest_spell_s"] == 1


def test_a_run_the_meter_could_not_read_is_not_steady(readings, meter_readings):
    readings([23.5, 23.6] * probe.ATTEMPTS)
    meter_readings([[]] * probe.ATTEMPTS)
    host = probe.SteadyHost()
    host.run(_metered_run)
    assert not host.to_json()["steady"] and len(host.tries) == probe.ATTEMPTS


def test_a_spell_flickering_within_seconds_is_a_disturbance(readings, meter_readings):
    flicker = ([730.0] * 6 + [1200.0] * 4) * 30  # every second reads fast by its median
    readings([23.5, 23.6] * probe.ATTEMPTS)
    meter_readings([flicker] * probe.ATTEMPTS)
    host = probe.SteadyHost()
    host.run(_metered_run)
    doc = host.to_json()
    assert not doc["steady"]
    assert doc["meter"][0]["slow_s"] == 0 and doc["meter"][0]["slow_share"] == 0.4


def test_a_try_waits_for_a_quiet_host(monkeypatch, readings, meter_readings):
    monkeypatch.setattr(probe, "QUIET_CHECK_S", 0.0)
    noisy = ([730.0] * 5 + [1200.0] * 5) * 5  # half the samples slow
    quiet = [730.0] * 50
    readings([23.5, 23.6])
    meter_readings([noisy, noisy, quiet, STEADY_RUN])  # three checks, then the run
    host = probe.SteadyHost(quiet_wait_s=60.0)
    host.run(_metered_run)
    doc = host.to_json()
    assert doc["steady"] and doc["meter"][0]["samples"] == len(STEADY_RUN)
    assert len(host.tries) == 1 and doc["waited_for_quiet_s"][0] >= 0.0


def test_the_wait_for_a_quiet_host_is_bounded(monkeypatch, meter_readings):
    monkeypatch.setattr(probe, "QUIET_CHECK_S", 0.01)
    noisy = ([730.0] * 5 + [1200.0] * 5) * 5
    meter_readings([noisy] * 1000)
    host = probe.SteadyHost(quiet_wait_s=0.05)
    t0 = time.monotonic()
    host.await_quiet()
    assert time.monotonic() - t0 < 5.0


def test_no_wait_is_the_default(meter_readings):
    meter_readings([])  # a check would raise StopIteration
    assert probe.SteadyHost().await_quiet() == 0.0


def _set_up_then_measured(setups: list[int]):
    def attempt(host: probe.SteadyHost) -> int:
        host.setup(lambda: setups.append(len(setups)))
        host.probe()
        with host.metered():
            pass
        return len(setups)

    return attempt


def test_a_disturbed_set_up_run_alone_is_taken_again(readings, meter_readings):
    readings([23.5, 23.6, 23.5])
    meter_readings([SPELL_RUN, STEADY_RUN, STEADY_RUN])  # set-up, set-up again, measured run
    host, setups = probe.SteadyHost(), []
    assert host.run(_set_up_then_measured(setups)) == 2
    doc = host.to_json()
    assert doc["steady"] and len(host.tries) == 1 and doc["probe_ms"] == [23.6, 23.5]
    (retaken,) = doc["retaken_setup"][0]
    assert retaken["probe_ms"] == 23.5 and retaken["longest_spell_s"] == 2


def test_a_set_up_run_is_taken_at_most_attempts_times(readings, meter_readings):
    readings([23.5] * 4)
    meter_readings([SPELL_RUN, SPELL_RUN, STEADY_RUN])
    host, setups = probe.SteadyHost(), []
    host.tries = [probe.Try()]
    host.setup(lambda: setups.append(1), attempts=2)
    assert len(setups) == 2 and len(host.tries[0].retaken) == 1
    assert not host.steady(host.tries[0])  # the last take stays in the try, spell and all


def test_with_no_steady_try_the_least_disturbed_is_reported(readings, meter_readings):
    slow, fast = [1200.0] * 10, [730.0] * 10
    readings([23.5, 23.6] * 3)
    # Slow samples in the tries' runs: 50 %, 20 %, 33 %; none steady.
    meter_readings([fast * 2 + slow * 2, fast * 4 + slow, fast * 2 + slow])
    host = probe.SteadyHost()
    tried = []

    def attempt(h: probe.SteadyHost) -> int:
        tried.append(h.folder(Path("/runs")))
        h.note("try", len(tried))
        return _metered_run(h) and len(tried)

    assert host.run(attempt) == 2  # the second try's result
    assert tried == [Path("/runs/try-1"), Path("/runs/try-2"), Path("/runs/try-3")]
    doc = host.to_json()
    assert doc["reported_try"] == 2 and not doc["steady"]
    assert doc["meter"][0]["slow_share"] == 0.2
    assert doc["discarded_tries"] == [1, 3]
    assert doc["discarded_outcomes"] == [{"try": 1}, {"try": 3}]
    assert [m[0]["slow_share"] for m in doc["discarded_meter"]] == [0.5, 0.333]
    assert len(doc["waited_for_quiet_s"]) == 3  # in the order the tries ran


def test_a_steady_try_is_reported_even_after_a_less_disturbed_one(readings, meter_readings):
    readings([23.5, 37.0, 23.6, 23.7])  # the first try's second probe reads the host disturbed
    meter_readings([STEADY_RUN, [730.0] * 9 + [1200.0]] * 3)  # then 10 % slow samples: steady
    host = probe.SteadyHost()
    assert host.run(lambda h: _metered_run(h) and h.tries[-1].number) == 2
    assert host.to_json()["reported_try"] == 2


def test_attempts_must_be_at_least_one():
    with pytest.raises(ValueError, match="attempts must be >= 1, got 0"):
        probe.SteadyHost().run(_metered_run, attempts=0)
