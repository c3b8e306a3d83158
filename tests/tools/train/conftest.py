"""A tiny scenario bag shared by the training tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_scenario(tmp_path_factory) -> Path:
    from tools.scenario import make_scenario

    out = tmp_path_factory.mktemp("train_scenario") / "seed7"
    make_scenario(out, 1.0, 7, traffic="dense", progress=False)
    return out
