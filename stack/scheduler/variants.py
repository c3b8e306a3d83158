"""Model variants of one node: dense, pruned, token-pruned at several keep ratios...

A node that can trade accuracy for time loads its variants into a VariantSet, most accurate
first, each cheaper than the one before, and runs whichever is current:

    class Detector(Node):
        def __init__(self, ctx):
            super().__init__(ctx)
            self.models = VariantSet(ctx, ["detector_dense.onnx", "detector_pruned.onnx"])

        def on_image(self, msg):
            outputs = self.models.run({"images": batch})   # the current variant, timed

The runtime finds the set among the node's attributes after construction and attaches a
degrade controller (stack.scheduler.degrade) that watches the node's chain. The controller only
*requests* a switch; the set applies it on the node's own thread at the next ``current`` /
``run``, so a run never sees its engine swapped underneath it and the "switch" event and the
variant name land on that callback's trace record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from stack.events import EventKind
from stack.scheduler.errors import SchedulerError

_EWMA = 0.2  # weight of the newest run in a variant's cost estimate


class SwitchAdvisor(Protocol):
    def poll(self, vset: VariantSet) -> tuple[int, str] | None:
        """(index to switch to, reason) when the set should switch now, else None."""
        ...


class VariantSet:
    """Engines of one node, most accurate first; ``current`` is the one in use."""

    def __init__(
        self,
        ctx: Any,
        models: Sequence[str | Path | Any] | Mapping[str, str | Path | Any],
        **engine_options: Any,
    ) -> None:
        self.ctx = ctx
        items = list(models.items()) if isinstance(models, Mapping) else _named(models)
        if not items:
            raise SchedulerError(f"node {ctx.name}: a VariantSet needs at least one model")
        names = [name for name, _ in items]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise SchedulerError(f"node {ctx.name}: variant names repeat: {sorted(dup)}")
        self.names: tuple[str, ...] = tuple(names)
        self.engines: tuple[Any, ...] = tuple(
            _load(ctx, name, model, engine_options) for name, model in items
        )
        if len(self.engines) > 1:  # a switch must not meet an engine's slow first runs
            for engine in self.engines:
                warmup = getattr(engine, "warmup", None)
                if callable(warmup):
                    warmup()
        self.index = 0
        self.cost_ms: list[float | None] = [None] * len(items)  # EWMA of run time per variant
        self.switches: list[tuple[str, str, str]] = []  # (from, to, reason)
        self.advisor: SwitchAdvisor | None = None
        # Called with the node's name after each switch (the blocking guard forgets the
        # callback durations of the old variant).
        self.on_switch: list[Callable[[str], None]] = []
        self._pending: tuple[int, str] | None = None  # advice taken off the node's thread
        _set_variant(ctx, self.names[0])

    @property
    def name(self) -> str:
        return self.names[self.index]

    def settle(self) -> int:
        """Apply a switch the controller asked for, and return the index of the variant in use.

        A node whose variants differ in pre- or post-processing calls it once at the start of a
        callback and runs that index throughout (``run_variant``)."""
        advice, self._pending = self._pending, None
        if advice is None and self.advisor is not None:
            advice = self.advisor.poll(self)
        if advice is not None:
            self.switch(*advice)
        return self.index

    def advise(self) -> bool:
        """Ask the controller now, outside the node's callbacks, and keep what it advises for
        the node's next run (``settle`` applies it there); True while a switch is pending.

        The scheduler asks for a node it is holding back: a low-priority node whose callbacks
        never fit a gap would otherwise never run, so never ask, so never step down to a
        variant that fits."""
        if self._pending is None and self.advisor is not None:
            self._pending = self.advisor.poll(self)
        return self._pending is not None

    @property
    def current(self) -> Any:
        """The engine to use now (applies a switch the controller asked for)."""
        return self.engines[self.settle()]

    def run(self, feeds: Mapping[str, Any]) -> Any:
        """Run the current variant and fold its run time into that variant's cost estimate."""
        return self.run_variant(self.settle(), feeds)

    def run_variant(self, index: int, feeds: Mapping[str, Any]) -> Any:
        """Run variant ``index`` (the one a callback chose at its start), timed like ``run``.

        A node whose variants need different pre- or post-processing (a detector per model
        card) calls ``settle`` once per callback and runs that variant, so a switch the
        controller asks for mid-callback waits for the next one."""
        engine = self.engines[index]
        start = time.perf_counter_ns()
        out = engine.run(feeds)
        took = (time.perf_counter_ns() - start) / 1e6
        old = self.cost_ms[index]
        self.cost_ms[index] = took if old is None else old + _EWMA * (took - old)
        return out

    def switch(self, index: int, reason: str = "") -> None:
        """Use variant ``index`` from now on; traced as a "switch" event on the running callback."""
        if not 0 <= index < len(self.engines):
            raise SchedulerError(
                f"node {self.ctx.name}: no variant {index} (have {len(self.engines)})"
            )
        if index == self.index:
            return
        old, new = self.names[self.index], self.names[index]
        self.index = index
        self.switches.append((old, new, reason))
        detail = f"{old} -> {new}" + (f": {reason}" if reason else "")
        self.ctx.event(EventKind.SWITCH, detail)
        _set_variant(self.ctx, new)
        self.ctx.logger.info("variant %s", detail)
        for listener in self.on_switch:
            listener(self.ctx.name)

    @property
    def cheapest(self) -> bool:
        return self.index == len(self.engines) - 1

    def __len__(self) -> int:
        return len(self.engines)

    def __repr__(self) -> str:
        return f"VariantSet({list(self.names)}, current={self.name!r})"


def _named(models: Sequence[Any]) -> list[tuple[str, Any]]:
    out = []
    for i, model in enumerate(models):
        if isinstance(model, (str, Path)):
            out.append((Path(model).stem, model))
        else:  # an engine already loaded
            out.append((str(getattr(model, "variant", "") or f"variant{i}"), model))
    return out


def _load(ctx: Any, name: str, model: Any, options: Mapping[str, Any]) -> Any:
    if not isinstance(model, (str, Path)):
        if not callable(getattr(model, "run", None)):
            raise SchedulerError(
                f"node {ctx.name}: variant {name!r}: expected a model path or an engine "
                f"with run(), got {type(model).__name__}"
            )
        return model
    return ctx.engine(model, variant=name, **options)


def _set_variant(ctx: Any, name: str) -> None:
    setter = getattr(ctx, "set_variant", None)  # not every Context traces variants
    if setter is not None:
        setter(name)
