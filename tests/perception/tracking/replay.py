"""Tracker input dumped from the lockstep demo (the .npz files under data/), step by step."""

from __future__ import annotations

import numpy as np

from perception.objects import ObjectArray


def detections(z, k: int) -> ObjectArray:
    """The fused detections the tracker received at step k of a dumped replay."""
    m = z["step"] == k
    n = int(m.sum())
    return ObjectArray(
        z["position"][m].astype(float),
        z["yaw"][m].astype(float),
        z["dims"][m].astype(float),
        z["label"][m],
        z["score"][m].astype(float),
        np.zeros((n, 2)),
        z["cov_xy"][m].astype(float),
        np.zeros((n, 16), np.uint8),
    )
