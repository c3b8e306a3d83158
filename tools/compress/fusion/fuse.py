"""``fuse(onnx_in, onnx_out, card)``: the fusion pass of ``l4 compress`` (method ``fuse``).

Steps, each optional, each counted (nodes before and after) in the :class:`FuseResult`:
``cleanup`` (onnxslim + ORT BASIC, :mod:`.cleanup`), ``preprocess`` (uint8 HWC BGR in,
:mod:`.preprocess`), ``postprocess`` (top-K head, :mod:`.heads`, with the card's NMS,
:mod:`.nms`; with ``gather`` a branch read only at the K rows is computed at those rows,
:mod:`.gathered`, its counts also under ``gathered_branch``), ``siblings`` (convolutions reading
one tensor merged, :mod:`.siblings`; after the head, so a branch it computes by rows is not
merged into a dense convolution first), then ``cleanup`` again on the new parts. The card written beside the output says ``input.fused: true`` and
``decoder: topk`` (with ``nms_iou`` when the model runs the NMS).

A Q/DQ (INT8) model is fused without cleanup (constant folding would dequantize its weights) and
without the sibling merge (its weights sit behind DequantizeLinear); the channel swap goes into
the INT8 weights and the scale stays one Mul before the first Q; quantize first, then fuse.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import onnx

from perception.detector.card import DecoderSpec, ModelCard, load_card, write_card
from tools.compress.fusion.cleanup import cleanup
from tools.compress.fusion.errors import FusionError
from tools.compress.fusion.heads import OUT_BOXES, OUT_CLASSES, OUT_SCORES, add_head
from tools.compress.fusion.preprocess import fold_preprocessing
from tools.compress.fusion.siblings import merge_siblings


@dataclass(frozen=True)
class FuseOptions:
    cleanup: bool = True
    preprocess: bool = True
    postprocess: bool = True
    top_k: int = 100
    nms: bool = True  # the card's NMS in the model (postprocess only)
    # Merge convolutions that read the same tensor: off by default, it does not win under ONNX
    # Runtime here (the shipped detector's heads: 3.567 ms merged vs 3.551 ms apart, network
    # alone, interleaved; and with ``gather`` its box branch is no longer a dense convolution).
    siblings: bool = False
    gather: bool = True  # a branch read only at the K head rows computed at those rows


@dataclass
class FuseResult:
    model: Path
    card: Path | None
    nodes_before: int
    nodes_after: int
    steps: list[dict[str, Any]] = field(default_factory=list)  # name, nodes_before, nodes_after

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"], d["card"] = str(self.model), str(self.card) if self.card else None
        return d


def fused_card(
    card: ModelCard,
    model_name: str,
    k: int,
    opts: FuseOptions,
    nms: bool = False,
    gathered: bool = False,
) -> ModelCard:
    inp = replace(card.input, fused=True, tensor=None) if opts.preprocess else card.input
    nms_opts = (
        {"nms_iou": card.nms_threshold, "nms_class_agnostic": card.class_agnostic_nms}
        if nms
        else {}
    )
    dec = (
        DecoderSpec("topk", (OUT_BOXES, OUT_SCORES, OUT_CLASSES), {"k": k, **nms_opts})
        if opts.postprocess
        else card.decoder
    )
    steps = [
        s
        for s, on in (
            ("cleanup", opts.cleanup),
            ("preprocess", opts.preprocess),
            ("postprocess", opts.postprocess),
            ("gather", gathered),
            ("siblings", opts.siblings),
            ("nms", nms),
        )
        if on
    ]
    text = (
        f"{card.name or Path(card.model).stem} fused ({', '.join(steps)}) by tools.compress.fusion"
    )
    return replace(
        card, model=model_name, input=inp, decoder=dec, name=Path(model_name).stem, description=text
    )


def fuse(
    onnx_in: str | Path,
    onnx_out: str | Path,
    card: ModelCard | str | Path,
    options: FuseOptions | None = None,
) -> FuseResult:
    """Write the fused model (and its card beside it) and say what each step removed/added."""
    opts = options or FuseOptions()
    card = card if isinstance(card, ModelCard) else load_card(card)
    src, out = Path(onnx_in), Path(onnx_out)
    try:
        model = onnx.load(src)
    except Exception as exc:
        raise FusionError(f"{src}: cannot read ONNX model: {exc}") from None
    first = len(model.graph.node)
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        opts = replace(opts, cleanup=False, siblings=False)  # weights behind DequantizeLinear
    steps: list[dict[str, Any]] = []
    k, nms, gathered = opts.top_k, False, None
    with tempfile.TemporaryDirectory(prefix="l4fuse") as tmp:

        def step(name: str, fn) -> None:
            nonlocal model
            before = len(model.graph.node)
            model = fn(model) or model
            steps.append(
                {"name": name, "nodes_before": before, "nodes_after": len(model.graph.node)}
            )

        if opts.cleanup:
            step("cleanup", lambda m: cleanup(m, Path(tmp), str(src)))
        if opts.preprocess:
            step("preprocess", lambda m: (fold_preprocessing(m, card.input, str(src)), m)[1])
        if opts.postprocess:

            def head(m: onnx.ModelProto) -> onnx.ModelProto:
                nonlocal k, nms, gathered
                head = add_head(m, card, opts.top_k, str(src), nms=opts.nms, gather=opts.gather)
                k, nms, gathered = head.k, head.nms, head.gathered
                return m

            step("postprocess", head)
            if gathered is not None:  # part of the head's count, also said on its own
                steps[-1]["gathered_branch"] = {
                    "dense_nodes": gathered.dense_nodes, "row_nodes": gathered.row_nodes
                }  # fmt: skip
        if opts.siblings:  # after the head: a branch it computes at K rows merges with nothing
            step("siblings", lambda m: (merge_siblings(m, str(src)), m)[1])
        if opts.cleanup and (opts.preprocess or opts.postprocess):
            step("cleanup", lambda m: cleanup(m, Path(tmp), str(src)))
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    onnx.save(model, partial)
    os.replace(partial, out)
    card_path = write_card(
        fused_card(card, out.name, k, opts, nms, gathered is not None), out.with_suffix(".yaml")
    )
    return FuseResult(out, card_path, first, len(model.graph.node), steps)


_RECIPE_KEYS = frozenset(
    {
        "method",
        "model",
        "card",
        "name",
        "cleanup",
        "preprocess",
        "postprocess",
        "top_k",
        "nms",
        "siblings",
        "gather",
    }
)


def run_method(recipe: Mapping[str, Any], out_dir: str | Path) -> FuseResult:
    """``method: fuse`` of a recipe: ``model``, ``card`` (default: beside the model), ``name``
    (output stem), switches ``cleanup`` / ``siblings`` / ``preprocess`` / ``postprocess`` /
    ``nms`` / ``gather`` and ``top_k``;
    writes ``out_dir/NAME.onnx`` + card."""
    from perception.detector.card import card_beside

    unknown = sorted(set(recipe) - _RECIPE_KEYS)
    if unknown:
        raise FusionError(
            f"recipe: {unknown[0]}: unknown key of method fuse; keys: {sorted(_RECIPE_KEYS)}"
        )
    if "model" not in recipe:
        raise FusionError("recipe: model: required key missing")
    flags = {}
    for key in ("cleanup", "siblings", "preprocess", "postprocess", "nms", "gather"):
        value = recipe.get(key, getattr(FuseOptions, key))
        if not isinstance(value, bool):
            raise FusionError(f"recipe: {key}: expected true or false, got {value!r}")
        flags[key] = value
    top_k = recipe.get("top_k", 100)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise FusionError(f"recipe: top_k: expected an integer >= 1, got {top_k!r}")
    model = Path(recipe["model"])
    card = Path(recipe["card"]) if recipe.get("card") else card_beside(model)
    name = str(recipe.get("name", f"{model.stem}_fused"))
    return fuse(model, Path(out_dir) / f"{name}.onnx", card, FuseOptions(top_k=top_k, **flags))
