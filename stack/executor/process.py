"""An executor in a process of its own (``process: true`` in the launch file).

Every executor of a Runtime shares one interpreter lock. A 100 Hz EKF woken while perception
and planning hold it waits for the lock on top of its wait for a CPU: 2-5 ms tails on two
cores. Run in a process of its own (as Autoware runs its localizer in a container of its own),
its callbacks never wait on the lock of the rest of the graph, and its SCHED_FIFO priority, if
set, then buys a CPU without stalling anyone's Python.

How it runs, in threaded mode (lockstep runs every executor in-process: order, not timing,
matters there):

- The parent builds the executor's nodes too, to know their topics and keep their counters;
  they never run there. The child builds them again and runs them in a Runtime of their own.
- One duplex pipe per child. Down: every message published (or injected) in the parent on a
  topic the child subscribes. Up: every message the child publishes, its trace records, a
  failure under fail-fast, and at the end its counters. Messages cross as CDR, with their
  lineage and publish time, so chain latencies, stale drops and wake-up delays are measured
  across the process boundary on the host's one monotonic clock.
- The child's main thread reads the pipe with the executor's thread settings (cores, SCHED_FIFO
  priority, nice), so a message reaches its worker without waiting behind the parent's threads.

Left out: engine gates and degrade controllers work per process (a child's engines take turns
among themselves, not with the parent's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import threading
from typing import Any

from stack.executor.errors import ExecutorError
from stack.executor.pipe import PipeKind, Wire, message
from stack.executor.stats import ChildStats, collect_stats
from stack.executor.threads import configure_worker_thread
from stack.executor.view import ChildFactory, ProcessChild, ProcessParent
from stack.graph import ExecutorSpec, LaunchGraph
from stack.trace.records import Origins, Tracer

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 120.0  # a child imports its nodes' modules and builds them (maps, models)
STOP_TIMEOUT_S = 10.0
DRAIN_S = 1.0  # a child finishes what its last inputs started, as the parent's graph does


def executor_part(graph: LaunchGraph, name: str) -> LaunchGraph:
    """The launch graph cut down to one executor and its nodes (chains kept whole)."""
    spec = graph.executors[name]
    nodes = {n: s for n, s in graph.nodes.items() if s.executor == name}
    return dataclasses.replace(graph, executors={name: spec}, nodes=nodes, warnings=[])


@dataclasses.dataclass(frozen=True)
class ChildOptions:
    """How the child builds its runtime: as the parent's, with ``factory`` (the Runtime class,
    pickled by name: this module does not import the runtime that imports it)."""

    factory: ChildFactory
    policy: str
    fail_fast: bool
    trace: bool
    clock: Any


class RemoteExecutor:
    """The parent's side of a process executor: starts the child, forwards to it, relays back."""

    def __init__(
        self,
        runtime: ProcessParent,
        spec: ExecutorSpec,
        factory: ChildFactory,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self.runtime = runtime
        self.spec = spec
        self.nodes = frozenset(n for n, s in runtime.graph.nodes.items() if s.executor == spec.name)
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads running
        here, there = ctx.Pipe()
        self.wire = Wire(here)
        options = ChildOptions(
            factory=factory,
            policy=runtime.policy.kind.value,
            fail_fast=runtime.fail_fast,
            trace=runtime.tracer.enabled,
            clock=runtime.clock,
        )
        self.process = ctx.Process(
            target=child_main,
            args=(there, executor_part(runtime.graph, spec.name), options),
            name=f"l4-{spec.name}",
            daemon=True,
        )
        self.process.start()
        there.close()
        self.stats: ChildStats | None = None
        self._receiver: threading.Thread | None = None
        self._await_ready(ready_timeout_s)

    @property
    def name(self) -> str:
        return self.spec.name

    def _await_ready(self, timeout_s: float) -> None:
        if not self.wire.conn.poll(timeout_s):
            self.process.kill()
            raise ExecutorError(
                f"executor {self.name}: its process did not build its nodes within {timeout_s} s"
            )
        try:
            kind, detail = self.wire.receive()
        except EOFError:
            self.process.join(STOP_TIMEOUT_S)
            raise ExecutorError(
                f"executor {self.name}: its process exited while starting "
                f"(exit code {self.process.exitcode})"
            ) from None
        if kind is not PipeKind.READY:
            self.process.join(STOP_TIMEOUT_S)
            raise ExecutorError(str(detail))

    def forward(
        self, topic: str, msgtype: str, msg: Any, origins: Origins, publish_ns: int
    ) -> None:
        with contextlib.suppress(OSError):  # the child is gone; the receiver says why
            self.wire.forward(topic, msgtype, msg, origins, publish_ns)

    def start(self) -> None:
        self.wire.send(PipeKind.START, self.runtime.clock)
        self._receiver = threading.Thread(
            target=self._receive, name=f"{self.name}-relay", daemon=True
        )
        self._receiver.start()

    def _receive(self) -> None:
        runtime = self.runtime
        while True:
            try:
                kind, body = self.wire.receive()
            except (EOFError, OSError):
                self.process.join(STOP_TIMEOUT_S)
                runtime.fail(
                    ExecutorError(
                        f"executor {self.name}: its process exited during the run "
                        f"(exit code {self.process.exitcode})"
                    )
                )
                return
            if kind is PipeKind.MSG:
                m = message(body)
                runtime.publish_from(self, m.topic, m.decode(), m.origins, m.publish_ns)
            elif kind is PipeKind.REC:
                runtime.tracer.record(body)  # looked up each time: a drain rebinds it
            elif kind is PipeKind.FAIL:
                runtime.fail(ExecutorError(body))
            elif kind is PipeKind.DONE:
                self.stats = body
                return

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Let the child finish its last inputs, then collect its counters."""
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.wire.send(PipeKind.STOP)
        if self._receiver is not None:
            self._receiver.join(timeout_s)
        self.process.join(timeout_s)
        if self.process.is_alive():
            log.warning("executor %s: its process did not stop within %.1f s", self.name, timeout_s)
            self.process.kill()
        self.wire.conn.close()


class _PipeTracer(Tracer):
    """Trace records go up the pipe as each callback ends; the parent's tracer writes them."""

    def __init__(self, wire: Wire, enabled: bool) -> None:
        super().__init__(enabled)
        self.record = wire.record


def child_main(conn: Any, graph: LaunchGraph, options: ChildOptions) -> None:
    """The child process: build the executor's nodes, then serve the pipe until told to stop."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    wire = Wire(conn)
    try:
        runtime = options.factory(
            graph,
            options.clock,
            policy=options.policy,
            tracer=_PipeTracer(wire, options.trace),
            fail_fast=options.fail_fast,
            uplink=wire,
        )
    except Exception as exc:  # said in the parent, which raises it
        wire.send(PipeKind.ERROR, str(exc))
        return
    wire.send(PipeKind.READY)
    spec = next(iter(graph.executors.values()))
    configure_worker_thread(spec.name, spec.cores, spec.priority, spec.nice)
    _serve(wire, runtime)


def _serve(wire: Wire, runtime: ProcessChild) -> None:
    deliver = runtime.deliver_external
    while True:
        if runtime.stopping:  # a callback failed under fail-fast
            wire.send(PipeKind.FAIL, str(runtime.failure))
            _finish(wire, runtime)
            return
        if not wire.conn.poll(0.1):
            continue
        try:
            kind, body = wire.receive()
        except (EOFError, OSError):  # the parent is gone
            runtime.request_stop()
            return
        if kind is PipeKind.MSG:
            m = message(body)
            deliver(m.topic, m.decode(), m.origins, m.publish_ns)
        elif kind is PipeKind.START:
            _sync_clock(runtime.clock, body)
            runtime.start()
        elif kind is PipeKind.STOP:
            runtime.wait_idle(DRAIN_S)
            _finish(wire, runtime)
            return


def _sync_clock(clock: Any, parent: Any) -> None:
    """Take the parent's clock as it is at start (a replay rebases it just before)."""
    setstate = getattr(clock, "__setstate__", None)
    if setstate is not None:
        setstate(parent.__getstate__())


def _finish(wire: Wire, runtime: ProcessChild) -> None:
    with contextlib.suppress(ExecutorError):  # already said through FAIL
        runtime.shutdown()
    wire.send(PipeKind.DONE, collect_stats(runtime))
