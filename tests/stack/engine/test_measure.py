from __future__ import annotations

import numpy as np
import pytest

from stack.engine import EngineError
from stack.engine.measure import (
    baseline_verdict,
    interleaved,
    latency_stats,
    output_errors,
)


def test_latency_stats() -> None:
    stats = latency_stats([1000 * i for i in range(1, 101)], batch=2)
    assert stats.runs == 100
    assert stats.p50_us == pytest.approx(50.5)
    assert stats.max_us == 100.0
    assert stats.throughput_per_s == pytest.approx(2e6 / 50.5)


def test_interleaved_alternates_blocks() -> None:
    calls: list[str] = []
    samples = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                          iters=5, block=2, warmup=1)  # fmt: skip
    assert {k: len(v) for k, v in samples.items()} == {"a": 5, "b": 5}
    timed = calls[2:]  # after one warmup call each
    assert timed == list("aabbbbaaab")


def test_baseline_verdict() -> None:
    bare = latency_stats([1_000_000] * 3)
    assert baseline_verdict(latency_stats([1_040_000] * 3), bare)["within_target"]
    assert not baseline_verdict(latency_stats([1_100_000] * 3), bare)["within_target"]
    small = latency_stats([100_000] * 3)  # 100 us: +40 us is 40 % but under 50 us
    assert baseline_verdict(latency_stats([140_000] * 3), small)["within_target"]


def test_output_errors() -> None:
    ref = {"y": np.array([1.0, -2.0, 0.0], np.float32)}
    got = {"y": np.array([1.1, -2.0, 0.001], np.float32)}
    (err,) = output_errors(got, ref)
    assert err.max_abs == pytest.approx(0.1, rel=1e-5)
    assert err.max_rel == pytest.approx(0.5, rel=1e-3)  # 0.001 / floor(1e-3 * 2)
    with pytest.raises(EngineError, match="output 'y': shape"):  # l4 catches L4Error
        output_errors({"y": np.zeros(2)}, ref)
