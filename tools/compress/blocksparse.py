"""Block sparsity made dense: an ONNX rewrite of a block-sparse Conv (arXiv 2111.11581, "block").

A block-sparse conv keeps, for each block of filters, only some input-channel columns of the
weight (the same columns for every filter of the block). No runtime here runs such a sparse
weight faster, so the rewrite turns it into what every runtime runs fast: per block,

    Gather(x, kept input channels, axis=1) -> Conv(block's filters x kept columns)

then Concat of the blocks' outputs and, when the blocks are not the filters in order, a Gather
that puts the output channels back in the original order. ONNX Runtime and TensorRT run these as
ordinary dense convolutions; ``measure_layer`` times the layer before and after, alone, so the
speedup is a measured one and not a FLOPs count.

Blocks are formed by ``block_prune``: filters in groups of ``block`` (in order), and in each
group the input channels with the largest group L2 norm kept (``keep`` of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tools.compress.errors import CompressError
from tools.compress.timing import cpu_session, interleaved_ms


@dataclass(frozen=True)
class BlockPattern:
    """Filters of each block and the input channels each block keeps."""

    filters: tuple[np.ndarray, ...]
    inputs: tuple[np.ndarray, ...]

    @property
    def regular(self) -> bool:
        """Every block has as many filters and as many kept columns as the first (one grouped
        Conv runs it)."""
        return len({len(f) for f in self.filters}) == 1 and len({len(i) for i in self.inputs}) == 1

    def flops_ratio(self, in_channels: int) -> float:
        """MACs kept, as a fraction of the dense conv's."""
        out = sum(len(f) for f in self.filters)
        return sum(len(f) * len(i) for f, i in zip(self.filters, self.inputs)) / (out * in_channels)


