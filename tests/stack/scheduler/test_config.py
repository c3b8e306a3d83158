from __future__ import annotations

import pytest

from stack.scheduler.config import DegradeConfig, parse_scheduler
from stack.scheduler.errors import SchedulerError


def test_defaults():
    cfg = parse_scheduler(None)
    assert cfg.stale_drop is True and cfg.gc_freeze is True
    assert parse_scheduler({"gc_freeze": False}).gc_freeze is False
    assert cfg.gate_devices == ("gpu", "dla")
    assert cfg.degrade_for("anything") == DegradeConfig()
    assert cfg.switch_interval_ms is None
    assert parse_scheduler({"switch_interval_ms": 1}).switch_interval_ms == 1.0


def test_degrade_defaults_and_per_node_overrides():
    cfg = parse_scheduler(
        {
            "gate_devices": ["GPU"],
            "degrade": {
                "min_slack_ms": 4,
                "hold_s": 1.5,
                "nodes": {"det": {"chain": "cam", "window": 3, "max_shed": 0.05}},
            },
        }
    )
    assert cfg.gate_devices == ("gpu",)
    det = cfg.degrade_for("det")
    assert (det.chain, det.window, det.min_slack_ms, det.hold_s) == ("cam", 3, 4.0, 1.5)
    other = cfg.degrade_for("other")
    assert (other.chain, other.window, other.min_slack_ms) == (None, 16, 4.0)
    assert (det.max_shed, other.max_shed) == (0.05, None)  # shed work watched only if asked


def test_resolved_slacks_follow_the_budget_unless_given():
    assert DegradeConfig().resolved(50.0) == (5.0, 10.0)
    assert DegradeConfig(min_slack_ms=3, recover_slack_ms=1).resolved(50.0) == (3.0, 3.0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"bogus": 1}, r"f.yaml: scheduler.bogus: unknown key 'bogus'"),
        ({"gate_devices": "gpu"}, r"scheduler.gate_devices: expected a list"),
        ({"degrade": {"hold_s": -1}}, r"scheduler.degrade.hold_s: expected a number >= 0"),
        ({"degrade": {"window": 0}}, r"scheduler.degrade.window: expected an integer >= 1"),
        ({"degrade": {"nodes": {"det": {"chain": 3}}}}, r"nodes.det.chain: expected a chain name"),
        ({"degrade": {"nodes": {"det": {"nodes": {}}}}}, r"nodes.det.nodes: unknown key"),
        (
            {"degrade": {"nodes": {"det": {"max_shed": 1.5}}}},
            r"scheduler.degrade.nodes.det.max_shed: expected a number in 0..1, got 1.5",
        ),
        ({"degrade": {"enabled": "yes"}}, r"scheduler.degrade.enabled: expected true or false"),
        ({"gc_freeze": 1}, r"scheduler.gc_freeze: expected true or false, got 1"),
        (
            {"switch_interval_ms": 0},
            r"scheduler.switch_interval_ms: expected a number in 0.01..100, got 0",
        ),
        ({"switch_interval_ms": "1ms"}, r"scheduler.switch_interval_ms: .* got '1ms'"),
    ],
)
def test_errors_name_file_key_and_value(raw, message):
    with pytest.raises(SchedulerError, match=message):
        parse_scheduler(raw, "f.yaml")
