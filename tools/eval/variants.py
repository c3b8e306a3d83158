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


def image_variants(
    records: Sequence[tuple],
    image_topic: str = topics.CAMERA_IMAGE,
    detections_topic: str = topics.CAMERA_DETECTIONS_2D,
) -> dict[int, str]:
    """Image header stamp -> the variant of the detector run that consumed it: runs of the
    nodes that publish ``detections_topic`` only (another node reading the same images with
    model variants of its own, a traffic-light classifier, is not the camera detector), and
    runs without a variant skipped."""
    detectors = {r[0] for r in records if any(o[0] == detections_topic for o in r[7])}
    out: dict[int, str] = {}
    for r in records:
        variant = r[8]
        if not variant or r[0] not in detectors:
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
