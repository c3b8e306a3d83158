"""Demo models shipped as package data: ONNX files, each with its model card beside it."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
CAMERA_DETECTOR_CARD = MODELS_DIR / "camera_detector.yaml"
_COMPRESSED = MODELS_DIR / "compressed"
# The camera detector's family in launch/replay.yaml's degrade order: most accurate first
# (vehicle AP@0.5 on the held-out seeds), cheaper first among equals (README, "Degrade order").
# Pruned: `l4 compress tools/compress/recipes/camera_detector_prune.yaml`; pruned + INT8 + fused:
# `.../camera_detector_p50_int8_fused.yaml`; INT8 / fused of the dense model: tools.compress.variants.
CAMERA_DETECTOR_VARIANTS = (
    CAMERA_DETECTOR_CARD,
    MODELS_DIR / "camera_detector_int8_fused.yaml",
    _COMPRESSED / "camera_detector_p50" / "camera_detector_p50.yaml",
    _COMPRESSED
    / "p50_int8_fused"
    / "camera_detector_p50_int8_fused"
    / "camera_detector_p50_int8_fused.yaml",
    _COMPRESSED / "camera_detector_p60" / "camera_detector_p60.yaml",
)
# Single-rewrite variants of the dense model (not in the degrade order; `l4 bench compress`).
CAMERA_DETECTOR_REWRITES = (
    MODELS_DIR / "camera_detector_int8.yaml",
    MODELS_DIR / "camera_detector_fused.yaml",
)


def model_file(name: str) -> Path:
    """The path of a shipped model file (e.g. ``camera_detector.onnx``)."""
    return MODELS_DIR / name
