"""Chain latency from lineage in the trace, checked against graphs with known delays."""

from __future__ import annotations

import numpy as np
import pytest

from stack.trace import chain_samples
from tests.stack.trace.graphs import FAN_IN, FAN_OUT, chain_yaml, feed, lockstep, overhead_ms

# The synthetic work is a busy-wait, so it is a hard lower bound of every sample. Other
# processes on this shared machine preempt the busy-wait and stretch it, so the upper side is
# checked against the callback time actually spent in each sample's window: what remains is
# the executor's own overhead (about 0.05 ms here), which a wrong attribution would blow up.
OVERHEAD_MS = 1.0


def check(samples, records, truth_ms: float) -> None:
    assert samples.latency_ns.min() / 1e6 >= truth_ms
    over = overhead_ms(records, samples)
    assert over.min() >= 0.0
    assert np.median(over) <= OVERHEAD_MS


def test_chain_percentiles_match_the_synthetic_delays():
    rt = lockstep(chain_yaml(2.0, 3.0, budget_ms=50), ("/in",))
    feed(rt, [["/in"]], cycles=10)
    s = chain_samples(rt.tracer.records, rt.graph.chains)["main"]
    assert len(s) == 10
    check(s, rt.tracer.records, 5.0)


def test_trace_samples_equal_the_executors_online_samples():
    rt = lockstep(chain_yaml(0.5, 0.5, budget_ms=50), ("/in",))
    feed(rt, [["/in"]], cycles=5)
    s = chain_samples(rt.tracer.records, rt.graph.chains)["main"]
    online = np.asarray(rt.chain_latencies["main"], np.int64)
    assert np.array_equal(s.publish_ns, online[:, 0])
    assert np.array_equal(s.latency_ns, online[:, 1])


def test_stamps_follow_the_start_message():
    rt = lockstep(chain_yaml(0.0, 0.0, budget_ms=50), ("/in",))
    feed(rt, [["/in"]], cycles=3, period_ns=100_000_000)
    s = chain_samples(rt.tracer.records, rt.graph.chains)["main"]
    assert s.stamp_ns.tolist() == [1_100_000_000, 1_200_000_000, 1_300_000_000]


def test_fan_in_attributes_latency_to_each_source():
    # Each cycle: lidar arrives first (6 ms path), then the camera (2 ms path); fusion (1 ms)
    # publishes once both are in. Camera latency ~ 2 + 1 = 3 ms; lidar waited for the camera
    # path too: ~ 6 + 2 + 1 = 9 ms.
    rt = lockstep(FAN_IN, ("/cam", "/lidar"))
    feed(rt, [["/lidar"], ["/cam"]], cycles=10)
    s = chain_samples(rt.tracer.records, rt.graph.chains)
    assert len(s["camera"]) == len(s["lidar"]) == 10
    check(s["camera"], rt.tracer.records, 3.0)
    check(s["lidar"], rt.tracer.records, 9.0)
    # Every fused output is attributed to the camera and lidar messages of its own cycle.
    cycles = [1_000_000_000 + 100_000_000 * (i + 1) for i in range(10)]
    assert s["camera"].stamp_ns.tolist() == cycles
    assert s["lidar"].stamp_ns.tolist() == cycles
    # Both samples of one output come from the same fused publish but different sources.
    assert np.array_equal(s["camera"].publish_ns, s["lidar"].publish_ns)


def test_fan_out_gives_each_branch_its_own_chain():
    # FIFO in lockstep: branch a (2 ms) runs first, then b (4 ms) which waited for a.
    rt = lockstep(FAN_OUT, ("/in",), policy="fifo")
    feed(rt, [["/in"]], cycles=8)
    s = chain_samples(rt.tracer.records, rt.graph.chains)
    check(s["to_a"], rt.tracer.records, 2.0)
    check(s["to_b"], rt.tracer.records, 6.0)
    assert np.array_equal(s["to_a"].stamp_ns, s["to_b"].stamp_ns)


def test_chain_without_outputs_has_no_samples():
    rt = lockstep(chain_yaml(0.0, 0.0, budget_ms=50), ("/in",))
    s = chain_samples(rt.tracer.records, rt.graph.chains)["main"]
    assert len(s) == 0


@pytest.mark.parametrize("policy", ["l4", "fifo"])
def test_records_name_node_callback_inputs_and_outputs(policy):
    rt = lockstep(chain_yaml(0.0, 0.0, budget_ms=50), ("/in",), policy=policy)
    feed(rt, [["/in"]], cycles=1)
    recs = rt.tracer.typed()
    assert [(r.node, r.callback) for r in recs] == [("w1", "sub:/in"), ("w2", "sub:/mid")]
    w1 = recs[0]
    assert w1.inputs == (("/in", 1_100_000_000),)
    assert [o[0] for o in w1.outputs] == ["/mid"]
    assert w1.outputs[0][2]["/in"][0] == 1_100_000_000
    assert w1.start_ns <= w1.end_ns
