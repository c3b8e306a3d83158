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

import time
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tools.compress.errors import CompressError


@dataclass(frozen=True)
class BlockPattern:
    """Filters of each block and the input channels each block keeps."""

    filters: tuple[np.ndarray, ...]
    inputs: tuple[np.ndarray, ...]

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
    """A copy of ``model`` with Conv ``node_name`` replaced by dense per-block sub-convolutions."""
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
    weight = numpy_helper.to_array(inits[conv.input[1]])
    bias = (
        numpy_helper.to_array(inits[conv.input[2]])
        if len(conv.input) > 2 and conv.input[2]
        else None
    )
    attrs = [a for a in conv.attribute if a.name != "group"]
    if any(a.name == "group" and a.i != 1 for a in conv.attribute):
        raise CompressError(f"block rewrite: Conv {node_name!r} is grouped")
    nodes, pieces = [], []
    for b, (f, cols) in enumerate(zip(pattern.filters, pattern.inputs)):
        p = f"{node_name}/block{b}"
        graph.initializer.extend([_const(f"{p}/idx", cols.astype(np.int64)),
                                  _const(f"{p}/w", weight[np.ix_(f, cols)].astype(np.float32))])  # fmt: skip
        conv_inputs = [f"{p}/x", f"{p}/w"]
        if bias is not None:
            graph.initializer.append(_const(f"{p}/b", bias[f].astype(np.float32)))
            conv_inputs.append(f"{p}/b")
        nodes.append(
            helper.make_node(
                "Gather", [conv.input[0], f"{p}/idx"], [f"{p}/x"], f"{p}/Gather", axis=1
            )
        )
        sub = helper.make_node("Conv", conv_inputs, [f"{p}/y"], f"{p}/Conv")
        sub.attribute.extend(attrs)
        nodes.append(sub)
        pieces.append(f"{p}/y")
    order = np.concatenate(pattern.filters)
    in_order = bool((order == np.arange(len(order))).all())
    concat_out = conv.output[0] if in_order else f"{node_name}/concat"
    nodes.append(helper.make_node("Concat", pieces, [concat_out], f"{node_name}/Concat", axis=1))
    if not in_order:
        graph.initializer.append(_const(f"{node_name}/perm", np.argsort(order).astype(np.int64)))
        nodes.append(helper.make_node("Gather", [concat_out, f"{node_name}/perm"], [conv.output[0]],
                                      f"{node_name}/Permute", axis=1))  # fmt: skip
    del graph.node[index]
    for k, node in enumerate(nodes):
        graph.node.insert(index + k, node)
    used = {name for n in graph.node for name in n.input}
    for name in conv.input[1:]:
        if name and name not in used and name in inits:
            graph.initializer.remove(inits[name])
    onnx.checker.check_model(out)
    return out


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


def measure_layer(
    before: onnx.ModelProto, after: onnx.ModelProto, threads: int = 1, rounds: int = 200
) -> dict[str, float]:
    """Median ms of ``before`` and ``after`` on the same input, interleaved, ONNX Runtime CPU;
    the outputs must agree (CompressError otherwise)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sessions = [ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
                for m in (before, after)]  # fmt: skip
    inp = sessions[0].get_inputs()[0]
    x = np.random.default_rng(0).random([int(d) for d in inp.shape], np.float32)
    ref, got = (s.run(None, {inp.name: x})[0] for s in sessions)
    if not np.allclose(ref, got, atol=1e-4, rtol=1e-4):
        raise CompressError(
            f"block rewrite changed the layer's output (max diff {np.abs(ref - got).max():.3g})"
        )
    times: list[list[float]] = [[], []]
    for r in range(rounds + 10):
        for i, s in enumerate(sessions):
            t0 = time.perf_counter_ns()
            s.run(None, {inp.name: x})
            if r >= 10:
                times[i].append((time.perf_counter_ns() - t0) / 1e6)
    b, a = (float(np.median(t)) for t in times)
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


def layer_speedups(
    model: onnx.ModelProto, block: int = 8, keep: float = 0.5, threads: int = 1, rounds: int = 200
) -> list[dict[str, object]]:
    """Block-prune each conv layer of ``model`` on its own, rewrite it, and time it alone
    before (dense conv holding the zeros) and after (dense sub-convolutions); with the target
    speedup 1 / (1 - 0.7 x FLOPs cut) (70 % of the FLOPs reduction realised)."""
    rows = []
    for layer in conv_layers(model):
        pruned, pattern = block_prune(layer.weight, block, keep)
        before = conv_model(pruned, layer.bias, layer.input_hw, layer.stride)
        after = rewrite_conv(before, "conv", pattern)
        cut = 1.0 - pattern.flops_ratio(layer.weight.shape[1])
        m = measure_layer(before, after, threads, rounds)
        target = 1.0 / (1.0 - 0.7 * cut)
        rows.append({"layer": layer.name, "shape": list(layer.weight.shape), "input_hw": list(layer.input_hw),
                     "flops_cut": round(cut, 3), **m, "target_speedup": round(target, 3),
                     "ok": m["speedup"] >= target})  # fmt: skip
    return rows
