"""`l4 bench sim`: a pair of runs on a disturbed host is run again, up to a limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.bench import probe, sim


@pytest.fixture
def host(monkeypatch, tmp_path):
    """Replays that only write their run folder, and a probe reading the given speeds."""
    runs: list[Path] = []

    def replay(bag, run_dir, rate, policy):
        run_dir.mkdir()  # a second run into a folder left over would fail here
        (run_dir / "run.json").write_text(policy)
        runs.append(run_dir)

    def speeds(readings):
        it = iter(readings)
        monkeypatch.setattr(probe, "probe_ms", lambda: next(it))

    monkeypatch.setattr(sim, "replay", replay)
    return speeds, runs, tmp_path


def _pair(tmp_path: Path, fastest: list[float]) -> list[list[float]]:
    return sim._steady_pair(Path("bag"), tmp_path / "p", tmp_path / "m", "l4", fastest)


def test_a_steady_pair_runs_once(host):
    speeds, runs, tmp = host
    speeds([23.5, 24.0, 23.8])
    fastest = [23.6]
    assert _pair(tmp, fastest) == [[23.5, 24.0, 23.8]]
    assert len(runs) == 2 and fastest == [23.5]


def test_a_disturbed_pair_runs_again_and_the_discarded_probes_are_kept(host):
    speeds, runs, tmp = host
    speeds([23.5, 37.0, 23.9, 23.6, 23.7, 24.1])
    fastest = [23.5]
    tries = _pair(tmp, fastest)
    assert tries == [[23.5, 37.0, 23.9], [23.6, 23.7, 24.1]]
    assert len(runs) == 4 and (tmp / "m" / "run.json").read_text() == "l4"


def test_a_host_disturbed_throughout_stops_after_the_last_attempt(host):
    speeds, runs, tmp = host
    speeds([40.0] * 3 * sim.ATTEMPTS)
    tries = _pair(tmp, [23.5])
    assert len(tries) == sim.ATTEMPTS and len(runs) == 2 * sim.ATTEMPTS
    assert max(tries[-1]) > sim.STEADY * 23.5  # reported as not steady
