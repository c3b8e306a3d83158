"""Export the trained detector to ONNX (static batch 1) with its model card beside it."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from perception.detector.card import DecoderSpec, InputSpec, ModelCard, ResizeMode, write_card
from perception.objects import Label
from stack.engine import ChannelOrder
from tools.train.data import CLASSES
from tools.train.detector_model import TinyCenterNet
from tools.train.errors import TrainError

OPSET = 13
LABELS = {
    "car": Label.CAR,
    "truck": Label.TRUCK,
    "pedestrian": Label.PEDESTRIAN,
    "bicycle": Label.BICYCLE,
}


def export_onnx(model: TinyCenterNet, path: Path, width: int, height: int) -> Path:
    """Write ``model`` as ONNX: input ``images`` float32 [1,3,H,W] RGB/255, outputs
    ``heatmap`` and ``boxes`` (the centernet layout); BN folded, graph simplified."""
    model.eval()
    model.export_mode = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                model,
                (torch.zeros(1, 3, height, width),),
                str(path),
                input_names=["images"],
                output_names=["heatmap", "boxes"],
                opset_version=OPSET,
                dynamo=False,
                do_constant_folding=True,
            )
    finally:
        model.export_mode = False
    return finish_onnx(path, "l4stack tools.train")


def finish_onnx(path: Path, producer: str) -> Path:
    """Rewrite the exported ``path`` simplified (onnxslim, when installed), stamped with
    ``producer`` and checked."""
    proto = onnx.load(str(path))
    try:
        import onnxslim

        proto = onnxslim.slim(proto)
    except ImportError:  # optional: the unsimplified graph runs the same
        pass
    proto.producer_name = producer
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def detector_card(
    onnx_name: str,
    width: int,
    height: int,
    stride: int,
    score_threshold: float = 0.3,
) -> ModelCard:
    return ModelCard(
        model=onnx_name,
        input=InputSpec(
            width, height, ResizeMode.STRETCH, channel_order=ChannelOrder.RGB, scale=1.0 / 255.0
        ),
        decoder=DecoderSpec("centernet", ("heatmap", "boxes"), {"stride": stride}),
        classes=CLASSES,
        labels=tuple(LABELS[c] for c in CLASSES),
        score_threshold=score_threshold,
        nms_threshold=0.5,
        max_detections=100,
        name=Path(onnx_name).stem,
    )


def export_detector(
    model: TinyCenterNet,
    out_dir: Path,
    name: str,
    width: int,
    height: int,
    score_threshold: float = 0.3,
) -> tuple[Path, Path]:
    """``out_dir/name.onnx`` and its card ``out_dir/name.yaml``."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainError(f"{out_dir}: cannot create the output folder: {exc.strerror}") from None
    onnx_path = export_onnx(model, out_dir / f"{name}.onnx", width, height)
    card = detector_card(onnx_path.name, width, height, model.stride, score_threshold)
    return onnx_path, write_card(card, out_dir / f"{name}.yaml")
