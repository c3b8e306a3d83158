"""Degrade and recover: switch a node's model variant by its chain's slack and its executor's
shed work, with hysteresis.

The controller judges the chain's *frames* (stack.scheduler.frames.FrameLedger): each frame that
entered the chain, with its end-to-end latency once delivered within the budget, or with its
age once past the budget undelivered (late, overwritten, dropped as stale, still queued). Slack
is the budget minus the chain's percentile over the frames judged since the last switch (at
most ``window`` of them); a chain that delivers nothing at all still has frames, all past the
budget. Optionally (``max_shed``) it also watches the node's executor: the share of inputs its
subscriptions shed (overwritten, dropped as stale) over the last ``SHED_SPAN_NS``.

* Degrade: slack below ``min_slack`` over at least a quarter window of frames, or the executor
  shedding more than ``max_shed`` of its inputs -> one variant cheaper. Only frames that
  entered the chain (and inputs that came) after the previous switch count, so the effect of a
  switch is measured before the next one is decided.
* Recover: slack at or above ``recover_slack`` plus what the richer variant is known to cost
  more per run, over at least ``window`` frames, and (with ``max_shed``) the executor shedding
  at most half of ``max_shed``, unbroken for ``hold`` -> one variant back.
* No flapping: a degrade soon after a recover doubles the hold (up to 32x); a recovered variant
  that lasts ten holds resets it.

Time is the controller's clock (the samples' time base), so it is deterministic for given
frames, samples, shed counts and clock readings.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stack.scheduler.config import DegradeConfig
from stack.scheduler.frames import FrameLedger, ShedCount, ShedSource
from stack.scheduler.variants import VariantSet

MAX_BACKOFF = 32
SHED_SPAN_NS = 2_000_000_000  # the executor's shed share is judged over this much time


@dataclass(frozen=True)
class Thresholds:
    budget_ns: int
    percentile: float
    min_slack_ns: int
    recover_slack_ns: int
    hold_ns: int
    window: int
    max_shed: float | None = None  # None: the executor's shed work is not watched

    @classmethod
    def from_config(cls, cfg: DegradeConfig, budget_ms: float, percentile: float) -> Thresholds:
        low, high = cfg.resolved(budget_ms)
        return cls(
            int(budget_ms * 1e6), percentile, int(low * 1e6), int(high * 1e6),
            int(cfg.hold_s * 1e9), cfg.window, cfg.max_shed,
        )  # fmt: skip


class DegradeController:
    """Advises one VariantSet from the frames of one chain (and its executor's shed work)."""

    def __init__(
        self,
        chain: str,
        frames: FrameLedger,
        limits: Thresholds,
        clock: Callable[[], int] = time.perf_counter_ns,  # the samples' time base
        shed: ShedSource | None = None,
    ) -> None:
        self.chain = chain
        self._clock = clock
        self.frames = frames
        self.limits = limits
        self._shed = shed if limits.max_shed is not None else None
        self._judged: deque[tuple[int, int]] = deque(maxlen=limits.window)
        self._snaps: deque[tuple[int, ShedCount]] = deque()
        self._switched_ns = clock()  # frames that entered before: not judged
        self._good_since: int | None = None
        self._backoff = 1
        self._recovered_at: int | None = None
        self._slack: float | None = None
        self.last_slack_ns: int | None = None
        self.last_shed: float | None = None

    def poll(self, vset: VariantSet) -> tuple[int, str] | None:
        now = self._clock()
        new = [f for f in self.frames.judge(now) if f[0] >= self._switched_ns]
        if new:
            self._judged.extend(new)
            self._slack = self._judge_slack()
        shed = self._shed_share(now)
        self.last_shed = shed
        slack = self._slack
        self._relax_backoff(now)
        lim = self.limits
        if slack is not None and slack < lim.min_slack_ns:
            why = f"chain {self.chain} slack {slack / 1e6:.1f} ms < {lim.min_slack_ns / 1e6:.1f} ms"
        elif shed is not None and lim.max_shed is not None and shed > lim.max_shed:
            why = f"executor shed {100 * shed:.0f} % of its inputs > {100 * lim.max_shed:.0f} %"
        else:
            return None if vset.index == 0 else self._maybe_recover(vset, now, slack, shed)
        self._good_since = None
        return None if vset.cheapest else self._degrade(vset, now, why)

    def _judge_slack(self) -> float | None:
        lim = self.limits
        if len(self._judged) < max(1, lim.window // 4):
            return None
        lat = float(np.percentile([f[1] for f in self._judged], lim.percentile))
        slack = lim.budget_ns - lat
        self.last_slack_ns = int(slack)
        return slack

    def _shed_share(self, now: int) -> float | None:
        """Share of the executor's inputs shed over the last SHED_SPAN_NS, from half of it
        after the last switch on (the work queued under the variant before has passed); None
        without a meter, before the chain's first delivery, or before ``window`` inputs came."""
        if self._shed is None or not self.frames.started:
            return None  # a graph starting up sheds by design, like its chain delivers nothing
        if now - self._switched_ns < SHED_SPAN_NS // 2:
            self._snaps.clear()  # the backlog of the variant before: judge from here on
            return None
        snaps = self._snaps
        snaps.append((now, self._shed()))
        cutoff = now - SHED_SPAN_NS
        while len(snaps) > 1 and snaps[1][0] <= cutoff:
            snaps.popleft()
        base, last = snaps[0][1], snaps[-1][1]
        inputs = last.inputs - base.inputs
        if inputs < self.limits.window:
            return None
        return (last.shed - base.shed) / inputs

    def _degrade(self, vset: VariantSet, now: int, reason: str) -> tuple[int, str]:
        if self._recovered_at is not None and now - self._recovered_at < 2 * self._hold():
            self._backoff = min(MAX_BACKOFF, self._backoff * 2)
        self._recovered_at = None
        self._mark_switch()
        return vset.index + 1, reason

    def _maybe_recover(
        self, vset: VariantSet, now: int, slack: float | None, shed: float | None
    ) -> tuple[int, str] | None:
        lim = self.limits
        need = lim.recover_slack_ns + self._extra_cost_ns(vset)
        calm = self._shed is None or (
            shed is not None and lim.max_shed is not None and shed <= lim.max_shed / 2
        )
        if slack is None or slack < need or not calm:
            self._good_since = None
            return None
        if self._good_since is None:
            self._good_since = now
        if len(self._judged) < lim.window or now - self._good_since < self._hold():
            return None
        self._good_since = None
        self._mark_switch()
        self._recovered_at = now
        reason = f"chain {self.chain} slack {slack / 1e6:.1f} ms >= {need / 1e6:.1f} ms"
        if self._shed is not None:
            reason += f", executor shed {100 * (shed or 0.0):.0f} %"
        return vset.index - 1, reason

    def _mark_switch(self) -> None:
        self._switched_ns = self._clock()
        self._judged.clear()
        self._slack = None
        # Shed work is judged anew from half a span after the switch (`_shed_share`), however
        # far apart the polls come: the variant before's backlog never counts.
        self._snaps.clear()

    def _extra_cost_ns(self, vset: VariantSet) -> int:
        """How much more the richer variant is known to take per run (0 if unknown)."""
        richer, now = vset.cost_ms[vset.index - 1], vset.cost_ms[vset.index]
        if richer is None or now is None:
            return 0
        return max(0, int((richer - now) * 1e6))

    def _hold(self) -> int:
        return self.limits.hold_ns * self._backoff

    def _relax_backoff(self, now: int) -> None:
        if self._recovered_at is not None and now - self._recovered_at >= 10 * self._hold():
            self._backoff = 1
            self._recovered_at = None
