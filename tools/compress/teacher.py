"""The dense model to compress, as a torch module: the shipped ONNX's weights in TinyCenterNet.

The shipped detector has no torch checkpoint, only its ONNX (BatchNorm folded into the convs).
Its Conv nodes are named after the module that produced them (``/s8/s8.1/s8.1.0/Conv`` ->
``s8.1.0``), so each weight goes back into the conv of that name, and the folded bias into the
BatchNorm that follows it as an identity BN (scale 1, shift = bias, running stats 0 / 1 - eps).
The result computes the same function as the ONNX (checked on an input: ``verify``) and
fine-tunes like the original, BN included.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from perception.detector.card import ModelCard, load_card
from tools.compress.errors import CompressError
from tools.train.data import CLASSES
from tools.train.detector_model import TinyCenterNet

# Widths of TinyCenterNet's stages, read from the convs that set them.
_WIDTH_CONVS = ("stem.0.0", "stem.1.0", "s8.0.0", "s16.0.0", "s32.0.0")


@dataclass
class DenseModel:
    model: TinyCenterNet
    card: ModelCard
    card_path: Path
    onnx_path: Path


def _conv_weights(proto: onnx.ModelProto) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for node in proto.graph.node:
        if node.op_type != "Conv":
            continue
        parts = node.name.strip("/").split("/")
        if len(parts) < 2:
            raise CompressError(f"Conv node {node.name!r} does not name its torch module")
        weight = inits.get(node.input[1])
        bias = inits.get(node.input[2]) if len(node.input) > 2 else None
        if weight is None:
            raise CompressError(f"Conv node {node.name!r}: weight {node.input[1]!r} not constant")
        out[parts[-2]] = (weight, bias)
    return out


def _load(model: nn.Module, convs: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> None:
    modules = dict(model.named_modules())
    for name, (weight, bias) in convs.items():
        conv = modules.get(name)
        if not isinstance(conv, nn.Conv2d) or tuple(conv.weight.shape) != weight.shape:
            raise CompressError(f"ONNX conv {name!r} {weight.shape} has no matching torch conv")
        conv.weight.data.copy_(torch.from_numpy(np.array(weight)))
        bn = modules.get(name.rsplit(".", 1)[0] + "." + str(int(name.rsplit(".", 1)[1]) + 1))
        if conv.bias is not None:
            conv.bias.data.copy_(
                torch.from_numpy(
                    np.array(bias) if bias is not None else np.zeros(len(weight), np.float32)
                )
            )
        elif isinstance(bn, nn.BatchNorm2d):
            bn.weight.data.fill_(1.0)
            bn.bias.data.copy_(
                torch.from_numpy(
                    np.array(bias) if bias is not None else np.zeros(len(weight), np.float32)
                )
            )
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        else:
            raise CompressError(f"ONNX conv {name!r}: no BatchNorm after it to hold its bias")


def load_dense(card_path: str | Path) -> DenseModel:
    """The dense detector of ``card_path`` (card + ONNX) as a TinyCenterNet in eval mode."""
    card_path = Path(card_path)
    card = load_card(card_path)
    onnx_path = card.model_path()
    try:
        proto = onnx.load(str(onnx_path))
    except (OSError, onnx.onnx_cpp2py_export.checker.ValidationError) as exc:  # type: ignore[attr-defined]
        raise CompressError(f"{onnx_path}: cannot read the ONNX model: {exc}") from None
    convs = _conv_weights(proto)
    missing = [n for n in _WIDTH_CONVS if n not in convs]
    if missing:
        raise CompressError(f"{onnx_path}: not a TinyCenterNet export (no conv {missing[0]!r})")
    widths = tuple(int(convs[n][0].shape[0]) for n in _WIDTH_CONVS)
    stride = int(card.decoder.options.get("stride", 4))
    model = TinyCenterNet(len(CLASSES), widths, stride)
    _load(model, convs)
    model.eval()
    return DenseModel(model, card, card_path, onnx_path)


@torch.no_grad()
def calibrate_bn(model: nn.Module, batches: list[torch.Tensor]) -> int:
    """Give the identity BatchNorms of an imported model real statistics, same function.

    In train mode a BatchNorm normalises by the batch's statistics, so an identity BN (running
    mean 0, var 1) would change what the network computes as soon as fine-tuning starts. With
    the conv outputs' measured per-channel mean mu and variance var on ``batches``, the BN gets
    running (mu, var), scale sqrt(var + eps) and shift (bias + mu): identical in eval mode, and
    close to it under batch statistics. Returns the number of BatchNorms calibrated."""
    pairs = _conv_bn_pairs(model)
    sums: dict[nn.Module, list[torch.Tensor]] = {}

    def hook(module: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        flat = out.transpose(0, 1).reshape(out.shape[1], -1).double()
        s = sums.setdefault(module, [torch.zeros(out.shape[1], dtype=torch.float64)] * 2 + [0])
        sums[module] = [s[0] + flat.sum(1), s[1] + (flat * flat).sum(1), s[2] + flat.shape[1]]

    hooks = [conv.register_forward_hook(hook) for conv, _bn in pairs]
    was_training = model.training
    model.eval()
    try:
        for x in batches:
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for conv, bn in pairs:
        total, squares, n = sums[conv]
        mean = total / n
        var = (squares / n - mean * mean).clamp(min=1e-6)
        # Keep y = a * z + c: a = gamma / sqrt(rv + eps), c = beta - a * rm.
        a = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        c = bn.bias.double() - a * bn.running_mean.double()
        bn.running_mean.copy_(mean.float())
        bn.running_var.copy_(var.float())
        bn.weight.copy_((a * torch.sqrt(var + bn.eps)).float())
        bn.bias.copy_((c + a * mean).float())
    return len(pairs)


def _conv_bn_pairs(model: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    pairs = []
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            items = list(module)
            for a, b in itertools.pairwise(items):
                if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and a.bias is None:
                    pairs.append((a, b))
    return pairs


def verify(dense: DenseModel, tol: float = 1e-3) -> float:
    """Largest difference (relative to each output's scale) between the torch model and its
    ONNX on one input; CompressError over ``tol``."""
    import onnxruntime as ort

    inp = dense.card.input
    x = torch.rand(1, 3, inp.height, inp.width, generator=torch.Generator().manual_seed(0))
    sess = ort.InferenceSession(str(dense.onnx_path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    dense.model.export_mode = True
    try:
        with torch.no_grad():
            got = [t.numpy() for t in dense.model(x)]
    finally:
        dense.model.export_mode = False
    # Relative to each output's scale: box distances reach hundreds of pixels, where float32
    # kernels that sum in another order differ by ~1e-3 absolute.
    diff = max(
        float(np.abs(a - b).max() / max(1.0, float(np.abs(a).max()))) for a, b in zip(ref, got)
    )
    if diff > tol:
        raise CompressError(
            f"{dense.onnx_path}: imported weights differ from the ONNX by {diff:.3g}"
        )
    return diff