def block_prune(weight: np.ndarray, block: int, keep: float) -> tuple[np.ndarray, BlockPattern]:
    """Zero all but the strongest ``keep`` of the input columns in each block of ``block`` filters."""
    out_ch, in_ch = weight.shape[:2]
    if block < 1 or not 0 < keep <= 1:
        raise CompressError(f"block pruning: block={block} must be >= 1, keep={keep} in (0, 1]")
    n_keep = max(1, round(in_ch * keep))
    pruned = np.zeros_like(weight)
    filters, inputs = [], []
    for start in range(0, out_ch, block):
        f = np.arange(start, min(start + block, out_ch))
        norms = np.sqrt((weight[f] ** 2).sum(axis=(0, 2, 3)))
        kept = np.sort(np.argsort(-norms, kind="stable")[:n_keep])
        pruned[np.ix_(f, kept)] = weight[np.ix_(f, kept)]
        filters.append(f)
        inputs.append(kept)
    return pruned, BlockPattern(tuple(filters), tuple(inputs))


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def rewrite_conv(model: onnx.ModelProto, node_name: str, pattern: BlockPattern) -> onnx.ModelProto:
    """A copy of ``model`` with Conv ``node_name`` replaced by dense convolution over its kept
    input columns.

    Regular blocks (the same number of filters and of kept columns in each) become ONE op pair:
    a Gather of every block's columns (left out when it is the identity) and one Conv with
    ``group`` = the number of blocks, its filters in block order. When that order is not the
    original one, the permutation is folded into the consumer's input-channel order (a plain
    Conv reading the output, through channel-wise activations) instead of a runtime Gather, or
    a Gather when no such consumer exists. Irregular blocks fall back to one sub-conv per block
    and a Concat."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    index = next((i for i, n in enumerate(graph.node) if n.name == node_name), None)
    if index is None or graph.node[index].op_type != "Conv":
        raise CompressError(f"block rewrite: the model has no Conv node {node_name!r}")
    conv = graph.node[index]
    inits = {t.name: t for t in graph.initializer}
    if conv.input[1] not in inits:
        raise CompressError(f"block rewrite: Conv {node_name!r} has no constant weight")
    if any(a.name == "group" and a.i != 1 for a in conv.attribute):
        raise CompressError(f"block rewrite: Conv {node_name!r} is grouped")
    weight = numpy_helper.to_array(inits[conv.input[1]])
    has_bias = len(conv.input) > 2 and bool(conv.input[2])
    bias = numpy_helper.to_array(inits[conv.input[2]]) if has_bias else None
    build = _grouped_nodes if pattern.regular else _split_nodes
    nodes, produced, order = build(graph, conv, weight, bias, pattern)
    if (order != np.arange(len(order))).any() and not _fold_permutation(graph, conv, order):
        graph.initializer.append(_const(f"{node_name}/perm", np.argsort(order).astype(np.int64)))
        nodes.append(helper.make_node("Gather", [produced, f"{node_name}/perm"], [conv.output[0]],
                                      f"{node_name}/Permute", axis=1))  # fmt: skip
    else:
        _rename_output(nodes, produced, conv.output[0])
    del graph.node[index]
    for k, node in enumerate(nodes):
        graph.node.insert(index + k, node)
    used = {name for n in graph.node for name in n.input}
    for name in conv.input[1:]:
        if name and name not in used and name in inits:
            graph.initializer.remove(inits[name])
    onnx.checker.check_model(out)
    return out


def _grouped_nodes(graph, conv, weight, bias, pattern):  # type: ignore[no-untyped-def]
    """Gather(kept columns of every block) -> Conv(group = blocks); output in block order."""
    p = conv.name
    order = np.concatenate(pattern.filters)
    cols = np.concatenate(pattern.inputs).astype(np.int64)
    nodes, x = [], conv.input[0]
    if len(cols) != weight.shape[1] or (cols != np.arange(weight.shape[1])).any():
        graph.initializer.append(_const(f"{p}/idx", cols))
        nodes.append(helper.make_node("Gather", [x, f"{p}/idx"], [f"{p}/x"], f"{p}/Gather", axis=1))
        x = f"{p}/x"
    w = np.concatenate([weight[np.ix_(f, c)] for f, c in zip(pattern.filters, pattern.inputs)])
    graph.initializer.append(_const(f"{p}/w", w.astype(np.float32)))
    inputs = [x, f"{p}/w"]
    if bias is not None:
        graph.initializer.append(_const(f"{p}/b", bias[order].astype(np.float32)))
        inputs.append(f"{p}/b")
    sub = helper.make_node("Conv", inputs, [f"{p}/y"], f"{p}/Conv", group=len(pattern.filters))
    sub.attribute.extend(a for a in conv.attribute if a.name != "group")
    return [*nodes, sub], f"{p}/y", order


def _split_nodes(graph, conv, weight, bias, pattern):  # type: ignore[no-untyped-def]
    """Per block Gather -> Conv, then Concat (blocks of unequal sizes)."""
    nodes, pieces = [], []
    for b, (f, cols) in enumerate(zip(pattern.filters, pattern.inputs)):
        p = f"{conv.name}/block{b}"
        graph.initializer.extend([_const(f"{p}/idx", cols.astype(np.int64)),
                                  _const(f"{p}/w", weight[np.ix_(f, cols)].astype(np.float32))])  # fmt: skip
        conv_inputs = [f"{p}/x", f"{p}/w"]
        if bias is not None:
            graph.initializer.append(_const(f"{p}/b", bias[f].astype(np.float32)))
            conv_inputs.append(f"{p}/b")
        nodes.append(helper.make_node("Gather", [conv.input[0], f"{p}/idx"], [f"{p}/x"],
                                      f"{p}/Gather", axis=1))  # fmt: skip
        sub = helper.make_node("Conv", conv_inputs, [f"{p}/y"], f"{p}/Conv")
        sub.attribute.extend(a for a in conv.attribute if a.name != "group")
        nodes.append(sub)
        pieces.append(f"{p}/y")
    out = f"{conv.name}/concat"
    nodes.append(helper.make_node("Concat", pieces, [out], f"{conv.name}/Concat", axis=1))
    return nodes, out, np.concatenate(pattern.filters)


def _rename_output(nodes: list[onnx.NodeProto], old: str, new: str) -> None:
    for node in nodes:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new


CHANNELWISE = frozenset({"Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish",
                         "Elu", "Selu", "Tanh", "Identity"})  # fmt: skip


def _fold_permutation(graph: onnx.GraphProto, conv: onnx.NodeProto, order: np.ndarray) -> bool:
    """Reorder the input channels of the one plain Conv that reads ``conv``'s output (through
    channel-wise activations only) so that it reads channels in ``order``; False when the
    output has any other reader (a graph output, an Add, two consumers)."""
    outputs = {o.name for o in graph.output}
    tensor = conv.output[0]
    while True:
        readers = [n for n in graph.node if tensor in n.input]
        if tensor in outputs or len(readers) != 1:
            return False
        node = readers[0]
        if node.op_type in CHANNELWISE:
            tensor = node.output[0]
            continue
        if node.op_type != "Conv" or list(node.input).index(tensor) != 0:
            return False
        if any(a.name == "group" and a.i != 1 for a in node.attribute):
            return False
        inits = {t.name: t for t in graph.initializer}
        if node.input[1] not in inits or sum(node.input[1] in n.input for n in graph.node) != 1:
            return False
        w = numpy_helper.to_array(inits[node.input[1]])
        inits[node.input[1]].CopyFrom(_const(node.input[1], w[:, order]))
        return True


def conv_model(
    weight: np.ndarray, bias: np.ndarray | None, hw: tuple[int, int], stride: int = 1
) -> onnx.ModelProto:
    """A one-Conv ONNX model (input ``x`` [1, C, H, W]) for measuring a layer on its own."""
    out_ch, in_ch, k, _ = weight.shape
    inits = [_const("w", weight.astype(np.float32))]
    inputs = ["x", "w"]
    if bias is not None:
        inits.append(_const("b", bias.astype(np.float32)))
        inputs.append("b")
    node = helper.make_node("Conv", inputs, ["y"], "conv", kernel_shape=[k, k], pads=[k // 2] * 4,
                            strides=[stride, stride])  # fmt: skip
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, in_ch, *hw])
    out_hw = [(d + 2 * (k // 2) - k) // stride + 1 for d in hw]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_ch, *out_hw])
    graph = helper.make_graph([node], "layer", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _sessions(models: list[onnx.ModelProto], threads: int) -> list[Any]:
    return [cpu_session(m.SerializeToString(), threads) for m in models]


def _feed(session: Any) -> dict[str, np.ndarray]:
    inp = session.get_inputs()[0]
    return {inp.name: np.random.default_rng(0).random([int(d) for d in inp.shape], np.float32)}


def check_same(before: onnx.ModelProto, after: onnx.ModelProto, name: str = "layer") -> None:
    """CompressError unless ``after`` computes what ``before`` does (first output, ORT CPU)."""
    a, b = _sessions([before, after], 1)
    feed = _feed(a)
    ref, got = a.run(None, feed)[0], b.run(None, feed)[0]
    if not np.allclose(ref, got, atol=1e-4, rtol=1e-4):
        raise CompressError(
            f"block rewrite of {name} changed its output (max diff {np.abs(ref - got).max():.3g})"
        )


def time_models(models: list[onnx.ModelProto], threads: int = 1, rounds: int = 200) -> list[float]:
    """Median ms per model on the same input, round robin (interleaved), ONNX Runtime CPU.
    With 1 thread ORT runs in the calling thread, so the clock is that thread's CPU time (a
    neighbour's load on a shared host is not counted); with more, wall time."""
    sessions = dict(enumerate(_sessions(models, threads)))
    feed = _feed(sessions[0])
    ms = interleaved_ms(sessions, dict.fromkeys(sessions, feed), threads, rounds, warmup=10)
    return [ms[i] for i in sessions]


