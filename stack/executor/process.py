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
import pickle
import threading
from collections.abc import Iterable
from typing import Any

from stack.executor.errors import ExecutorError
from stack.graph import ExecutorSpec, LaunchGraph
from stack.msgs import deserialize, serialize
from stack.trace.records import Tracer

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 120.0  # a child imports its nodes' modules and builds them (maps, models)
STOP_TIMEOUT_S = 10.0
DRAIN_S = 1.0  # a child finishes what its last inputs started, as the parent's graph does
_PICKLE = pickle.HIGHEST_PROTOCOL


class Wire:
    """One end of the pipe: pickled tuples, sent whole from any thread."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def put(self, item: tuple) -> None:
        data = pickle.dumps(item, _PICKLE)
        with self._lock:
            self.conn.send_bytes(data)

    def get(self) -> tuple:
        return pickle.loads(self.conn.recv_bytes())

    def forward(self, topic: str, msgtype: str, msg: Any, origins: dict, publish_ns: int) -> None:
        """A message for the other side, as a publish or an inject hands it over."""
        self.put(("msg", topic, msgtype, serialize(msg, msgtype), origins, publish_ns))


def _message(item: tuple) -> tuple[str, Any, dict, int]:
    """(topic, message, lineage, publish time) of a ``forward``ed item."""
    _, topic, msgtype, raw, origins, publish_ns = item
    return topic, deserialize(raw, msgtype), origins, publish_ns


def executor_part(graph: LaunchGraph, name: str) -> LaunchGraph:
    """The launch graph cut down to one executor and its nodes (chains kept whole)."""
    spec = graph.executors[name]
    nodes = {n: s for n, s in graph.nodes.items() if s.executor == name}
    return dataclasses.replace(graph, executors={name: spec}, nodes=nodes, warnings=[])


class RemoteExecutor:
    """The parent's side of a process executor: starts the child, forwards to it, relays back."""

    def __init__(self, runtime: Any, spec: ExecutorSpec, ready_timeout_s: float = READY_TIMEOUT_S):
        self.runtime = runtime
        self.spec = spec
        self.nodes = frozenset(n for n, s in runtime.graph.nodes.items() if s.executor == spec.name)
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads running
        here, there = ctx.Pipe()
        self.wire = Wire(here)
        options = {
            "policy": runtime.policy.kind.value,
            "fail_fast": runtime.fail_fast,
            "trace": runtime.tracer.enabled,
            "clock": runtime.clock,
        }
        self.process = ctx.Process(
            target=child_main,
            args=(there, executor_part(runtime.graph, spec.name), options),
            name=f"l4-{spec.name}",
            daemon=True,
        )
        self.process.start()
        there.close()
        self.stats: dict[str, Any] | None = None
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
            kind, detail = self.wire.get()
        except EOFError:
            self.process.join(STOP_TIMEOUT_S)
            raise ExecutorError(
                f"executor {self.name}: its process exited while starting "
                f"(exit code {self.process.exitcode})"
            ) from None
        if kind != "ready":
            self.process.join(STOP_TIMEOUT_S)
            raise ExecutorError(str(detail))

    def subscribes(self, topic_subs: Iterable[Any]) -> bool:
        return any(s.node.name in self.nodes for s in topic_subs)

    def forward(self, topic: str, msgtype: str, msg: Any, origins: dict, publish_ns: int) -> None:
        with contextlib.suppress(OSError):  # the child is gone; the receiver says why
            self.wire.forward(topic, msgtype, msg, origins, publish_ns)

    def start(self) -> None:
        self.wire.put(("start", self.runtime.clock))
        self._receiver = threading.Thread(
            target=self._receive, name=f"{self.name}-relay", daemon=True
        )
        self._receiver.start()

    def _receive(self) -> None:
        runtime = self.runtime
        while True:
            try:
                item = self.wire.get()
            except (EOFError, OSError):
                self.process.join(STOP_TIMEOUT_S)
                runtime.fail(
                    ExecutorError(
                        f"executor {self.name}: its process exited during the run "
                        f"(exit code {self.process.exitcode})"
                    )
                )
                return
            kind = item[0]
            if kind == "msg":
                runtime.publish_from(self, *_message(item))
            elif kind == "rec":
                runtime.tracer.record(item[1])  # looked up each time: a drain rebinds it
            elif kind == "fail":
                runtime.fail(ExecutorError(item[1]))
            elif kind == "done":
                self.stats = item[1]
                return

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Let the child finish its last inputs, then collect its counters."""
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.wire.put(("stop",))
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
        self.record = lambda rec: wire.put(("rec", rec))


def child_main(conn: Any, graph: LaunchGraph, options: dict[str, Any]) -> None:
    """The child process: build the executor's nodes, then serve the pipe until told to stop."""
    from stack.executor.runtime import Runtime
    from stack.executor.threads import configure_worker_thread

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    wire = Wire(conn)
    try:
        runtime = Runtime(
            graph,
            options["clock"],
            policy=options["policy"],
            tracer=_PipeTracer(wire, options["trace"]),
            fail_fast=options["fail_fast"],
            uplink=wire,
        )
    except Exception as exc:  # said in the parent, which raises it
        wire.put(("error", str(exc)))
        return
    wire.put(("ready", None))
    spec = next(iter(graph.executors.values()))
    configure_worker_thread(spec.name, spec.cores, spec.priority, spec.nice)
    _serve(wire, runtime)


def _serve(wire: Wire, runtime: Any) -> None:
    deliver = runtime.deliver_external
    while True:
        if runtime.stopping:  # a callback failed under fail-fast
            wire.put(("fail", str(runtime.failure)))
            _finish(wire, runtime)
            return
        if not wire.conn.poll(0.1):
            continue
        try:
            item = wire.get()
        except (EOFError, OSError):  # the parent is gone
            runtime.request_stop()
            return
        kind = item[0]
        if kind == "msg":
            deliver(*_message(item))
        elif kind == "start":
            _sync_clock(runtime.clock, item[1])
            runtime.start()
        elif kind == "stop":
            runtime.wait_idle(DRAIN_S)
            _finish(wire, runtime)
            return


def _sync_clock(clock: Any, parent: Any) -> None:
    """Take the parent's clock as it is at start (a replay rebases it just before)."""
    setstate = getattr(clock, "__setstate__", None)
    if setstate is not None:
        setstate(parent.__getstate__())


def _finish(wire: Wire, runtime: Any) -> None:
    with contextlib.suppress(ExecutorError):  # already said through "fail"
        runtime.shutdown()
    wire.put(("done", runtime_stats(runtime)))


def runtime_stats(runtime: Any) -> dict[str, Any]:
    """What the parent's run directory needs from a child: counters and errors."""
    return {
        "counters": runtime.counters(),
        "subscriptions": [
            (s.node.name, topic, s.overwritten, s.delivered)
            for topic, t in runtime.topics.items()
            for s in t.subscriptions
        ],
        "timers": [(t.node.name, t.name, t.skipped) for t in runtime.timers],
        "errors": list(runtime.errors),
    }
