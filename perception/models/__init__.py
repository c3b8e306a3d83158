"""Demo models shipped as package data: ONNX files, each with its model card beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).resolve().parent
CAMERA_DETECTOR_CARD = MODELS_DIR / "camera_detector.yaml"
_COMPRESSED = MODELS_DIR / "compressed"


def _compressed(name: str, run: str = "") -> Path:
    """The card of variant ``name`` of ``l4 compress`` run into compressed/``run``."""
    return _COMPRESSED / run / name / f"{name}.yaml"


# The camera detector's family in launch/replay.yaml's degrade order: most accurate first
# (held-out vehicle AP@0.5, day), the dearer node callback first among equals (within a point),
# every step cheaper than the one before; README "Degrade order". Pruned for 3x + fused:
# `l4 compress tools/compress/recipes/camera_detector_s4h16.yaml`, then
# `.../camera_detector_s4h16_fused.yaml`; INT8 / fused of the dense model:
# tools.compress.variants.make_variants. Every INT8 file is TensorRT's Q/DQ layout (one file for
# ONNX Runtime and TensorRT on `backend: auto`; tests/perception/detector/test_shipped_int8_layout.py).
CAMERA_DETECTOR_VARIANTS = (
    CAMERA_DETECTOR_CARD,
    MODELS_DIR / "camera_detector_int8_fused.yaml",
    _compressed("camera_detector_s4h16_fused", "s4h16_fused"),
)
# Shipped variants outside the degrade order, each matched by one in it with as high an AP and a
# callback as cheap (int8 and fused by int8_fused; s4h16 by s4h16_fused; the ratio-pruned p50,
# p50 INT8 + fused and p60 by s4h16_fused, more accurate and cheaper; p60 fused by s4h16_fused,
# 33 points more accurate at a callback within 6 % of p60 fused's); `l4 bench compress`.
# p50 / p60: `.../camera_detector_prune.yaml`, then `.../camera_detector_p50_int8_fused.yaml`
# and `.../camera_detector_p60_fused.yaml`.
CAMERA_DETECTOR_REWRITES = (
    MODELS_DIR / "camera_detector_int8.yaml",
    MODELS_DIR / "camera_detector_fused.yaml",
    _compressed("camera_detector_s4h16", "s4h16"),
    _compressed("camera_detector_p50"),
    _compressed("camera_detector_p50_int8_fused", "p50_int8_fused"),
    _compressed("camera_detector_p60"),
    _compressed("camera_detector_p60_fused", "p60_fused"),
)
# The larger teacher (widths x1.5) compressed back to the dense model's latency (issue 21's
# detector family): more accurate by day than the dense model, but not cheaper, so outside the
# degrade order; `l4 compress tools/compress/recipes/camera_detector_wide_d80.yaml`.
CAMERA_DETECTOR_FAMILY = (_compressed("camera_detector_wide_d80", "wide_d80"),)


def model_file(name: str) -> Path:
    """The path of a shipped model file (e.g. ``camera_detector.onnx``)."""
    return MODELS_DIR / name


SHIPPED_PREFIX = "models:"  # a card named in a launch file as shipped in perception/models


def resolve_card(ctx: Any, card: str, default: Path = CAMERA_DETECTOR_CARD) -> Path:
    """A card named in a node's parameters: ``default`` when empty; ``models:NAME.yaml`` a
    shipped one (perception/models); a relative path through the context's resolver where it has
    one (the launch file's folder), else the working directory."""
    if not card:
        return default
    if card.startswith(SHIPPED_PREFIX):
        return model_file(card[len(SHIPPED_PREFIX) :])
    resolver = getattr(ctx, "resolve_path", None)
    path = Path(resolver(card)) if callable(resolver) else Path(card)
    return path.resolve()
