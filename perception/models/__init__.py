"""Demo models shipped as package data: ONNX files, each with its model card beside it."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
CAMERA_DETECTOR_CARD = MODELS_DIR / "camera_detector.yaml"


def model_file(name: str) -> Path:
    """The path of a shipped model file (e.g. ``camera_detector.onnx``)."""
    return MODELS_DIR / name
