"""The model card: how to feed a detector ONNX and how to read its outputs.

A card is a small YAML or JSON file beside the ONNX, so that any detector can be run by the
camera detector node without code changes::

    model: camera_detector.onnx        # relative to the card
    input:
      width: 320
      height: 192
      resize: stretch                  # stretch | letterbox
      interpolation: linear            # linear | area | nearest | cubic (default: per decoder)
      pad_value: 114                   # letterbox border value (pixel units, before scaling)
      pad_position: center             # center | top_left (YOLOX pads bottom-right)
      channel_order: rgb               # rgb | bgr
      scale: 0.00392156862745098       # x = (pixel * scale - mean) / std
      mean: [0.0, 0.0, 0.0]
      std: [1.0, 1.0, 1.0]
      fused: false                     # true: uint8 BGR [1, H, W, 3] in, the model normalises
    decoder:
      name: centernet                  # centernet | yolox | yolov5 | yolov8 | fastestdet | topk
      outputs: [heatmap, boxes]        # tensor names in the decoder's order (default: model order)
    classes: [car, truck, pedestrian, bicycle]     # or a file name, one class a line
    labels: {car: CAR, truck: TRUCK, pedestrian: PEDESTRIAN, bicycle: BICYCLE}
    score_threshold: 0.3
    nms_threshold: 0.5
    max_detections: 100
    engine: {sparse_weights: true}     # optional: what the engine build should use for it
                                       # (2:4 sparse weights: TensorRT on sm_80+ only)
    provenance: {...}                  # optional: training data, compression, FLOPs, accuracy

Classes without an entry in ``labels`` are detected but not published; map a class to
``UNKNOWN`` to publish it as an unknown object. Decoder-specific keys (``strides`` for YOLOX,
...) sit beside ``name`` and are checked by the decoder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from perception.detector.errors import CardError
from perception.objects import Label
from stack.engine import ChannelOrder

CARD_SUFFIXES = (".yaml", ".yml", ".json")
TOP_KEYS = frozenset(
    {
        "name", "model", "input", "decoder", "classes", "labels", "score_threshold",
        "nms_threshold", "max_detections", "class_agnostic_nms", "description", "provenance",
        "engine",
    }
)  # fmt: skip
# Engine options a card may ask for (stack.engine flat option names), with their types.
ENGINE_KEYS: dict[str, type] = {"sparse_weights": bool}
INPUT_KEYS = frozenset(
    {"tensor", "width", "height", "resize", "interpolation", "pad_value", "pad_position",
     "channel_order", "scale", "mean", "std", "fused"}
)  # fmt: skip


class ResizeMode(str, Enum):
    STRETCH = "stretch"  # resize to the input size, aspect ratio not kept
    LETTERBOX = "letterbox"  # keep the aspect ratio, pad the rest with pad_value


class Interpolation(str, Enum):
    """The resize filter the model was trained with (a model's scores depend on it)."""

    LINEAR = "linear"  # cv2.INTER_LINEAR: cv2.resize's default, YOLOX/YOLOv5/v8/FastestDet
    AREA = "area"  # cv2.INTER_AREA when shrinking, INTER_LINEAR when enlarging
    NEAREST = "nearest"
    CUBIC = "cubic"


# What each decoder family's reference pre-processing resizes with, when a card does not say:
# YOLOX (preproc), YOLOv5 / v8 (letterbox) and FastestDet's demo all call cv2.resize with
# INTER_LINEAR; this project's centernet is trained on INTER_AREA-shrunk frames (tools/train).
DEFAULT_INTERPOLATION = {
    "yolox": Interpolation.LINEAR,
    "yolov5": Interpolation.LINEAR,
    "yolov8": Interpolation.LINEAR,
    "fastestdet": Interpolation.LINEAR,
    "centernet": Interpolation.AREA,
}


class PadPosition(str, Enum):
    CENTER = "center"  # YOLOv5 / v8 letterbox
    TOP_LEFT = "top_left"  # YOLOX: image at the top-left corner, padding right and bottom


@dataclass(frozen=True)
class InputSpec:
    width: int
    height: int
    resize: ResizeMode = ResizeMode.STRETCH
    interpolation: Interpolation = Interpolation.AREA
    pad_value: float = 114.0
    pad_position: PadPosition = PadPosition.CENTER
    channel_order: ChannelOrder = ChannelOrder.RGB
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    tensor: str | None = None  # None: the model's only input
    # True: the model takes the resized uint8 BGR frame [1, height, width, 3] and does the cast,
    # channel order, scale/mean/std and layout itself (tools.compress.fusion); the fields above
    # then record what it does inside.
    fused: bool = False


@dataclass(frozen=True)
class DecoderSpec:
    name: str
    outputs: tuple[str, ...] = ()  # () = the model's outputs in their order
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelCard:
    model: str
    input: InputSpec
    decoder: DecoderSpec
    classes: tuple[str, ...]
    labels: tuple[Label | None, ...]  # per class; None: not published
    score_threshold: float = 0.3
    nms_threshold: float = 0.5
    max_detections: int = 100
    class_agnostic_nms: bool = False
    name: str = ""
    source: str = "<dict>"  # the card file, for messages
    description: str = ""
    # Where the model comes from and what it costs (training data, compression method and
    # parameters, FLOPs, params, sparsity, held-out accuracy, measured latency): plain data,
    # written by tools (tools.compress) and read back as-is; nothing here changes inference.
    provenance: Mapping[str, Any] = field(default_factory=dict)
    # Engine options the model asks for (``ENGINE_KEYS``), passed to stack.engine with the
    # node's own: ``sparse_weights`` for 2:4 sparse weights, which the engine sets only where
    # the GPU has sparse tensor cores.
    engine: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def model_path(self) -> Path:
        """The ONNX file, relative to the card's folder."""
        path = Path(self.model)
        if path.is_absolute() or self.source.startswith("<"):
            return path
        return Path(self.source).parent / path

    def to_dict(self) -> dict[str, Any]:
        """The card as plain data (what :func:`load_card` reads back)."""
        inp = self.input
        out: dict[str, Any] = {
            "name": self.name or Path(self.model).stem,
            "model": self.model,
            "input": {
                "width": inp.width,
                "height": inp.height,
                "resize": inp.resize.value,
                "interpolation": inp.interpolation.value,
                "pad_value": inp.pad_value,
                "pad_position": inp.pad_position.value,
                "channel_order": inp.channel_order.value,
                "scale": inp.scale,
                "mean": list(inp.mean),
                "std": list(inp.std),
            },
            "decoder": {"name": self.decoder.name, **dict(self.decoder.options)},
            "classes": list(self.classes),
            "labels": {c: lab.name for c, lab in zip(self.classes, self.labels) if lab is not None},
            "score_threshold": self.score_threshold,
            "nms_threshold": self.nms_threshold,
            "max_detections": self.max_detections,
            "class_agnostic_nms": self.class_agnostic_nms,
        }
        if inp.tensor:
            out["input"]["tensor"] = inp.tensor
        if inp.fused:
            out["input"]["fused"] = True
        if self.description:
            out["description"] = self.description
        if self.decoder.outputs:
            out["decoder"]["outputs"] = list(self.decoder.outputs)
        if self.engine:
            out["engine"] = dict(self.engine)
        if self.provenance:
            out["provenance"] = dict(self.provenance)
        return out


# ---------------------------------------------------------------- field parsing


class _Reader:
    """Typed access to one mapping of the card, with errors naming file and key."""

    def __init__(self, source: str, prefix: str, doc: Any, allowed: frozenset[str] | None) -> None:
        if not isinstance(doc, Mapping):
            where = prefix.rstrip(".") or "top level"
            raise CardError(f"{source}: {where}: expected a mapping, got {type(doc).__name__}")
        self.source, self.prefix, self.doc = source, prefix, doc
        if allowed is not None:
            unknown = sorted(str(k) for k in doc if k not in allowed)
            if unknown:
                raise CardError(
                    f"{source}: {prefix}{unknown[0]}: unknown key; known keys: {sorted(allowed)}"
                )

    def error(self, key: str, message: str) -> CardError:
        return CardError(f"{self.source}: {self.prefix}{key}: {message}")

    def has(self, key: str) -> bool:
        return key in self.doc

    def raw(self, key: str, default: Any = ...) -> Any:
        if key not in self.doc:
            if default is ...:
                raise self.error(key, "required key missing")
            return default
        return self.doc[key]

    def number(self, key: str, default: Any = ..., low: float = -math.inf, high: float = math.inf):
        value = self.raw(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise self.error(key, f"expected a number, got {value!r}")
        if not low <= value <= high:
            raise self.error(key, f"{value!r} is outside [{low}, {high}]")
        return float(value)

    def integer(self, key: str, default: Any = ..., low: int = 1) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.error(key, f"expected an integer >= {low}, got {value!r}")
        return value

    def triple(self, key: str, default: tuple[float, float, float]) -> tuple[float, float, float]:
        value = self.raw(key, default)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = (value,) * 3
        if (
            not isinstance(value, Sequence)
            or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise self.error(key, f"expected a number or 3 numbers, got {value!r}")
        return (float(value[0]), float(value[1]), float(value[2]))

    def choice(self, key: str, kind: type[Enum], default: Any) -> Any:
        value = self.raw(key, default)
        try:
            return kind(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in kind)
            raise self.error(key, f"{value!r} is not one of {choices}") from None

    def text(self, key: str, default: Any = ...) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value:
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        return value


def _input_spec(source: str, doc: Any, decoder: str) -> InputSpec:
    r = _Reader(source, "input.", doc, INPUT_KEYS)
    default = DEFAULT_INTERPOLATION.get(decoder, Interpolation.LINEAR)
    std = r.triple("std", (1.0, 1.0, 1.0))
    if any(s == 0 for s in std):
        raise r.error("std", f"must not contain 0, got {list(std)}")
    tensor = r.raw("tensor", None)
    if tensor is not None and not isinstance(tensor, str):
        raise r.error("tensor", f"expected a tensor name, got {tensor!r}")
    fused = r.raw("fused", False)
    if not isinstance(fused, bool):
        raise r.error("fused", f"expected true or false, got {fused!r}")
    return InputSpec(
        width=r.integer("width"),
        height=r.integer("height"),
        resize=r.choice("resize", ResizeMode, ResizeMode.STRETCH.value),
        interpolation=r.choice("interpolation", Interpolation, default.value),
        pad_value=r.number("pad_value", 114.0),
        pad_position=r.choice("pad_position", PadPosition, PadPosition.CENTER.value),
        channel_order=r.choice("channel_order", ChannelOrder, ChannelOrder.RGB.value),
        scale=r.number("scale", 1.0 / 255.0),
        mean=r.triple("mean", (0.0, 0.0, 0.0)),
        std=std,
        tensor=tensor,
        fused=fused,
    )


def _decoder_spec(source: str, doc: Any) -> DecoderSpec:
    if isinstance(doc, str):
        doc = {"name": doc}
    r = _Reader(source, "decoder.", doc, None)
    outputs = r.raw("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise r.error("outputs", f"expected a list of tensor names, got {outputs!r}")
    options = {k: v for k, v in doc.items() if k not in ("name", "outputs")}
    return DecoderSpec(r.text("name"), tuple(outputs), options)


def _classes(source: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # a class-names file beside the card, one name a line
        path = Path(value) if source.startswith("<") else Path(source).parent / value
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise CardError(f"{source}: classes: cannot read {path}: {exc.strerror}") from None
        value = [line.strip() for line in lines if line.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        raise CardError(f"{source}: classes: expected a non-empty list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise CardError(f"{source}: classes: names must be unique")
    return tuple(value)


def parse_label(value: Any, where: str) -> Label:
    """An Autoware label from its name (any case) or number."""
    try:
        if isinstance(value, str):
            return Label[value.strip().upper()]
        if isinstance(value, int) and not isinstance(value, bool):
            return Label(value)
    except (KeyError, ValueError):
        pass
    names = ", ".join(m.name for m in Label)
    raise CardError(f"{where}: {value!r} is not an Autoware object label ({names})")


def _labels(source: str, classes: tuple[str, ...], doc: Any) -> tuple[Label | None, ...]:
    r = _Reader(source, "labels.", doc, frozenset(classes))
    return tuple(
        parse_label(r.doc[c], f"{source}: labels.{c}") if r.has(c) else None for c in classes
    )


def card_from_dict(doc: Any, source: str = "<dict>") -> ModelCard:
    """Validate a card given as plain data; ``source`` names it in errors and anchors paths."""
    r = _Reader(source, "", doc, TOP_KEYS)
    classes = _classes(source, r.raw("classes"))
    labels = _labels(source, classes, r.raw("labels", {}))
    if all(lab is None for lab in labels):
        raise CardError(f"{source}: labels: no class is mapped to an Autoware label")
    agnostic = r.raw("class_agnostic_nms", False)
    if not isinstance(agnostic, bool):
        raise r.error("class_agnostic_nms", f"expected true or false, got {agnostic!r}")
    decoder = _decoder_spec(source, r.raw("decoder"))
    return ModelCard(
        model=r.text("model"),
        input=_input_spec(source, r.raw("input"), decoder.name),
        decoder=decoder,
        classes=classes,
        labels=labels,
        score_threshold=r.number("score_threshold", 0.3, 0.0, 1.0),
        nms_threshold=r.number("nms_threshold", 0.5, 0.0, 1.0),
        max_detections=r.integer("max_detections", 100),
        class_agnostic_nms=agnostic,
        name=str(r.raw("name", "")),
        source=source,
        description=str(r.raw("description", "")),
        provenance=_provenance(source, r.raw("provenance", {})),
        engine=_engine(source, r.raw("engine", {})),
    )


def _engine(source: str, doc: Any) -> Mapping[str, Any]:
    r = _Reader(source, "engine.", doc, frozenset(ENGINE_KEYS))
    for key, kind in ENGINE_KEYS.items():
        if r.has(key) and not isinstance(r.raw(key), kind):
            raise r.error(key, f"expected {kind.__name__}, got {r.raw(key)!r}")
    return dict(doc)


def _provenance(source: str, doc: Any) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise CardError(f"{source}: provenance: expected a mapping, got {type(doc).__name__}")
    return dict(doc)


def load_card(path: str | Path) -> ModelCard:
    """Read a card file (YAML, or JSON by suffix)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise CardError(f"{path}: cannot read model card: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CardError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from None
    return card_from_dict(doc, str(path))


def card_beside(model: str | Path) -> Path:
    """The card file next to an ONNX file (same stem, .yaml / .yml / .json)."""
    model = Path(model)
    for suffix in CARD_SUFFIXES:
        candidate = model.with_suffix(suffix)
        if candidate.exists():
            return candidate
    raise CardError(
        f"{model}: no model card beside it (looked for {', '.join(model.stem + s for s in CARD_SUFFIXES)})"
    )


def write_card(card: ModelCard, path: str | Path) -> Path:
    path = Path(path)
    data = card.to_dict()
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=2) + "\n")
    else:
        header = "# Model card of a camera detector; format: perception/detector/card.py\n"
        path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path
