"""The launch file's ``scheduler:`` section, parsed and checked.

scheduler:
  stale_drop: true          # drop inputs older than their chain budget (l4 policy only)
  blocking_guard: true      # start a lower-priority callback only if it ends before the next
                            # higher-priority sensor input would overflow its queue (l4 only)
  gate_devices: [gpu, dla]  # engine runs on these devices pass one priority gate each
  gc_freeze: true           # freeze the start-up heap so full collections do not stall
                            # every thread for tens of ms (stack.executor.heap; any policy)
  switch_interval_ms: 1.0   # the interpreter's switch interval while the graph runs
                            # (default: Python's 5 ms; any policy, threaded runs)
  degrade:                  # defaults for every node holding a VariantSet ...
    min_slack_ms: 5         #   switch to a cheaper variant below this slack
    recover_slack_ms: 10    #   come back when the slack stays above this ...
    hold_s: 2.0             #   ... for this long
    window: 16              #   chain frames judged at a time
    max_shed: 0.05          #   also switch when the node's executor sheds more than this
                            #   share of its inputs (default: not watched)
    nodes:                  # ... and per-node overrides (plus the chain it watches)
      detector: {chain: camera_to_objects, min_slack_ms: 8}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stack.graph_values import expect_bool, expect_int, expect_number
from stack.scheduler.errors import SchedulerError

SECTION_KEYS = {
    "stale_drop",
    "blocking_guard",
    "gate_devices",
    "gc_freeze",
    "degrade",
    "switch_interval_ms",
}
DEGRADE_KEYS = {
    "min_slack_ms", "recover_slack_ms", "hold_s", "window", "nodes", "enabled", "max_shed",
}  # fmt: skip
NODE_DEGRADE_KEYS = (DEGRADE_KEYS - {"nodes"}) | {"chain"}
DEFAULT_GATE_DEVICES = ("gpu", "dla")


@dataclass(frozen=True)
class DegradeConfig:
    """Hysteresis of one node's variant switching (see stack.scheduler.degrade)."""

    min_slack_ms: float | None = None  # None: 10 % of the chain budget
    recover_slack_ms: float | None = None  # None: twice the (resolved) min slack
    hold_s: float = 2.0
    window: int = 16
    enabled: bool = True
    chain: str | None = None  # None: the most urgent chain the node is on
    max_shed: float | None = None  # None: the executor's shed inputs are not watched

    def resolved(self, budget_ms: float) -> tuple[float, float]:
        """(min slack, recover slack) in ms for a chain of ``budget_ms``."""
        low = self.min_slack_ms if self.min_slack_ms is not None else 0.1 * budget_ms
        high = self.recover_slack_ms if self.recover_slack_ms is not None else 2.0 * low
        return low, max(high, low)


@dataclass(frozen=True)
class SchedulerConfig:
    stale_drop: bool = True
    blocking_guard: bool = True
    gate_devices: tuple[str, ...] = DEFAULT_GATE_DEVICES
    degrade: DegradeConfig = DegradeConfig()
    node_degrade: Mapping[str, DegradeConfig] = field(default_factory=dict)
    gc_freeze: bool = True
    switch_interval_ms: float | None = None  # None: leave Python's (5 ms)

    def degrade_for(self, node: str) -> DegradeConfig:
        return self.node_degrade.get(node, self.degrade)


def parse_scheduler(raw: Mapping[str, Any] | None, source: str = "<string>") -> SchedulerConfig:
    """Check the ``scheduler:`` mapping of a launch file; errors name the file and key path."""
    raw = raw or {}
    _check_keys(source, "scheduler", raw, SECTION_KEYS)
    stale = _flag(source, raw, "stale_drop")
    guard = _flag(source, raw, "blocking_guard")
    freeze = _flag(source, raw, "gc_freeze")
    devices = raw.get("gate_devices", list(DEFAULT_GATE_DEVICES))
    if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
        raise SchedulerError(
            f"{source}: scheduler.gate_devices: expected a list of device kinds, got {devices!r}"
        )
    degrade_raw = raw.get("degrade") or {}
    if not isinstance(degrade_raw, dict):
        raise SchedulerError(
            f"{source}: scheduler.degrade: expected a mapping, got {degrade_raw!r}"
        )
    _check_keys(source, "scheduler.degrade", degrade_raw, DEGRADE_KEYS)
    defaults = _degrade(source, "scheduler.degrade", degrade_raw, DegradeConfig())
    nodes_raw = degrade_raw.get("nodes") or {}
    if not isinstance(nodes_raw, dict):
        raise SchedulerError(
            f"{source}: scheduler.degrade.nodes: expected a mapping, got {nodes_raw!r}"
        )
    per_node = {}
    for name, body in nodes_raw.items():
        where = f"scheduler.degrade.nodes.{name}"
        if not isinstance(body, dict):
            raise SchedulerError(f"{source}: {where}: expected a mapping, got {body!r}")
        _check_keys(source, where, body, NODE_DEGRADE_KEYS)
        per_node[str(name)] = _degrade(source, where, body, defaults)
    switch = raw.get("switch_interval_ms")
    if switch is not None:
        switch = expect_number(
            f"{source}: scheduler.switch_interval_ms",
            switch,
            at_least=0.01,
            at_most=100,
            error=SchedulerError,
        )
    return SchedulerConfig(
        stale,
        guard,
        tuple(d.lower() for d in devices),
        defaults,
        per_node,
        freeze,
        float(switch) if switch is not None else None,
    )


def _flag(source: str, raw: Mapping[str, Any], key: str) -> bool:
    return expect_bool(f"{source}: scheduler.{key}", raw.get(key, True), error=SchedulerError)


def _degrade(source: str, where: str, raw: Mapping, base: DegradeConfig) -> DegradeConfig:
    changes: dict[str, Any] = {}
    at = f"{source}: {where}"
    for key in ("min_slack_ms", "recover_slack_ms", "hold_s"):
        if key in raw:
            changes[key] = expect_number(f"{at}.{key}", raw[key], at_least=0, error=SchedulerError)
    if "window" in raw:
        changes["window"] = expect_int(f"{at}.window", raw["window"], low=1, error=SchedulerError)
    if "max_shed" in raw:
        changes["max_shed"] = expect_number(
            f"{at}.max_shed", raw["max_shed"], at_least=0, at_most=1, error=SchedulerError
        )
    if "enabled" in raw:
        changes["enabled"] = expect_bool(f"{at}.enabled", raw["enabled"], error=SchedulerError)
    if "chain" in raw:
        if not isinstance(raw["chain"], str):
            raise SchedulerError(
                f"{source}: {where}.chain: expected a chain name, got {raw['chain']!r}"
            )
        changes["chain"] = raw["chain"]
    return dataclasses.replace(base, **changes)


def _check_keys(source: str, where: str, mapping: Mapping, known: set[str]) -> None:
    for key in mapping:
        if key not in known:
            raise SchedulerError(
                f"{source}: {where}.{key}: unknown key {key!r}; known keys: {sorted(known)}"
            )
