"""Nodes for the scheduler tests (loaded through allow_external_modules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stack.engine import example_feeds
from stack.node import Context, Node
from stack.nodes.synthetic import spin_for
from stack.scheduler import VariantSet

HEADER = "std_msgs/msg/Header"
# Extra time every VariantNode spends per input, as if other work competed for the machine.
CONTENTION_MS = [0.0]


@dataclass
class VariantNodeParams:
    input: str = "/in"
    output: str = "/out"
    variants: list = field(default_factory=list)  # ONNX paths, most accurate first
    cost_ms: list = field(default_factory=list)  # fake extra run time per variant


class VariantNode(Node):
    """Runs its current model variant on each input, then forwards the input."""

    Params = VariantNodeParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        p = self.params
        self.models = VariantSet(ctx, p.variants)
        self.used: list[str] = []
        self.pub = ctx.publisher(p.output, HEADER)
        ctx.subscribe(p.input, HEADER, self.on_input)

    def on_input(self, msg: Any) -> None:
        engine = self.models.current
        self.models.run(example_feeds(engine.inputs))
        self.used.append(self.models.name)
        spin_for(self.params.cost_ms[self.models.index] + CONTENTION_MS[0])
        self.pub.publish(msg)


@dataclass
class ModelNodeParams:
    model: str = ""
    input: str = "/in"
    output: str = "/out"


class ModelNode(Node):
    """Loads one engine (to check the gate and priority the runtime gives it)."""

    Params = ModelNodeParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.engine = ctx.engine(self.params.model)
        self.pub = ctx.publisher(self.params.output, HEADER)
        ctx.subscribe(self.params.input, HEADER, self.on_input)

    def on_input(self, msg: Any) -> None:
        self.engine.run(example_feeds(self.engine.inputs))
        self.pub.publish(msg)
