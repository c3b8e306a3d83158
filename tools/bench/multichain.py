"""The multi-chain graph of `l4 bench overload` and `l4 bench sim`, and how it is measured.

Three sensors on their own executor feed one compute executor with one worker thread, the
"CPU". Work per input is random around a mean (``VariableWork``), as scene content varies:

    critical   /cam   -> perceive -> plan -> control -> /cmd   priority 10, budget 30 ms
    mapping    /lidar -> voxelize -> localize       -> /pose  priority 5,  budget 150 ms
    logging    /aux   -> encode   -> pack           -> /log   priority 1,  budget 300 ms

``multichain_launch(load)`` scales every sensor rate by one factor so the compute work asked
for is ``load`` times what the worker can do. The base rates are incommensurate, so over a run
the sensors meet at every phase. Executors ask for SCHED_FIFO (granted to root or with
CAP_SYS_NICE; said once and ignored otherwise), which keeps other processes on a shared machine
from stretching the measured callbacks.

Each run goes to a fresh interpreter (``in_subprocess``): no threads or lock state left over
from a previous run.
"""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.node import Context, Node
from stack.nodes.synthetic import spin_for

CRITICAL = "critical"
WORK = "tools.bench.multichain:VariableWork"
SOURCE = "stack.nodes.synthetic:Heartbeat"
HEADER = "std_msgs/msg/Header"
SPREAD = 0.5  # each run's work is uniform in (1 +- SPREAD) x the mean, as scene content varies
RT_PRIORITY = 20  # SCHED_FIFO for the executors where permitted: other processes stay out


@dataclass
class VariableWorkParams:
    input: str = "/in"
    output: str = "/out"
    msgtype: str = HEADER
    work_ms: float = 1.0  # mean
    spread: float = SPREAD

    def validate(self) -> None:
        if self.work_ms < 0 or not 0 <= self.spread < 1:
            raise ValueError(f"need work_ms >= 0 and 0 <= spread < 1, got {self!r}")


class VariableWork(Node):
    """Like stack.nodes.synthetic.Work, with a seeded random work time per input."""

    Params = VariableWorkParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        p = self.params
        self.rng = random.Random(zlib.crc32(ctx.name.encode()))
        self.pub = ctx.publisher(p.output, p.msgtype)
        ctx.subscribe(p.input, p.msgtype, self.on_input, depth=1)

    def on_input(self, msg: Any) -> None:
        p = self.params
        spin_for(p.work_ms * self.rng.uniform(1.0 - p.spread, 1.0 + p.spread))
        self.pub.publish(msg)


@dataclass(frozen=True)
class ChainDef:
    name: str
    sensor: str
    rate_hz: float  # before scaling
    stages: tuple[tuple[str, str, float], ...]  # (node, output topic, work ms)
    budget_ms: float
    priority: int


CHAINS = (
    ChainDef(
        CRITICAL, "/cam", 7.0,
        (("perceive", "/objects", 2.0), ("plan", "/trajectory", 2.0), ("control", "/cmd", 1.0)),
        30.0, 10,
    ),
    ChainDef("mapping", "/lidar", 10.3, (("voxelize", "/points", 6.0), ("localize", "/pose", 6.0)), 150.0, 5),
    ChainDef("logging", "/aux", 7.9, (("encode", "/packed", 4.0), ("pack", "/log", 6.0)), 300.0, 1),
)  # fmt: skip


def base_load(chains: tuple[ChainDef, ...] = CHAINS) -> float:
    """Compute-thread seconds asked for per second at the base rates."""
    return sum(c.rate_hz * sum(s[2] for s in c.stages) / 1e3 for c in chains)


def multichain_launch(
    load: float,
    chains: tuple[ChainDef, ...] = CHAINS,
    name: str = "overload",
    rt_priority: int = RT_PRIORITY,
) -> str:
    """The launch YAML with every sensor rate scaled so the compute load is ``load``; with
    ``rt_priority`` the executors ask for SCHED_FIFO (sensors one level above compute)."""
    k = load / base_load(chains)
    sensor_prio = rt_priority + 1 if rt_priority else 0
    lines = [
        f"name: {name}",
        "executors:",
        f"  sensors: {{threads: 1, priority: {sensor_prio}}}",
        f"  compute: {{threads: 1, priority: {rt_priority}}}",
        "nodes:",
    ]
    for c in chains:
        lines += [
            f"  {c.name}_sensor:",
            f"    class: {SOURCE}",
            "    executor: sensors",
            f"    params: {{topic: {c.sensor}, rate_hz: {c.rate_hz * k:.4f}}}",
        ]
        upstream = c.sensor
        for node, out, ms in c.stages:
            lines += [
                f"  {node}:",
                f"    class: {WORK}",
                "    executor: compute",
                f"    params: {{input: {upstream}, output: {out}, msgtype: {HEADER}, work_ms: {ms}}}",
            ]
            upstream = out
    lines.append("chains:")
    for c in chains:
        path = ", ".join([c.sensor] + [s[1] for s in c.stages])
        lines.append(
            f"  {c.name}: {{path: [{path}], budget_ms: {c.budget_ms}, priority: {c.priority}}}"
        )
    return "\n".join(lines) + "\n"


