"""Where the runtime calls into the scheduler: stale-input drops at dequeue, the per-device
engine gates, and degrade controllers for nodes that hold a VariantSet.

Stale drops and variant switches judge real (monotonic) time, so they are off in lockstep mode,
which must give the same outputs for the same inputs, and under the FIFO policy, which stands
for a plain ROS 2 executor.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from stack.msgs import stamp_of
from stack.scheduler.config import SchedulerConfig, parse_scheduler
from stack.scheduler.degrade import DegradeController, Thresholds
from stack.scheduler.errors import SchedulerError
from stack.scheduler.frames import FrameLedger, ShedMeter
from stack.scheduler.gate import DeviceGates
from stack.scheduler.guard import BlockingGuard
from stack.scheduler.policy import ChainMembership, PolicyKind
from stack.scheduler.variants import VariantSet
from stack.trace.records import EventKind

if TYPE_CHECKING:  # stack.executor imports this module
    from stack.executor.entities import Envelope, NodeState, Subscription
    from stack.executor.ready import Admit
    from stack.executor.view import HookedRuntime

log = logging.getLogger(__name__)
DROP_EVENT = EventKind.DROP.value  # the report counts it as a lost input of the chain


class SchedulerHooks:
    def __init__(self, runtime: HookedRuntime) -> None:
        from stack.executor.threads import current_cpu  # stack.executor imports this module

        self.runtime = runtime
        self._cpu = current_cpu
        try:
            self.config: SchedulerConfig = parse_scheduler(
                runtime.graph.scheduler, runtime.graph.source
            )
        except SchedulerError as exc:
            raise _executor_error(str(exc)) from exc
        adaptive = runtime.policy.kind is PolicyKind.CHAIN and not runtime.lockstep
        self.stale_check = adaptive and self.config.stale_drop
        self.adaptive = adaptive
        # Wall-clock forecasts: off in lockstep and under FIFO, like the stale drops.
        self.guard = BlockingGuard() if adaptive and self.config.blocking_guard else None
        self.gates = DeviceGates(self.config.gate_devices)
        self.controllers: dict[str, list[DegradeController]] = {}
        self._engines: list[tuple[NodeState, Any]] = []  # (node, engine) taking node priority
        self._advised: dict[str, list[VariantSet]] = {}  # node -> its sets under a controller
        self.stale_drops = 0

    # ---- stale inputs ---------------------------------------------------------------------
    def drop_stale(self, sub: Subscription, env: Envelope) -> bool:
        """True if ``env`` is past its chains' budgets: count it, trace it, skip the callback."""
        if not self.stale_check or not sub.chains or sub.side_input:
            return False
        now = time.perf_counter_ns()
        ahead = self.work_ahead(sub)
        verdict = self.runtime.policy.stale(sub.chains, env.origins, now, ahead)
        if verdict is None:
            return False
        chain, age = verdict
        node = sub.node
        node.count(DROP_EVENT)
        self.stale_drops += 1
        tracer = self.runtime.tracer
        if tracer.enabled:
            work = ahead.get(chain.chain, 0)
            detail = (
                f"stale {sub.topic}: age {age / 1e6:.1f} ms + {work / 1e6:.1f} ms of work "
                f"ahead > chain {chain.chain} budget {chain.budget_ns / 1e6:g} ms"
            )
            # A zero-length record: the scheduler's decision for this ready input, not a run.
            stamp = stamp_of(env.msg)
            tracer.record(
                (
                    node.name, sub.name, threading.current_thread().name, self._cpu(), now, now,
                    ((sub.topic, stamp),), (), node.variant, ((DROP_EVENT, detail),),
                )
            )  # fmt: skip
        return True

    def work_ahead(self, sub: Subscription) -> dict[str, int]:
        """BlockingGuard.work_ahead for the input just taken from ``sub`` (none without the
        guard, which keeps the callbacks' durations)."""
        guard = self.guard
        return {} if guard is None else guard.work_ahead(sub.ahead, bool(sub.queue))

    # ---- the blocking guard ---------------------------------------------------------------
    def admit_for(self, executor: str) -> Admit | None:
        """The ready queue's admission test for ``executor`` (None: start whatever is first)."""
        guard = self.guard
        watched = guard.executors.get(executor) if guard is not None else None
        if watched is None or not watched.inputs:
            return None

        advised = self._advised

        def admit(item: tuple, now_ns: int) -> int:
            entity = item[3]
            node = entity.node.name
            hold = guard.hold_until(executor, -item[0], node, entity.name, now_ns)
            # A held node that can degrade is asked now; with a switch pending its durations
            # describe the old variant, so it runs (and the switch happens in that run).
            if hold and any(vset.advise() for vset in advised.get(node, ())):
                return 0
            return hold

        return admit

    def setup_timer_thread(self) -> None:
        """The timer thread releases every sensor tick: it runs at the highest executor priority
        (SCHED_FIFO where permitted), so a busy worker cannot make the sensors late."""
        from stack.executor.threads import configure_worker_thread

        execs = self.runtime.graph.executors.values()
        configure_worker_thread("timers", (), max((e.priority for e in execs), default=0))

    # ---- engines --------------------------------------------------------------------------
    def gate_engine(self, node: NodeState, engine: Any, options: dict) -> Any:
        """Put ``engine`` behind its device's priority gate, at its node's chain priority."""
        if "gate" not in options and hasattr(engine, "gate"):
            gate = self.gates.for_device(str(getattr(engine, "device", "")))
            if gate is not None:
                engine.gate = gate
        if "priority" not in options and hasattr(engine, "priority"):
            self._engines.append((node, engine))  # chains are known only after every node is built
        return engine

    # ---- after the graph is built ---------------------------------------------------------
    def node_chains(self) -> dict[str, list[ChainMembership]]:
        """Chains each node serves: through its subscriptions, or by publishing a chain start."""
        out: dict[str, list[ChainMembership]] = {}
        rt = self.runtime
        for topic in rt.topics.values():
            for sub in topic.subscriptions:
                out.setdefault(sub.node.name, []).extend(sub.chains)
        for chain in rt.graph.chains.values():
            member = ChainMembership(chain.name, chain.priority, chain.start, chain.budget_ns)
            for node in rt.topics[chain.start].publishers:
                out.setdefault(node, []).append(member)
        return {n: list(dict.fromkeys(ms)) for n, ms in out.items()}

    def after_build(self, *, force_adaptive: bool = False) -> None:
        """Engine priorities and degrade controllers, once every node declared its topics."""
        chains = self.node_chains()
        if self.guard is not None:
            for executor in self.runtime.graph.executors:
                self.guard.watch(executor, self._subscriptions_of(executor))
        for node, engine in self._engines:
            members = chains.get(node.name, ())
            engine.priority = max((m.priority for m in members), default=0)
        if self.adaptive or force_adaptive:
            for name, state in self.runtime.nodes.items():
                for vset in _variant_sets(state.instance):
                    self._attach(name, vset, chains.get(name, []))

    def _subscriptions_of(self, executor: str) -> list[Subscription]:
        return [
            sub
            for topic in self.runtime.topics.values()
            for sub in topic.subscriptions
            if sub.node.spec.executor == executor
        ]

    def _attach(self, node: str, vset: VariantSet, members: list[ChainMembership]) -> None:
        cfg = self.config.degrade_for(node)
        graph = self.runtime.graph
        if not cfg.enabled or len(vset) < 2:
            return
        if cfg.chain is not None:
            if cfg.chain not in graph.chains:
                raise _executor_error(
                    f"{graph.source}: scheduler.degrade.nodes.{node}.chain: unknown chain "
                    f"{cfg.chain!r}; chains: {sorted(graph.chains)}"
                )
            chain = graph.chains[cfg.chain]
        elif members:
            best = min(members, key=lambda m: (-m.priority, m.budget_ns))
            chain = graph.chains[best.chain]
        else:
            log.info("node %s has model variants but is on no chain: not degraded", node)
            return
        limits = Thresholds.from_config(cfg, chain.budget_ms, chain.percentile)
        rt = self.runtime
        frames = FrameLedger(
            rt.start_times[chain.start], rt.chain_latencies[chain.name], limits.budget_ns
        )
        shed: ShedMeter | None = None
        if limits.max_shed is not None:  # the executor's shed work is watched
            executor = rt.nodes[node].spec.executor
            shed = ShedMeter(
                self._subscriptions_of(executor),
                [n for n in rt.nodes.values() if n.spec.executor == executor],
            )
        ctl = DegradeController(chain.name, frames, limits, shed=shed)
        vset.advisor = ctl
        if self.guard is not None:
            vset.on_switch.append(self.guard.forget)
            self._advised.setdefault(node, []).append(vset)
        self.controllers.setdefault(node, []).append(ctl)


def _variant_sets(instance: Any) -> list[VariantSet]:
    """VariantSets a node holds as attributes (directly, or in a list/tuple/dict attribute)."""
    found: list[VariantSet] = []
    for value in vars(instance).values() if hasattr(instance, "__dict__") else ():
        if isinstance(value, VariantSet):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(v for v in value if isinstance(v, VariantSet))
        elif isinstance(value, dict):
            found.extend(v for v in value.values() if isinstance(v, VariantSet))
    return list({id(v): v for v in found}.values())


def _executor_error(text: str) -> Exception:
    from stack.executor.errors import ExecutorError

    return ExecutorError(text)
