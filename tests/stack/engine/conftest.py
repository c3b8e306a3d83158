from __future__ import annotations

from pathlib import Path

import pytest

from tests.stack.engine.models import conv_model, mixed_model


@pytest.fixture
def conv_onnx(tmp_path: Path) -> Path:
    return conv_model(tmp_path / "conv.onnx")


@pytest.fixture
def mixed_onnx(tmp_path: Path) -> Path:
    return mixed_model(tmp_path / "mixed.onnx")


@pytest.fixture
def fastestdet(shared_data: Path) -> Path:
    path = shared_data / "onnx" / "fastestdet" / "FastestDet.onnx"
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path
