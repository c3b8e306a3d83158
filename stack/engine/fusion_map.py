"""DNNFusion-style fusion analysis of an ONNX graph (Niu et al., PLDI 2021, arXiv 2108.13342).

Every operator gets its *mapping type*, the relation between its input and output elements:
one-to-one (element-wise), one-to-many (Expand, Resize, Gather, ...), many-to-many (Conv,
MatMul, pooling, reductions, TopK, ...), reorganize (Reshape, Flatten, Squeeze, Slice, ...: the
same elements, another shape) or shuffle (Transpose, DepthToSpace: the same elements, another
order). Two connected operators may be fused by the paper's rules (its Table 3), read here as:

- one-to-one with anything, either order: fusible, the result keeps the other's type (green);
- reorganize/shuffle with reorganize/shuffle: fusible (green);
- reorganize/shuffle with one-to-many or many-to-many, and one-to-many with one-to-many or
  many-to-many (either order): fusible but only profitable after profiling (yellow);
- many-to-many with many-to-many: not fused (red).

Groups are grown greedily from each many-to-many seed in topological order (the paper starts
from the operators with the most compute), over green edges only, along tensors with one
consumer that are not graph outputs (a tensor read outside the group must still be written).
Every tensor inside a group is an intermediate that need not reach memory: its bytes are what
the fusion saves. Edges between groups (or lone operators) whose fused types meet on a yellow
cell are listed as candidates for profiling, not fused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from stack.engine.graph_index import GraphIndex


class Mapping(str, enum.Enum):
    ONE_TO_ONE = "one-to-one"
    ONE_TO_MANY = "one-to-many"
    MANY_TO_MANY = "many-to-many"
    REORGANIZE = "reorganize"
    SHUFFLE = "shuffle"


class Verdict(str, enum.Enum):
    GREEN = "fuse"  # legal and profitable
    YELLOW = "profile"  # legal, profitable only if profiling says so
    RED = "no"  # not fused


_ONE_TO_ONE = """Abs Acos Acosh Add And Asin Asinh Atan Atanh BatchNormalization BitShift Cast Ceil
Celu Clip Concat Cos Cosh DequantizeLinear Div Elu Equal Erf Exp Floor Gelu Greater GreaterOrEqual
HardSigmoid HardSwish Identity IsInf IsNaN LeakyRelu Less LessOrEqual Log Max Mean Min Mish Mod Mul
Neg Not Or Pow PRelu QuantizeLinear Reciprocal Relu Round Selu Shrink Sigmoid Sign Sin Sinh
Softplus Softsign Sqrt Sub Sum Tan Tanh ThresholdedRelu Where Xor"""
_ONE_TO_MANY = (
    "Expand Gather GatherElements GatherND Pad Resize Tile Upsample ConstantOfShape Range"
)
_MANY_TO_MANY = """ArgMax ArgMin AveragePool Conv ConvInteger ConvTranspose CumSum Einsum Gemm
GlobalAveragePool GlobalMaxPool GroupNormalization InstanceNormalization LayerNormalization LRN
LpNormalization MatMul MatMulInteger MaxPool NonMaxSuppression QLinearConv QLinearMatMul
ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum
ReduceSumSquare RoiAlign Softmax LogSoftmax TopK NonZero Hardmax"""
_REORGANIZE = "Flatten Reshape Squeeze Unsqueeze Slice Split Shape Size"
_SHUFFLE = "Transpose DepthToSpace SpaceToDepth"

MAPPING: dict[str, Mapping] = {
    op: kind
    for text, kind in (
        (_ONE_TO_ONE, Mapping.ONE_TO_ONE),
        (_ONE_TO_MANY, Mapping.ONE_TO_MANY),
        (_MANY_TO_MANY, Mapping.MANY_TO_MANY),
        (_REORGANIZE, Mapping.REORGANIZE),
        (_SHUFFLE, Mapping.SHUFFLE),
    )
    for op in text.split()
}
_LAYOUT = (Mapping.REORGANIZE, Mapping.SHUFFLE)
_HEAVY = (Mapping.ONE_TO_MANY, Mapping.MANY_TO_MANY)


def mapping_of(op_type: str) -> Mapping:
    """The mapping type of an operator; unknown operators count as many-to-many (never fused
    into a neighbour's many-to-many group, the safe side)."""
    return MAPPING.get(op_type, Mapping.MANY_TO_MANY)


def verdict(first: Mapping, second: Mapping) -> tuple[Verdict, Mapping]:
    """Fusing ``first`` with its consumer ``second``: the verdict and the fused op's type."""
    if first is Mapping.ONE_TO_ONE:
        return Verdict.GREEN, second
    if second is Mapping.ONE_TO_ONE:
        return Verdict.GREEN, first
    if first in _LAYOUT and second in _LAYOUT:
        shuffle = Mapping.SHUFFLE in (first, second)
        return Verdict.GREEN, Mapping.SHUFFLE if shuffle else Mapping.REORGANIZE
    if first is Mapping.MANY_TO_MANY and second is Mapping.MANY_TO_MANY:
        return Verdict.RED, first
    heavier = (
        Mapping.MANY_TO_MANY if Mapping.MANY_TO_MANY in (first, second) else Mapping.ONE_TO_MANY
    )
    return Verdict.YELLOW, heavier


@dataclass
class Group:
    """Operators run as one kernel; ``internal`` the tensors that stay in registers/cache."""

    nodes: list[int]
    mapping: Mapping
    internal: list[str] = field(default_factory=list)
    saved_bytes: int = 0


@dataclass
class FusionReport:
    model: str
    ops: list[tuple[str, str, Mapping]]  # (node name, op type, mapping) in graph order
    groups: list[Group]
    candidates: list[tuple[int, int]]  # yellow edges (producer, consumer) left to profiling
    unknown_shapes: list[str]  # intermediates whose bytes could not be counted

    @property
    def nodes_before(self) -> int:
        return len(self.ops)

    @property
    def nodes_after(self) -> int:
        grouped = sum(len(g.nodes) for g in self.groups)
        return self.nodes_before - grouped + len(self.groups)

    @property
    def saved_bytes(self) -> int:
        return sum(g.saved_bytes for g in self.groups)

    def mapping_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, _, kind in self.ops:
            counts[kind.value] = counts.get(kind.value, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "nodes_before": self.nodes_before,
            "nodes_after": self.nodes_after,
            "intermediate_bytes_saved": self.saved_bytes,
            "mapping_counts": self.mapping_counts(),
            "groups": [
                {"ops": [self.ops[i][1] for i in g.nodes], "nodes": [self.ops[i][0] for i in g.nodes],
                 "mapping": g.mapping.value, "internal_tensors": len(g.internal),
                 "bytes_saved": g.saved_bytes}
                for g in self.groups
            ],
            "profile_candidates": [[self.ops[a][1], self.ops[b][1]] for a, b in self.candidates],
            "unknown_shapes": self.unknown_shapes,
        }  # fmt: skip


def _tensor_bytes(model: onnx.ModelProto) -> dict[str, int]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # a model shape inference cannot read: no byte counts, groups still found
        return {}
    out: dict[str, int] = {}
    for v in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input):
        t = v.type.tensor_type
        dims = t.shape.dim
        if not t.HasField("shape") or not all(d.HasField("dim_value") for d in dims):
            continue
        try:
            size = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)).itemsize
        except (KeyError, TypeError, ValueError):
            continue
        out[v.name] = int(np.prod([d.dim_value for d in dims], dtype=np.int64)) * size
    return out


