"""Stop lines from traffic-light states, as Autoware's behavior_velocity traffic_light module.

For each head of the light map that controls the planned lane and whose stop line lies ahead:
- RED: stop at the line, unless stopping needs more than ``max_stop_decel`` (already past the
  point of no return: crossing is safer than stopping in the junction);
- AMBER: stop if a comfortable stop (``comfort_decel``) is possible when the amber is first
  seen; that decision holds for the amber phase (no flip-flop as the line nears);
- GREEN: go;
- UNKNOWN, or no state newer than ``state_timeout_s`` (occluded, out of view, recognizer
  silent): the last known colour holds for ``hold_s`` (a far-side head leaves the top of the
  image as the ego reaches the line, and a cycle never skips amber); after that timeout, within
  ``unknown_range`` of the line, it is treated as red.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.traffic_light.lightmap import LightMap, LightState
from planning.lane import Lane
from stack.params import non_negative, positive


@dataclass
class SignalConfig:
    comfort_decel: float = 2.5  # m/s^2: amber means stop when this suffices
    max_stop_decel: float = 6.0  # m/s^2: a red line needing more is crossed
    state_timeout_s: float = 1.0  # a state older than this counts as UNKNOWN
    unknown_range: float = 60.0  # m before a line where UNKNOWN means stop
    stop_gap: float = 1.0  # m from the front bumper to the line when stopped
    hold_s: float = 2.0  # the last known colour holds this long once the head reads UNKNOWN

    def __post_init__(self) -> None:
        non_negative("hold_s", self.hold_s)
        for name in ("comfort_decel", "max_stop_decel", "state_timeout_s", "unknown_range"):
            positive(name, getattr(self, name))
        non_negative("stop_gap", self.stop_gap)


@dataclass(frozen=True)
class StopLine:
    group: int
    s: float  # lane arc length of the line
    state: LightState
    reason: str


class SignalRules:
    """The stop lines of one lane's heads; feed states with :meth:`update`, ask :meth:`stops`."""

    def __init__(self, lights: LightMap, lane: Lane, lane_index: int, cfg: SignalConfig) -> None:
        self.cfg = cfg
        heads = (
            np.flatnonzero(lights.lanes[:, lane_index])
            if lane_index < lights.lanes.shape[1]
            else np.zeros(0, int)
        )
        s, _ = lane.project(lights.stop_center[heads])
        self.group = lights.head_group[heads].astype(int)
        self.line_s = np.asarray(s, float)
        self.states: dict[int, tuple[LightState, int]] = {}  # group -> (state, stamp ns)
        self.known: dict[int, tuple[LightState, int]] = {}  # last colour that was not UNKNOWN
        self.amber_stop: dict[int, bool] = {}  # group -> decision taken when amber began

    def update(self, group: int, state: LightState, stamp_ns: int) -> None:
        self.states[group] = (state, stamp_ns)
        if state is not LightState.UNKNOWN:
            self.known[group] = (state, stamp_ns)
        if state is not LightState.AMBER:
            self.amber_stop.pop(group, None)

    def state(self, group: int, now_ns: int) -> LightState:
        state, stamp = self.states.get(group, (LightState.UNKNOWN, -(2**62)))
        if now_ns - stamp > self.cfg.state_timeout_s * 1e9:
            state = LightState.UNKNOWN
        if state is LightState.UNKNOWN:
            known, seen = self.known.get(group, (LightState.UNKNOWN, -(2**62)))
            if now_ns - seen <= self.cfg.hold_s * 1e9:
                return known
        return state

    def stops(self, s_front: float, v: float, now_ns: int) -> list[StopLine]:
        """Lines the ego (front bumper at ``s_front``, speed ``v``) must stop at now."""
        out = []
        for group, line in zip(self.group.tolist(), self.line_s.tolist()):
            dist = line - s_front - self.cfg.stop_gap
            if line < s_front:  # passed
                continue
            need = v * v / (2.0 * max(dist, 0.05))
            state = self.state(group, now_ns)
            if state is LightState.GREEN:
                continue
            if state is LightState.AMBER:
                if group not in self.amber_stop:
                    self.amber_stop[group] = need <= self.cfg.comfort_decel
                if self.amber_stop[group]:
                    out.append(StopLine(group, line, state, "amber: comfortable stop possible"))
                continue
            if state is LightState.UNKNOWN and dist > self.cfg.unknown_range:
                continue
            if need <= self.cfg.max_stop_decel:
                out.append(StopLine(group, line, state, f"{state.name.lower()} light"))
        return out