def measure_run(
    launch_text: str, policy: str, seconds: float, trace: bool = False
) -> dict[str, Any]:
    """Run the graph for ``seconds`` on the embedded executor (call in a fresh process).

    Returns per chain: frames, latencies and which frames reached the end, plus the counters
    and, with ``trace``, the trace records (for a profile).
    """
    from stack.executor import Runtime, WallClock
    from stack.graph import parse_graph
    from stack.trace.records import Tracer

    graph = parse_graph(launch_text, f"<bench {policy}>")
    tracer = Tracer(enabled=trace)
    rt = Runtime(graph, WallClock(), policy=policy, tracer=tracer)
    starts = {c.start: c.name for c in graph.chains.values()}
    frames: dict[str, list[int]] = {name: [] for name in graph.chains}

    def tap(topic: str, msg: Any, publish_ns: int) -> None:
        chain = starts.get(topic)
        if chain is not None:
            frames[chain].append(publish_ns)

    rt.taps.append(tap)
    t0 = time.perf_counter_ns()
    rt.spin(seconds)
    end = time.perf_counter_ns()
    return {
        "policy": policy,
        "t0_ns": t0,
        "end_ns": end,
        "frames": frames,
        "outputs": {n: list(v) for n, v in rt.chain_latencies.items()},
        "overwrites": {
            f"{s.node.name} {t}": s.overwritten
            for t, ts in rt.topics.items()
            for s in ts.subscriptions
        },
        "stale_drops": {n: st.counters.get("drop", 0) for n, st in rt.nodes.items()},
        "records": list(tracer.records) if trace else [],
    }


_CHILD = """
import pickle, sys
from importlib import import_module
module, name, path = sys.argv[1:4]
with open(path, "rb") as f:
    args = pickle.load(f)
result = getattr(import_module(module), name)(*args)
with open(path, "wb") as f:
    pickle.dump(result, f)
"""


def in_subprocess(func: Any, *args: Any) -> Any:
    """Run ``func(*args)`` in a fresh interpreter (no threads or GIL state left over)."""
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="l4bench") as tmp:
        path = Path(tmp) / "io.pickle"
        path.write_bytes(pickle.dumps(args))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-c", _CHILD, func.__module__, func.__name__, str(path)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"benchmark child {func.__module__}.{func.__name__} failed "
                f"(exit {proc.returncode}):\n{proc.stderr[-2000:]}"
            )
        return pickle.loads(path.read_bytes())


def measured_stats(result: dict[str, Any], launch_text: str) -> dict[str, Any]:
    """ChainStats per chain of a measured run (the simulator's figures, from reality)."""
    from stack.graph import parse_graph
    from tools.schedsim.results import chain_stats

    graph = parse_graph(launch_text)
    out = {}
    for name, spec in graph.chains.items():
        outputs = result["outputs"][name]
        reached = {t - lat for t, lat in outputs}
        drops = _chain_drops(result, spec)
        out[name] = chain_stats(
            spec, result["frames"][name], outputs, reached, drops, result["end_ns"]
        )
    return out


def _chain_drops(result: dict[str, Any], spec: Any) -> int:
    carriers = {(n, t) for t, n in _hops(spec)}
    over = sum(v for key, v in result["overwrites"].items() if tuple(key.split(" ", 1)) in carriers)
    stale = sum(result["stale_drops"].get(n, 0) for n, _ in carriers)
    return over + stale


def _hops(spec: Any) -> list[tuple[str, str]]:
    """(input topic, node) per stage of a chain built by multichain_launch."""
    by_output = {s[1]: s[0] for c in CHAINS for s in c.stages}
    return [(topic, by_output[nxt]) for topic, nxt in zip(spec.path, spec.path[1:])]