def measure_layer(
    before: onnx.ModelProto, after: onnx.ModelProto, threads: int = 1, rounds: int = 200
) -> dict[str, float]:
    """Median ms of ``before`` and ``after`` on the same input, interleaved, ONNX Runtime CPU;
    the outputs must agree (CompressError otherwise)."""
    check_same(before, after)
    b, a = time_models([before, after], threads, rounds)
    return {"before_ms": round(b, 4), "after_ms": round(a, 4), "speedup": round(b / a, 3)}


@dataclass(frozen=True)
class ConvLayer:
    name: str
    weight: np.ndarray
    bias: np.ndarray | None
    input_hw: tuple[int, int]
    stride: int


def conv_layers(model: onnx.ModelProto, min_in: int = 16) -> list[ConvLayer]:
    """The plain 3x3 / 1x1 Convs of ``model`` with at least ``min_in`` input channels."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.graph.value_info, *inferred.graph.input]
    }
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type != "Conv" or node.input[1] not in inits:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        weight = inits[node.input[1]]
        shape = shapes.get(node.input[0])
        if attrs.get("group", 1) != 1 or weight.shape[1] < min_in or not shape or len(shape) != 4:
            continue
        bias = inits.get(node.input[2]) if len(node.input) > 2 else None
        stride = int(attrs.get("strides", [1, 1])[0])
        out.append(ConvLayer(node.name, weight, bias, (shape[2], shape[3]), stride))
    return out
