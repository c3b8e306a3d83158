"""Pre-processing folded into the model: a uint8 HWC BGR frame goes in.

The camera node hands the resized (or letterboxed) camera buffer over as it is; the model casts it
to float, moves channels first, swaps BGR to RGB where the network wants RGB and applies
``(pixel * scale - mean) / std``. Where every consumer of the network input is a plain
convolution with constant weights, the channel swap and the per-channel affine map are folded into
those weights (the mean into the bias only when the convolution has no padding, since padding
with zeros differs before and after the shift). Those convolutions then read the frame as it
lies in memory, without a Transpose: the uint8 [1, H, W, 3] frame is viewed as one channel
[1, 1, H, W*3] (a Reshape, no copy) and a k x k convolution with stride s over three channels
becomes a k x 3k convolution with stride (s, 3s) over that one channel, its weights laid out pixel
by pixel, channel by channel (the same products and sums), so the frame costs one Cast.
In a Q/DQ model the channel swap goes into the first convolutions' INT8 weights (laid out the
same way) and the scale stays one Mul (when the mean is 0 and std 1), so the quantized input is
bit for bit the node's. Convolutions with dilation or auto_pad keep the Transpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from perception.detector.card import InputSpec
from stack.engine import ChannelOrder
from tools.compress.fusion.errors import FusionError
from tools.compress.fusion.graph import GraphEditor

FUSED_INPUT = "image"


@dataclass(frozen=True)
class PreprocessFold:
    """What the rewrite did: into how many convolutions the affine map went (0: explicit ops)."""

    input_name: str
    folded_convs: int
    explicit_ops: tuple[str, ...]


def _channel_perm(spec: InputSpec) -> np.ndarray:
    """perm[c] = the BGR channel that feeds network channel c."""
    return np.array([2, 1, 0]) if spec.channel_order is ChannelOrder.RGB else np.array([0, 1, 2])


def _foldable(ed: GraphEditor, tensor: str, mean_zero: bool) -> list[onnx.NodeProto] | None:
    consumers = ed.consumers(tensor)
    if not consumers:
        return None
    for node in consumers:
        if node.op_type != "Conv" or node.input[0] != tensor:
            return None
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        weight = ed.initializer(node.input[1])
        if weight is None or weight.ndim != 4 or weight.shape[1] != 3:
            return None
        if int(attrs.get("group", 1)) != 1:
            return None
        if not mean_zero and (
            any(attrs.get("pads", [0]))
            or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID")
        ):
            return None
    return consumers


def _fold_into_conv(ed: GraphEditor, conv: onnx.NodeProto, spec: InputSpec) -> None:
    perm = _channel_perm(spec)
    std = np.asarray(spec.std, np.float64)
    gain = spec.scale / std  # per network channel
    shift = np.asarray(spec.mean, np.float64) / std
    w = ed.initializer(conv.input[1]).astype(np.float64)
    folded = np.empty_like(w)
    for c in range(3):
        folded[:, perm[c]] = w[:, c] * gain[c]
    ed.set_initializer(conv.input[1], folded.astype(np.float32))
    if shift.any():
        delta = -(w * shift[None, :, None, None]).sum(axis=(1, 2, 3))
        if len(conv.input) > 2 and conv.input[2]:
            bias = ed.initializer(conv.input[2])
            ed.set_initializer(conv.input[2], (bias + delta).astype(np.float32))
        else:
            name = ed.const(delta.astype(np.float32), "bias")
            if len(conv.input) == 2:
                conv.input.append(name)
            else:
                conv.input[2] = name


def _flattenable(conv: onnx.NodeProto) -> bool:
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    return (
        set(attrs.get("dilations", [1, 1])) == {1}
        and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
        and len(attrs.get("strides", [1, 1])) == 2
    )


def _flatten_conv(ed: GraphEditor, conv: onnx.NodeProto, weight: str) -> None:
    """``conv`` (3 input channels, weights in initializer ``weight``) reads [1, 1, H, W*3]."""
    w = ed.initializer(weight)
    co, _, kh, kw = w.shape
    ed.set_initializer(
        weight, np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(co, 1, kh, kw * 3)
    )
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    sh, sw = attrs.get("strides", [1, 1])
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    del conv.attribute[:]
    conv.attribute.extend(
        [
            helper.make_attribute("kernel_shape", [kh, kw * 3]),
            helper.make_attribute("strides", [sh, sw * 3]),
            helper.make_attribute("pads", [top, left * 3, bottom, right * 3]),
        ]
    )


def _qdq_convs(ed: GraphEditor, qs: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    return [
        conv for q in qs for dq in ed.consumers(q.output[0]) for conv in ed.consumers(dq.output[0])
    ]


def _foldable_qdq(ed: GraphEditor, tensor: str, spec: InputSpec) -> list[onnx.NodeProto] | None:
    """A Q/DQ model's input read only by per-tensor QuantizeLinear nodes whose DequantizeLinear
    feeds only convolutions with DQ'd per-output-channel INT8 weights: the gain (equal on all
    channels, mean 0) goes into the Q scale, the channel swap into the INT8 weights."""
    if any(spec.mean) or any(s != 1.0 for s in spec.std):
        return None
    qs = ed.consumers(tensor)
    if not qs or any(q.op_type != "QuantizeLinear" or q.input[0] != tensor for q in qs):
        return None
    for q in qs:
        scale = ed.initializer(q.input[1])
        if scale is None or scale.size != 1:
            return None
        for dq in ed.consumers(q.output[0]):
            if dq.op_type != "DequantizeLinear":
                return None
            for conv in ed.consumers(dq.output[0]):
                if conv.op_type != "Conv" or conv.input[0] != dq.output[0]:
                    return None
                wdq = ed.producer(conv.input[1])
                if wdq is None or wdq.op_type != "DequantizeLinear":
                    return None
                w = ed.initializer(wdq.input[0])
                axis = next(
                    (helper.get_attribute_value(a) for a in wdq.attribute if a.name == "axis"), 1
                )
                if (
                    w is None
                    or w.ndim != 4
                    or w.shape[1] != 3
                    or (ed.initializer(wdq.input[1]).size > 1 and axis != 0)
                ):
                    return None
    return qs


def _fold_into_qdq(ed: GraphEditor, qs: list[onnx.NodeProto], spec: InputSpec) -> int:
    perm = _channel_perm(spec)
    convs = 0
    for q in qs:
        for dq in ed.consumers(q.output[0]):
            for conv in ed.consumers(dq.output[0]):
                wdq = ed.producer(conv.input[1])
                w = ed.initializer(wdq.input[0])
                swapped = np.empty_like(w)
                swapped[:, perm] = w
                ed.set_initializer(wdq.input[0], swapped)
                convs += 1
    return convs


def fold_preprocessing(
    model: onnx.ModelProto, spec: InputSpec, source: str = "<model>"
) -> PreprocessFold:
    """Rewrite ``model`` in place: its float NCHW image input becomes uint8 [1, H, W, 3] BGR."""
    ed = GraphEditor(model, source)
    inputs = [
        i for i in model.graph.input if i.name not in {x.name for x in model.graph.initializer}
    ]
    image = (
        next((i for i in inputs if i.name == spec.tensor), None)
        if spec.tensor
        else (inputs[0] if len(inputs) == 1 else None)
    )
    if image is None:
        raise FusionError(f"{source}: cannot tell the image input among {[i.name for i in inputs]}")
    dims = [
        d.dim_value if d.HasField("dim_value") else None for d in image.type.tensor_type.shape.dim
    ]
    if dims[1:] != [3, spec.height, spec.width] or dims[0] not in (None, 1):
        raise FusionError(
            f"{source}: input {image.name!r} is {dims}; folding needs [1, 3, {spec.height}, {spec.width}]"
        )
    old = image.name
    mean_zero = not any(spec.mean)
    convs = _foldable(ed, old, mean_zero)
    qs = _foldable_qdq(ed, old, spec) if convs is None else None
    first = convs if convs is not None else (_qdq_convs(ed, qs) if qs is not None else [])
    flat = bool(first) and all(_flattenable(c) for c in first)
    if flat:
        x = ed.op("Cast", FUSED_INPUT, to=TensorProto.FLOAT)
    else:
        x = ed.op("Transpose", FUSED_INPUT, perm=[0, 3, 1, 2])  # on uint8: a quarter of the bytes
        x = ed.op("Cast", x, to=TensorProto.FLOAT)
    explicit: list[str] = []
    folded = 0
    if convs is not None:
        for conv in convs:
            _fold_into_conv(ed, conv, spec)
        folded = len(convs)
    elif qs is not None:
        # The scale stays a Mul, as the node computes it (pixel * float32(scale)): folded into
        # the Q scale it would round some pixels to the next INT8 step, moving boxes by a step.
        x = ed.op("Mul", x, ed.const(np.float32(spec.scale), "scale"))
        explicit.append("Mul")
        folded = _fold_into_qdq(ed, qs, spec)
    else:
        if spec.channel_order is ChannelOrder.RGB:
            x = ed.op("Gather", x, ed.const(np.array([2, 1, 0], np.int64), "rgb"), axis=1)
            explicit.append("Gather")
        gain = np.float32(spec.scale) / np.asarray(spec.std, np.float32)
        x = ed.op("Mul", x, ed.const(gain.reshape(1, 3, 1, 1).astype(np.float32), "gain"))
        explicit.append("Mul")
        if not mean_zero:
            shift = np.asarray(spec.mean, np.float32) / np.asarray(spec.std, np.float32)
            x = ed.op("Sub", x, ed.const(shift.reshape(1, 3, 1, 1), "shift"))
            explicit.append("Sub")
    if flat:
        hwc = np.array([1, 1, spec.height, spec.width * 3], np.int64)
        x = ed.op("Reshape", x, ed.const(hwc, "hwc"))
        for conv in first:
            weight = conv.input[1] if convs is not None else ed.producer(conv.input[1]).input[0]
            _flatten_conv(ed, conv, weight)
    ed.rename_input(old, x)
    new_input = helper.make_tensor_value_info(
        FUSED_INPUT, TensorProto.UINT8, [1, spec.height, spec.width, 3]
    )
    index = list(model.graph.input).index(image)
    model.graph.input.remove(image)
    model.graph.input.insert(index, new_input)
    ed.topo_sort()
    return PreprocessFold(FUSED_INPUT, folded, tuple(explicit))
