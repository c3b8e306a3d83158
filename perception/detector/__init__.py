"""Camera object detector: any ONNX detector + a model card -> 3D objects on the ground plane.

    card = load_card("perception/models/camera_detector.yaml")
    detector = Detector(load_engine(card.model_path()), card)
    dets = detector.detect(bgr_image)          # Detections2D in image pixels

The node (:mod:`perception.detector.node`) adds image decoding, camera geometry and the 3D lift.
"""

from perception.detector.card import (
    DecoderSpec,
    InputSpec,
    ModelCard,
    PadPosition,
    ResizeMode,
    card_beside,
    card_from_dict,
    load_card,
    write_card,
)
from perception.detector.decoders import DECODERS, Candidates, Decoder, make_decoder
from perception.detector.errors import CardError, DetectorError, ImageError
from perception.detector.lift import SIZE_PRIORS, CameraGeometry, LiftConfig, lift_boxes
from perception.detector.nms import iou_matrix, nms
from perception.detector.pipeline import Detections2D, Detector
from perception.detector.preprocess import Resize, image_to_bgr, preprocess

__all__ = [
    "DECODERS",
    "SIZE_PRIORS",
    "CameraGeometry",
    "Candidates",
    "CardError",
    "Decoder",
    "DecoderSpec",
    "Detections2D",
    "Detector",
    "DetectorError",
    "ImageError",
    "InputSpec",
    "LiftConfig",
    "ModelCard",
    "PadPosition",
    "Resize",
    "ResizeMode",
    "card_beside",
    "card_from_dict",
    "image_to_bgr",
    "iou_matrix",
    "lift_boxes",
    "load_card",
    "make_decoder",
    "nms",
    "preprocess",
    "write_card",
]
