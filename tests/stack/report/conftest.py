"""Run directories with known latencies, built once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.trace import TraceWriter, write_run_dir
from tests.stack.trace.graphs import WORK, chain_run, feed, image, lockstep

MIXED = f"""
name: mixed
nodes:
  a: {{class: "{WORK}", params: {{input: /in, output: /a, work_ms: 1.0}}}}
  b: {{class: "{WORK}", params: {{input: /in, output: /b, work_ms: 4.0}}}}
chains:
  relaxed: {{path: [/in, /a], budget_ms: 50, percentile: 99}}
  tight: {{path: [/in, /b], budget_ms: 3, percentile: 50}}
"""


@pytest.fixture(scope="module")
def ok_run(tmp_path_factory) -> Path:
    return chain_run(tmp_path_factory.mktemp("ok"), 1.0, 1.0, budget_ms=50, cycles=10)


@pytest.fixture(scope="module")
def slower_run(tmp_path_factory) -> Path:
    return chain_run(tmp_path_factory.mktemp("slow"), 1.0, 3.0, budget_ms=50, cycles=10)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory) -> Path:
    """Chain 'relaxed' (~1 ms, budget 50) passes; 'tight' (~5 ms at p50, budget 3) fails.
    Two overwrites on b's input and a variant switch on node a are in it too."""
    run_dir = tmp_path_factory.mktemp("mixed")
    rt = lockstep(MIXED, ("/in",), TraceWriter(run_dir))
    rt.nodes["a"].variant = "dense"
    feed(rt, [["/in"]], cycles=6)
    rt.nodes["a"].variant = "pruned"
    for i in range(3):
        rt.inject("/in", image(10_000_000_000 + i))
    rt.run_until_idle()
    feed(rt, [["/in"]], cycles=3)
    rt.shutdown()
    write_run_dir(run_dir, rt.graph, rt, mode="test")
    return run_dir
