"""The machine-speed probe: the median time of its work mix, warm-up pass excluded."""

from __future__ import annotations

import time

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
