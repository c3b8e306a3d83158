"""Fixtures of the compression tests: camera frames of one short generated scenario (session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def scenario_bag(tmp_path_factory) -> Path:
    from tools.scenario import make_scenario

    out = tmp_path_factory.mktemp("compress_scenario") / "seed12"
    make_scenario(out, 1.0, 12, traffic="dense", progress=False)
    return out


@pytest.fixture(scope="session")
def camera_frames(scenario_bag: Path) -> list[np.ndarray]:
    """Ten 640x384 BGR camera frames of a dense-traffic drive (held out from training)."""
    from tools.train.data import iter_frames

    return [f.image for f in iter_frames(scenario_bag, 1)]


def compress_cli(argv: list[str]) -> int:
    """`l4 compress ARGV` through the command's own parser and runner."""
    import argparse

    from tools.compress.cli import register, run

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return run(parser.parse_args(["compress", *argv]))
