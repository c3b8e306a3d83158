"""Degrade and recover: switch a node's model variant by its chain's slack, with hysteresis.

The controller watches the chain's recent end-to-end latencies (``Runtime.chain_latencies``:
``(t_ns, latency_ns)`` appended at each chain output). Slack is the budget minus the chain's
percentile over the samples since the last switch (at most ``window`` of them).

* Degrade: slack below ``min_slack`` over at least a quarter window of samples -> one variant
  cheaper. Only chain runs that *started* after the previous switch count, so the effect of a
  switch is measured before the next one is decided.
* Recover: slack at or above ``recover_slack`` plus what the richer variant is known to cost
  more per run, unbroken for ``hold`` and over at least ``window`` samples -> one variant back.
* No flapping: a degrade soon after a recover doubles the hold (up to 32x); a recovered variant
  that lasts ten holds resets it.

Time is the samples' own timestamps, so the controller is deterministic for given samples.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from stack.scheduler.config import DegradeConfig
from stack.scheduler.variants import VariantSet

MAX_BACKOFF = 32


@dataclass(frozen=True)
class Thresholds:
    budget_ns: int
    percentile: float
    min_slack_ns: int
    recover_slack_ns: int
    hold_ns: int
    window: int

    @classmethod
    def from_config(cls, cfg: DegradeConfig, budget_ms: float, percentile: float) -> Thresholds:
        low, high = cfg.resolved(budget_ms)
        return cls(
            int(budget_ms * 1e6), percentile, int(low * 1e6), int(high * 1e6),
            int(cfg.hold_s * 1e9), cfg.window,
        )  # fmt: skip


class DegradeController:
    """Advises one VariantSet from the latency samples of one chain."""

    def __init__(
        self,
        chain: str,
        samples: Sequence[tuple[int, int]],
        limits: Thresholds,
        clock: Callable[[], int] = time.perf_counter_ns,  # the samples' time base
    ) -> None:
        self.chain = chain
        self._clock = clock
        self.samples = samples  # appended to by the runtime; only read here
        self.limits = limits
        self._seen = 0
        self._since = len(samples)  # first sample index judged for the current variant
        self._switched_ns = clock()  # chain runs that started before: not judged
        self._good_since: int | None = None
        self._backoff = 1
        self._recovered_at: int | None = None
        self.last_slack_ns: int | None = None

    def poll(self, vset: VariantSet) -> tuple[int, str] | None:
        n = len(self.samples)
        if n == self._seen:
            return None
        self._seen = n
        lim = self.limits
        recent = [
            s
            for s in self.samples[max(self._since, n - lim.window) : n]
            if s[0] - s[1] >= self._switched_ns
        ]
        if len(recent) < max(1, lim.window // 4):
            return None
        now = recent[-1][0]
        lat = float(np.percentile([s[1] for s in recent], lim.percentile))
        slack = lim.budget_ns - lat
        self.last_slack_ns = int(slack)
        self._relax_backoff(now)
        if slack < lim.min_slack_ns:
            self._good_since = None
            if vset.cheapest:
                return None
            return self._degrade(vset, n, now, slack)
        if vset.index == 0:
            return None
        return self._maybe_recover(vset, n, now, slack)

    def _degrade(self, vset: VariantSet, n: int, now: int, slack: float) -> tuple[int, str]:
        lim = self.limits
        if self._recovered_at is not None and now - self._recovered_at < 2 * self._hold():
            self._backoff = min(MAX_BACKOFF, self._backoff * 2)
        self._recovered_at = None
        self._mark_switch(n)
        reason = f"chain {self.chain} slack {slack / 1e6:.1f} ms < {lim.min_slack_ns / 1e6:.1f} ms"
        return vset.index + 1, reason

    def _maybe_recover(
        self, vset: VariantSet, n: int, now: int, slack: float
    ) -> tuple[int, str] | None:
        need = self.limits.recover_slack_ns + self._extra_cost_ns(vset)
        if slack < need:
            self._good_since = None
            return None
        if self._good_since is None:
            self._good_since = now
        if n - self._since < self.limits.window or now - self._good_since < self._hold():
            return None
        self._good_since = None
        self._mark_switch(n)
        self._recovered_at = now
        reason = f"chain {self.chain} slack {slack / 1e6:.1f} ms >= {need / 1e6:.1f} ms"
        return vset.index - 1, reason

    def _mark_switch(self, n: int) -> None:
        self._since = n
        self._switched_ns = self._clock()

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
