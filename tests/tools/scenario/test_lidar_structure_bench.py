"""`l4 bench lidar_structure`'s measurement on the session's 2 s drive (conftest.mcap_bag): three
modes, the cues and the persistence each remove structure the previous one kept."""

from __future__ import annotations

from tools.bench.lidar_structure import measure


def test_measure_reports_off_drop_and_persist(mcap_bag):
    out = measure(mcap_bag)
    assert out["sweeps"] == 11  # 21 sweeps in 2 s, every 2nd
    off, drop, persist = out["off"], out["drop"], out["persist"]
    assert off["structure_per_sweep"] > 5 * max(drop["structure_per_sweep"], 1.0)
    assert persist["structure_per_sweep"] <= drop["structure_per_sweep"]
    assert persist["recall_40m"] >= drop["recall_40m"]
    assert off["structure_ms_p50"] == 0.0 < persist["structure_ms_p50"]
