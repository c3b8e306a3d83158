"""Model-alone timing runs a Q/DQ model as the ONNX Runtime CPU backend does (ReLU chains folded),
so a card's latency is the one the node gets."""

from __future__ import annotations

import numpy as np
import onnx

from perception.models import model_file
from tests.stack.engine.test_qdq_relu import _chain_model
from tools.compress.timing import as_cpu_backend_runs, cpu_session


def test_a_foldable_qdq_model_is_timed_folded(tmp_path) -> None:
    path = tmp_path / "chain.onnx"
    onnx.save(_chain_model(), path)
    got = as_cpu_backend_runs(str(path))
    assert isinstance(got, bytes)
    assert "Relu" not in [n.op_type for n in onnx.load_from_string(got).graph.node]
    assert as_cpu_backend_runs(got) == got  # already folded: nothing left to fold
    x = np.full((1, 1, 2, 8), 0.5, np.float32)
    np.testing.assert_array_equal(cpu_session(str(path), 1).run(None, {"x": x})[0], x)


def test_other_models_are_passed_through() -> None:
    dense = str(model_file("camera_detector.onnx"))
    assert as_cpu_backend_runs(dense) == dense  # no Q/DQ
    ort_layout = _chain_model(zp_b=3)  # a chain that would change the numbers: not folded
    raw = ort_layout.SerializeToString()
    assert as_cpu_backend_runs(raw) is raw
