"""The machine-speed probe: the median time of its work mix, warm-up pass excluded."""

from __future__ import annotations

import time

import pytest

from tools.bench import probe


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
    def attempt(take) -> int:
        take()
        runs.append(len(runs))
        take()
        return len(runs)

    return attempt


def test_runs_on_a_steady_host_are_taken_once(readings):
    readings([23.5, 24.0])
    host, runs = probe.SteadyHost(), []
    assert host.run(_runs_probed_twice(runs)) == 1
    assert host.to_json() == {"probe_ms": [23.5, 24.0], "steady": True, "discarded_probe_ms": []}


def test_runs_on_a_disturbed_host_are_taken_again_keeping_the_discarded_probes(readings):
    readings([23.5, 37.0, 23.6, 24.1])
    host, runs = probe.SteadyHost(), []
    assert host.run(_runs_probed_twice(runs)) == 2
    assert host.to_json() == {
        "probe_ms": [23.6, 24.1],
        "steady": True,
        "discarded_probe_ms": [[23.5, 37.0]],
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
