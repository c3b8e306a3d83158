"""Shared fixtures: where the shared real-world data lives, and launch files built in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("L4_SHARED_DATA")
    if env:
        return Path(env)
    for candidate in (ROOT.parent / "shared" / "data", Path("/work/shared/data")):
        if candidate.exists():
            return candidate
    return ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.exists():
        pytest.skip(f"shared data not present at {path}")
    return path


@pytest.fixture
def write_launch(tmp_path: Path):
    """Write a launch YAML text into tmp_path and return its path."""

    def write(text: str, name: str = "launch.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
