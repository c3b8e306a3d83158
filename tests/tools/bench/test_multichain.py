from __future__ import annotations

import pytest

from stack.graph import GraphError, parse_graph
from tools.bench.multichain import (
    CHAINS,
    CRITICAL,
    base_load,
    measure_run,
    measured_stats,
    multichain_launch,
)


def compute_load(text: str) -> float:
    graph = parse_graph(text, "<test>")
    rates = {
        s.params.topic: s.params.rate_hz for s in graph.nodes.values() if s.executor == "sensors"
    }
    return sum(rates[c.sensor] * sum(ms for _, _, ms in c.stages) / 1e3 for c in CHAINS)


@pytest.mark.parametrize("load", [0.6, 1.5])
def test_sensor_rates_are_scaled_to_the_asked_load(load):
    text = multichain_launch(load)
    assert compute_load(text) == pytest.approx(load, rel=1e-3)
    graph = parse_graph(text, "<test>")
    assert graph.chains[CRITICAL].priority == max(c.priority for c in graph.chains.values())
    assert graph.executors["compute"].threads == 1
    assert graph.executors["sensors"].priority > graph.executors["compute"].priority > 0
    assert base_load() == pytest.approx(
        sum(c.rate_hz * sum(s[2] for s in c.stages) for c in CHAINS) / 1e3
    )


def test_variable_work_rejects_a_spread_of_one_or_more():
    text = multichain_launch(0.5).replace("work_ms: 2.0}", "work_ms: 2.0, spread: 1.0}", 1)
    with pytest.raises(GraphError, match="spread"):
        parse_graph(text, "<test>")


def test_a_short_measured_run_gives_chain_figures():
    text = multichain_launch(0.3, rt_priority=0)
    result = measure_run(text, "l4", 0.4, True)
    stats = measured_stats(result, text)
    assert set(stats) == {c.name for c in CHAINS}
    crit = stats[CRITICAL]
    assert crit.count > 0 and crit.p50_ms >= 5.0 * 0.5  # three stages, 5 ms mean of work
    assert result["records"] and all(len(r) == 10 for r in result["records"])
