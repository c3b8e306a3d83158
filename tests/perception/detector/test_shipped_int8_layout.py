"""Issue 22: every INT8 detector file the shipped launch files can run is one Q/DQ file that
runs in ONNX Runtime AND builds in TensorRT: it obeys TensorRT's Q/DQ import rules
(stack.engine.trt_qdq), so `backend: auto` on the vehicle gets the same file as replay."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import yaml

from perception.detector.card import load_card
from perception.models import (
    CAMERA_DETECTOR_CARD,
    CAMERA_DETECTOR_REWRITES,
    CAMERA_DETECTOR_VARIANTS,
    SHIPPED_PREFIX,
    model_file,
)
from stack.engine.trt_qdq import check_qdq
from stack.graph import load_graph

ROOT = Path(__file__).resolve().parents[3]
LAUNCH = sorted((ROOT / "launch").glob("*.yaml"))
ARGS = {"bag_dir": "/nonexistent", "map_dir": "/nonexistent"}
QDQ = {"QuantizeLinear", "DequantizeLinear"}


def _card_path(card: str) -> Path:
    if not card:
        return CAMERA_DETECTOR_CARD
    assert card.startswith(SHIPPED_PREFIX), f"{card}: not a shipped card"
    return model_file(card[len(SHIPPED_PREFIX) :])


def detector_cards(launch: Path) -> list[Path]:
    """The detector cards a launch file's CameraDetector nodes can switch to."""
    declared = (yaml.safe_load(launch.read_text()) or {}).get("args") or {}
    graph = load_graph(launch, {k: v for k, v in ARGS.items() if k in declared})
    out = []
    for node in graph.nodes.values():
        params = node.params
        if type(params).__name__ == "CameraDetectorParams":
            out += [_card_path(c) for c in (params.cards or [params.card])]
    return out


def _is_qdq(card: Path) -> bool:
    model = onnx.load(load_card(card).model_path(), load_external_data=False)
    return any(n.op_type in QDQ for n in model.graph.node)


def _reachable() -> list[Path]:
    cards = [c for launch in LAUNCH for c in detector_cards(launch)]
    return list(dict.fromkeys([*cards, *CAMERA_DETECTOR_VARIANTS, *CAMERA_DETECTOR_REWRITES]))


def test_the_launch_files_are_read() -> None:
    names = {p.name for p in LAUNCH}
    assert {"vehicle.yaml", "replay.yaml"} <= names
    assert detector_cards(ROOT / "launch" / "vehicle.yaml")  # at least the default card
    int8 = [c for c in detector_cards(ROOT / "launch" / "replay.yaml") if _is_qdq(c)]
    assert len(int8) == 1  # the degrade order's dense INT8 + fused


@pytest.mark.parametrize("card", [c for c in _reachable() if _is_qdq(c)], ids=lambda c: c.stem)
def test_every_shipped_int8_card_builds_in_tensorrt(card: Path) -> None:
    """Each INT8 card of the degrade order, the detector family and vehicle.yaml passes the
    TensorRT Q/DQ check (on main before this fix, the ONNX Runtime-layout files had 96
    problems each: UINT8 activations and zero points, asymmetric)."""
    problems = check_qdq(onnx.load(load_card(card).model_path()))
    assert problems == [], f"{card}: {[str(p) for p in problems[:3]]}"


def test_no_shipped_onnx_runtime_only_int8_file() -> None:
    """No INT8 file under perception/models is left in ONNX Runtime's UINT8 layout."""
    files = sorted(model_file("").rglob("*.onnx"))
    qdq = [f for f in files if any(n.op_type in QDQ for n in onnx.load(f).graph.node)]
    assert len(qdq) >= 4
    bad = {f.name: len(check_qdq(onnx.load(f))) for f in qdq}
    assert not {k: v for k, v in bad.items() if v}
