"""INT8 post-training static quantization of a detector to Q/DQ (``l4 compress`` method ``int8``).

Built on ONNX Runtime's quantizer through :func:`stack.engine.quantize.quantize_feeds`:
per-channel symmetric INT8 weights, biases left in float (no INT32 ``DequantizeLinear``, which
TensorRT >= 10.1 refuses; checked after writing, and for ``target: tensorrt`` every rule of
TensorRT's Q/DQ import, :mod:`stack.engine.trt_qdq`), activations calibrated (min/max) on camera
frames from a bag topic or from generated scenario seeds, pre-processed exactly as the node does
it (so a fused model is calibrated on uint8 frames).

Two activation types:
- ``target: tensorrt`` (default; every shipped INT8 file): INT8 symmetric activations, the only
  kind TensorRT's explicit quantization takes. ONNX Runtime's CPU backend runs it as fast as the
  UINT8 file once its ReLU chains (and the Resizes after them) are folded at load
  (:mod:`stack.engine.qdq_relu`); as written, ORT would keep those ReLUs in float.
- ``target: onnxruntime``: UINT8 asymmetric activations (ONNX Runtime's U8S8 kernels, ReLU
  absorbed); not accepted by TensorRT. Kept as a baseline (``l4 bench int8fuse``: ``int8_ort``).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from perception.detector.card import ModelCard, load_card, write_card
from perception.detector.preprocess import preprocess
from stack import topics
from stack.engine.calibration import CalibrationSource
from stack.engine.quantize import ActivationType, int32_dequantize_inputs, quantize_feeds
from stack.engine.trt_qdq import QdqRuleError, require_tensorrt_qdq
from stack.errors import L4Error

log = logging.getLogger(__name__)


class QuantizeError(L4Error):
    """INT8 quantization cannot run (calibration data, model, recipe) or wrote a bad file."""


class QuantTarget(str, enum.Enum):
    TENSORRT = "tensorrt"
    ONNXRUNTIME = "onnxruntime"

    @property
    def activations(self) -> ActivationType:
        return (
            ActivationType.INT8_SYMMETRIC if self is QuantTarget.TENSORRT else ActivationType.UINT8
        )


@dataclass(frozen=True)
class Calibration:
    """Calibration frames: ``bag`` + ``topic`` (sensor_msgs Image/CompressedImage), bags given as
    ``scenario_bags``, or scenario ``seeds`` generated (once) into ``data_dir``; every
    ``every``-th frame, at most ``max_frames``."""

    bag: Path | None = None
    scenario_bags: tuple[Path, ...] = ()
    topic: str = topics.CAMERA_IMAGE
    seeds: tuple[int, ...] = ()
    seconds: float = 4.0
    data_dir: Path = Path("data/scenarios")
    every: int = 2
    max_frames: int = 64

    def bags(self) -> list[Path]:
        if self.bag is not None:
            return [self.bag]
        if self.scenario_bags:
            return list(self.scenario_bags)
        if not self.seeds:
            raise QuantizeError("calibration: give a bag (with its topic) or scenario seeds")
        from tools.train.errors import TrainError
        from tools.train.scenarios import ScenarioSpec, ensure_bags

        specs = [ScenarioSpec(seed, "day", "dense") for seed in self.seeds]
        try:
            return ensure_bags(specs, self.seconds, self.data_dir)
        except TrainError as exc:
            raise QuantizeError(f"calibration: {exc}") from exc

    def frames(self) -> Iterator[np.ndarray]:
        """BGR uint8 frames."""
        n = 0
        for bag in self.bags():
            for i, img in enumerate(CalibrationSource(bag, self.topic).images()):
                if i % self.every == 0:
                    yield img
                    n += 1
                    if n == self.max_frames:
                        return


@dataclass
class QuantResult:
    model: Path
    card: Path | None
    target: QuantTarget
    frames: int
    int32_dequantize: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"model": str(self.model), "card": str(self.card) if self.card else None,
                "target": self.target.value, "calibration_frames": self.frames,
                "int32_dequantize_inputs": self.int32_dequantize}  # fmt: skip


def _feeds(frames: Iterable[np.ndarray], card: ModelCard, input_name: str, count: list[int]):
    for bgr in frames:
        count[0] += 1
        yield {input_name: preprocess(bgr, card.input)[0]}


def _input_name(onnx_in: Path) -> str:
    graph = onnx.load(onnx_in, load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise QuantizeError(f"{onnx_in}: expected one image input, the model has {inputs}")
    return inputs[0]


def quantize_int8(
    onnx_in: str | Path,
    onnx_out: str | Path,
    calibration: Calibration | Iterable[np.ndarray],
    card: ModelCard | str | Path,
    target: QuantTarget = QuantTarget.TENSORRT,
    write_model_card: bool = True,
) -> QuantResult:
    """Quantize ``onnx_in`` (described by ``card``) to a Q/DQ ``onnx_out`` with its card."""
    src, out = Path(onnx_in), Path(onnx_out)
    card = card if isinstance(card, ModelCard) else load_card(card)
    frames = calibration.frames() if isinstance(calibration, Calibration) else iter(calibration)
    first = next(frames, None)
    if first is None:
        raise QuantizeError(f"{src}: no calibration frames")
    count = [0]
    feeds = _feeds(chain([first], frames), card, _input_name(src), count)
    quantize_feeds(src, out, feeds, target.activations)
    written = onnx.load(out)
    bad = int32_dequantize_inputs(written)
    if bad:
        raise QuantizeError(
            f"{out}: DequantizeLinear with INT32 input (TensorRT refuses): {bad[:3]}"
        )
    if target is QuantTarget.TENSORRT:  # every rule of TensorRT's Q/DQ import, not only INT32
        try:
            require_tensorrt_qdq(written, str(out))
        except QdqRuleError as exc:
            raise QuantizeError(str(exc)) from None
    card_path = None
    if write_model_card:
        text = (f"{card.name or Path(card.model).stem}: INT8 Q/DQ for {target.value} (tools.compress."
                f"quantize: per-channel symmetric weights, float biases, {target.activations.value} "
                f"activations, min/max on {count[0]} frames)")  # fmt: skip
        new = replace(card, model=out.name, name=out.stem, description=text)
        card_path = write_card(new, out.with_suffix(".yaml"))
    return QuantResult(out, card_path, target, count[0], bad)


def _calibration(doc: Mapping[str, Any], base: Path) -> Calibration:
    cal = dict(doc.get("calibration") or {})
    unknown = sorted(set(cal) - {"bag", "topic", "seeds", "seconds", "every", "max_frames"})
    if unknown:
        raise QuantizeError(f"recipe: calibration.{unknown[0]}: unknown key")
    seeds = cal.get("seeds", [])
    if not isinstance(seeds, Sequence) or not all(isinstance(s, int) for s in seeds):
        raise QuantizeError(
            f"recipe: calibration.seeds: expected a list of integers, got {seeds!r}"
        )
    return Calibration(
        bag=Path(cal["bag"]) if cal.get("bag") else None,
        topic=str(cal.get("topic", topics.CAMERA_IMAGE)),
        seeds=tuple(seeds),
        seconds=float(cal.get("seconds", 4.0)),
        data_dir=base,
        every=int(cal.get("every", 2)),
        max_frames=int(cal.get("max_frames", 64)),
    )


def run_method(
    recipe: Mapping[str, Any],
    out_dir: str | Path,
    data_dir: Path | None = None,
    calibration: Calibration | None = None,
) -> QuantResult:
    """``method: int8`` of a recipe: ``model`` (ONNX), ``card`` (default: beside the model),
    ``target`` (tensorrt | onnxruntime), ``calibration`` {bag, topic | seeds, seconds, every,
    max_frames}, ``name`` (output stem); writes ``out_dir/NAME.onnx`` + card. Calibration
    scenarios go to ``data_dir`` (default ``out_dir/scenarios``); ``calibration`` is used
    where the recipe has no ``calibration`` key."""
    from perception.detector.card import card_beside

    if "model" not in recipe:
        raise QuantizeError("recipe: model: required key missing")
    model = Path(recipe["model"])
    card = Path(recipe["card"]) if recipe.get("card") else card_beside(model)
    try:
        target = QuantTarget(recipe.get("target", QuantTarget.TENSORRT.value))
    except ValueError:
        raise QuantizeError(f"recipe: target: {recipe.get('target')!r} is not one of "
                            f"{[t.value for t in QuantTarget]}") from None  # fmt: skip
    out_dir = Path(out_dir)
    name = str(recipe.get("name", f"{model.stem}_int8"))
    if calibration is None or "calibration" in recipe:
        calibration = _calibration(recipe, out_dir / "scenarios" if data_dir is None else data_dir)
    return quantize_int8(model, out_dir / f"{name}.onnx", calibration, card, target)


__all__ = [
    "Calibration",
    "QuantResult",
    "QuantTarget",
    "QuantizeError",
    "quantize_int8",
    "run_method",
]
