"""Accuracy per model variant: which variant produced each camera frame's detections.

The trace records, for every callback run, the inputs it consumed (topic, header stamp) and the
model variant in use (stack.scheduler.variants). A detection message carries its image's stamp,
so each frame's detections are attributed to the variant that ran on that image, and the camera
AP is computed per variant as well as over the whole run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stack import topics

CAMERA_2D = "/perception/camera/detections2d"  # the detector's 2D boxes (score.Topics)


def image_variants(
    records: Sequence[tuple],
    image_topic: str = topics.CAMERA_IMAGE,
    output_topic: str = CAMERA_2D,
) -> dict[int, str]:
    """Image header stamp -> the variant of the run that consumed it and published
    ``output_topic`` (the detections being split): another node with variants on the same
    images (the traffic-light ViT) is not the detector (runs without a variant skipped)."""
    out: dict[int, str] = {}
    for r in records:
        variant = r[8]
        if not variant or not any(o[0] == output_topic for o in r[7]):
            continue
        for topic, stamp in r[6]:
            if topic == image_topic:
                out[int(stamp)] = variant
    return out


def run_image_variants(run_dir: Path) -> dict[int, str]:
    """``image_variants`` of a run directory's trace; {} when it has none or it is unreadable
    (the scores do not need it; only the per-variant split does)."""
    from stack.trace import RunDir, TraceError

    try:
        run = RunDir(run_dir)
        return image_variants(run.trace.records) if run.has_trace else {}
    except TraceError:
        return {}


def split_by_variant(
    dets: Sequence[tuple[int, Any]], variants: Mapping[int, str]
) -> dict[str, list[tuple[int, Any]]]:
    """Detections (stamp, msg) grouped by the variant that made them, in variant first-use order."""
    groups: dict[str, list[tuple[int, Any]]] = {}
    for stamp, msg in dets:
        variant = variants.get(int(stamp))
        if variant is not None:
            groups.setdefault(variant, []).append((stamp, msg))
    return groups
