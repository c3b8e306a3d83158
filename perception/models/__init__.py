"""Demo models shipped as package data: ONNX files, each with its model card beside it."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
CAMERA_DETECTOR_CARD = MODELS_DIR / "camera_detector.yaml"
# The camera detector's family, most accurate first: the dense model, then the variants of
# `l4 compress tools/compress/recipes/camera_detector_prune.yaml --out perception/models/compressed`.
CAMERA_DETECTOR_VARIANTS = (
    CAMERA_DETECTOR_CARD,
    MODELS_DIR / "compressed" / "camera_detector_p50" / "camera_detector_p50.yaml",
    MODELS_DIR / "compressed" / "camera_detector_p60" / "camera_detector_p60.yaml",
)


def model_file(name: str) -> Path:
    """The path of a shipped model file (e.g. ``camera_detector.onnx``)."""
    return MODELS_DIR / name
