"""Tiny synthetic frames (bright boxes on noise) for the sparse-training loop tests."""

from __future__ import annotations

import numpy as np
import pytest

from tools.train.data import Frame


def make_frames(n: int, seed: int, shade: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        img = rng.integers(0, 60, (64, 96, 3), dtype=np.uint8) + shade
        x, y = rng.uniform(5, 60), rng.uniform(5, 30)
        w, h = rng.uniform(14, 30), rng.uniform(14, 28)
        img[int(y) : int(y + h), int(x) : int(x + w)] = 220
        boxes = np.array([[x, y, x + w, y + h]], np.float32)
        frames.append(Frame(k, img, boxes, np.zeros(1, np.int64), np.ones(1, np.float32), 0.1))
    return frames


@pytest.fixture
def frames():
    return make_frames(12, 0)


def sparse_parser():
    """The `l4` parser with the `sparse` command registered."""
    import argparse

    from tools.sparse import cli

    p = argparse.ArgumentParser(prog="l4")
    cli.register(p.add_subparsers())
    return p
