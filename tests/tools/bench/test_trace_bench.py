"""`l4 bench trace` pieces on tiny sizes: they run, count and write what they claim (no timing
asserted here; the figures come from the full benchmark)."""

from __future__ import annotations

from tools.bench import BENCHMARKS
from tools.bench import trace as bench


def test_registered():
    assert BENCHMARKS["trace"] == "tools.bench.trace:run"


def test_overhead_measurement_runs_traced_and_untraced_blocks(tmp_path):
    out = bench.measure_overhead(tmp_path, blocks=2, cycles=5)
    assert out["callbacks_each"] == 2 * 5 * bench.HOPS
    assert out["records_written"] == out["callbacks_each"]
    assert out["per_callback_us_untraced_p50"] > 0


def test_stall_measurement_writes_every_record_and_reads_back(tmp_path):
    out = bench.measure_stall(tmp_path, n=500, burst=50, idle_s=1e-4)
    for label in ("traced", "traced_gc_off"):
        assert out[label]["records"] == 500 and out[label]["lost"] == 0
        assert out[label]["gap_us"]["p50"] > 0
    back = bench.measure_read(tmp_path / "traced" / "trace.l4t")
    assert back["records"] == back["samples"] == 500