class _Graph(GraphIndex):
    """The graph index plus each node's mapping type."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__(model.graph)
        self.kinds = [mapping_of(n.op_type) for n in self.nodes]

    def single_consumer(self, i: int) -> tuple[int, str] | None:
        """(consumer, tensor) when node i has one data output read by exactly one node."""
        outs = [t for t in self.nodes[i].output if t]
        if len(outs) != 1:
            return None
        reader = self.only_reader(outs[0])
        return None if reader is None else (reader, outs[0])


def _grow(
    gr: _Graph, seed: int, owner: list[int], gid: int
) -> tuple[list[int], Mapping, list[str]]:
    members, kind, internal = [seed], gr.kinds[seed], []
    owner[seed] = gid
    # forward: the seed's single consumer, while green
    cur = seed
    while (nxt := gr.single_consumer(cur)) is not None:
        j, tensor = nxt
        v, fused = verdict(kind, gr.kinds[j])
        if owner[j] != -1 or v is not Verdict.GREEN:
            break
        members.append(j)
        owner[j], kind, cur = gid, fused, j
        internal.append(tensor)
    # backward: one-to-one / layout producers that only feed this group
    frontier = [seed]
    while frontier:
        i = frontier.pop()
        for t in gr.nodes[i].input:
            p = gr.writer.get(t)
            if p is None or owner[p] != -1 or gr.single_consumer(p) is None:
                continue
            v, fused = verdict(gr.kinds[p], kind)
            if v is Verdict.GREEN and gr.kinds[p] is not Mapping.MANY_TO_MANY:
                members.append(p)
                owner[p], kind = gid, fused
                internal.append(t)
                frontier.append(p)
    return sorted(members), kind, internal


def analyse(model: onnx.ModelProto, name: str = "<model>") -> FusionReport:
    """Mapping types, fusion groups (green edges), yellow candidates and the bytes saved."""
    gr = _Graph(model)
    sizes = _tensor_bytes(model)
    owner = [-1] * len(gr.nodes)
    groups: list[Group] = []
    seeds = [i for i, k in enumerate(gr.kinds) if k is Mapping.MANY_TO_MANY]
    seeds += [i for i, k in enumerate(gr.kinds) if k is not Mapping.MANY_TO_MANY]
    for seed in seeds:
        if owner[seed] != -1:
            continue
        members, kind, internal = _grow(gr, seed, owner, len(groups))
        if len(members) > 1:
            groups.append(Group(members, kind, internal, sum(sizes.get(t, 0) for t in internal)))
        else:
            owner[seed] = -2  # alone
    owner = [o if o >= 0 else -1 - i for i, o in enumerate(owner)]  # singletons: own negative ids
    unknown = sorted({t for g in groups for t in g.internal if t not in sizes})
    unit_kind = list(gr.kinds)  # each node's unit: its group's fused type, or its own
    for gid, g in enumerate(groups):
        for i in g.nodes:
            unit_kind[i], owner[i] = g.mapping, gid
    candidates = [
        (a, b) for a, b in sorted(gr.edges())
        if owner[a] != owner[b]
        and verdict(unit_kind[a], unit_kind[b])[0] is Verdict.YELLOW
    ]  # fmt: skip
    ops = [(n.name or n.output[0], n.op_type, k) for n, k in zip(gr.nodes, gr.kinds)]
    return FusionReport(name, ops, groups, candidates, unknown)
