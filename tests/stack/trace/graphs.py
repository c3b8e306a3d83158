"""Graphs with known synthetic delays, run in lockstep, for the trace and report tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stack.executor import Runtime, SimClock
from stack.graph import parse_graph
from stack.msgs import new, ns_to_stamp
from stack.node import Context, Node
from stack.nodes.synthetic import spin_for
from stack.trace import Tracer, TraceWriter, write_run_dir

IMAGE = "sensor_msgs/msg/Image"
WORK = "stack.nodes.synthetic:Work"
FUSE = "tests.stack.trace.graphs:Fusion"


@dataclass
class FusionParams:
    left: str = "/left"
    right: str = "/right"
    output: str = "/fused"
    work_ms: float = 1.0


class Fusion(Node):
    """Publishes once both inputs arrived since its last output (an approximate-time sync)."""

    Params = FusionParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        p = self.params
        self.pub = ctx.publisher(p.output, IMAGE)
        self.fresh: dict[str, Any] = {}
        ctx.subscribe(p.left, IMAGE, lambda m: self.on_input("left", m))
        ctx.subscribe(p.right, IMAGE, lambda m: self.on_input("right", m))

    def on_input(self, side: str, msg: Any) -> None:
        self.fresh[side] = msg
        if len(self.fresh) == 2:
            spin_for(self.params.work_ms)
            self.pub.publish(self.fresh["left"])
            self.fresh.clear()


def chain_yaml(w1_ms: float, w2_ms: float, budget_ms: float, name: str = "main") -> str:
    return f"""
name: synthetic
nodes:
  w1: {{class: "{WORK}", params: {{input: /in, output: /mid, work_ms: {w1_ms}}}}}
  w2: {{class: "{WORK}", params: {{input: /mid, output: /out, work_ms: {w2_ms}}}}}
chains:
  {name}: {{path: [/in, /mid, /out], budget_ms: {budget_ms}, percentile: 90}}
"""


FAN_IN = f"""
name: fan_in
allow_external_modules: true
nodes:
  cam: {{class: "{WORK}", params: {{input: /cam, output: /cam_p, work_ms: 2.0}}}}
  lidar: {{class: "{WORK}", params: {{input: /lidar, output: /lidar_p, work_ms: 6.0}}}}
  fuse: {{class: "{FUSE}", params: {{left: /cam_p, right: /lidar_p, work_ms: 1.0}}}}
chains:
  camera: {{path: [/cam, /cam_p, /fused], budget_ms: 50}}
  lidar: {{path: [/lidar, /lidar_p, /fused], budget_ms: 50}}
"""

FAN_OUT = f"""
name: fan_out
nodes:
  a: {{class: "{WORK}", params: {{input: /in, output: /a, work_ms: 2.0}}}}
  b: {{class: "{WORK}", params: {{input: /in, output: /b, work_ms: 4.0}}}}
chains:
  to_a: {{path: [/in, /a], budget_ms: 50}}
  to_b: {{path: [/in, /b], budget_ms: 50}}
"""


def image(stamp_ns: int) -> Any:
    header = new("std_msgs/msg/Header", stamp=ns_to_stamp(stamp_ns), frame_id="f")
    return new(IMAGE, header=header, height=1, width=1, encoding="mono8", step=1)


def lockstep(
    text: str, external: tuple[str, ...], tracer: Tracer | None = None, policy: str = "fifo"
) -> Runtime:
    graph = parse_graph(text, "synthetic.yaml")
    tracer = tracer if tracer is not None else Tracer()
    return Runtime(
        graph,
        SimClock(1_000_000_000),
        lockstep=True,
        policy=policy,
        tracer=tracer,
        external_topics=external,
    )


def feed(rt: Runtime, steps: list[list[str]], cycles: int, period_ns: int = 100_000_000) -> None:
    """Each cycle: for each step, inject one message on each of its topics, run to idle."""
    for _ in range(cycles):
        t = rt.clock.now_ns() + period_ns
        rt.advance_to(t)
        for topics in steps:
            for topic in topics:
                rt.inject(topic, image(t))
            rt.run_until_idle()


def chain_run(
    run_dir: Path, w1_ms: float, w2_ms: float, budget_ms: float, cycles: int = 12
) -> Path:
    """A two-stage chain traced by a TraceWriter into ``run_dir``; returns the run directory."""
    rt = lockstep(chain_yaml(w1_ms, w2_ms, budget_ms), ("/in",), TraceWriter(run_dir))
    feed(rt, [["/in"]], cycles)
    rt.shutdown()
    write_run_dir(run_dir, rt.graph, rt, mode="test")
    return run_dir


def overhead_ms(records: list[tuple], samples: Any) -> np.ndarray:
    """Per chain sample: latency minus the callback time spent inside its window, in ms.

    In lockstep one thread runs everything, so this is what the executor itself adds. It holds
    even when other processes preempt the busy-wait, which inflates latency and span alike.
    """
    start = np.asarray([r[4] for r in records], np.int64)
    end = np.asarray([r[5] for r in records], np.int64)
    out = []
    for pub, lat in zip(samples.publish_ns, samples.latency_ns):
        inside = (start >= pub - lat) & (end <= pub)
        busy = int((end[inside] - start[inside]).sum())
        # the publishing callback is still running at pub: count its part up to the publish
        running = (start < pub) & (end > pub)
        busy += int((pub - start[running]).sum())
        out.append((lat - busy) / 1e6)
    return np.asarray(out)
