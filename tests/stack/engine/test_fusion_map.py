"""DNNFusion-style analysis: mapping types, the legality table, groups, bytes, `l4 engine fuse-report`."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from stack.engine.fusion_map import Mapping, Verdict, analyse, mapping_of, verdict


def test_mapping_types_and_the_legality_table():
    assert mapping_of("Relu") is Mapping.ONE_TO_ONE and mapping_of("Conv") is Mapping.MANY_TO_MANY
    assert (
        mapping_of("Resize") is Mapping.ONE_TO_MANY and mapping_of("Reshape") is Mapping.REORGANIZE
    )
    assert mapping_of("Transpose") is Mapping.SHUFFLE
    assert mapping_of("MyCustomOp") is Mapping.MANY_TO_MANY  # unknown: the safe side
    assert verdict(Mapping.MANY_TO_MANY, Mapping.ONE_TO_ONE) == (
        Verdict.GREEN,
        Mapping.MANY_TO_MANY,
    )
    assert verdict(Mapping.ONE_TO_ONE, Mapping.SHUFFLE) == (Verdict.GREEN, Mapping.SHUFFLE)
    assert verdict(Mapping.REORGANIZE, Mapping.SHUFFLE) == (Verdict.GREEN, Mapping.SHUFFLE)
    assert verdict(Mapping.MANY_TO_MANY, Mapping.MANY_TO_MANY)[0] is Verdict.RED
    assert verdict(Mapping.ONE_TO_MANY, Mapping.MANY_TO_MANY) == (
        Verdict.YELLOW,
        Mapping.MANY_TO_MANY,
    )
    assert verdict(Mapping.SHUFFLE, Mapping.ONE_TO_MANY)[0] is Verdict.YELLOW


def _chain_model(branch: bool = False) -> onnx.ModelProto:
    """x -> Conv -> Relu -> Conv -> Relu -> Resize -> y  (with ``branch``, the first Relu's
    output is also a graph output, so it must be written and cannot be fused away)."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(size=(4, 4, 3, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1] * 4, name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1] * 4, name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Resize", ["r2", "", "scales"], ["y"], mode="nearest", name="up"),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])]
    if branch:
        outputs.append(helper.make_tensor_value_info("r1", TensorProto.FLOAT, [1, 4, 8, 8]))
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        outputs, inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_groups_follow_green_edges_and_count_the_bytes():
    report = analyse(_chain_model(), "chain")
    groups = [[report.ops[i][0] for i in g.nodes] for g in report.groups]
    assert groups == [["conv1", "relu1"], ["conv2", "relu2"]]  # Conv+Conv is red; Relu->Resize...
    # ...is green, but conv2's group is many-to-many and Resize is one-to-many: yellow, profiled.
    assert report.nodes_before == 5 and report.nodes_after == 3
    assert report.saved_bytes == 2 * 4 * 8 * 8 * 4  # c1 and c2, float32 [1, 4, 8, 8]
    assert [(report.ops[a][0], report.ops[b][0]) for a, b in report.candidates] == [("relu2", "up")]
    assert report.mapping_counts() == {"many-to-many": 2, "one-to-one": 2, "one-to-many": 1}


def test_a_tensor_read_outside_the_group_is_not_fused_away():
    report = analyse(_chain_model(branch=True), "chain")
    groups = [[report.ops[i][0] for i in g.nodes] for g in report.groups]
    assert ["conv1", "relu1"] in groups  # c1 stays internal
    assert not any("relu1" in g and "conv2" in g for g in groups)
    assert report.to_dict()["intermediate_bytes_saved"] == report.saved_bytes


def test_fuse_report_command(tmp_path, capsys):
    from stack.cli.main import main

    path = tmp_path / "chain.onnx"
    onnx.save(_chain_model(), path)
    code = main(["engine", "fuse-report", str(path), "--json", str(tmp_path / "r.json"),
                 "--png", str(tmp_path / "r.png")])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "Conv + Relu" in out and "kernels 5 -> 3" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["nodes_after"] == 3 and data["groups"][0]["ops"] == ["Conv", "Relu"]
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_fuse_report_names_a_bad_model(tmp_path, capsys):
    from stack.cli.main import main

    (tmp_path / "bad.onnx").write_bytes(b"junk")
    assert main(["engine", "fuse-report", str(tmp_path / "bad.onnx")]) == 2
    assert "bad.onnx" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["camera_detector.onnx"])
def test_shipped_detector_groups(name):
    from perception.models import model_file

    report = analyse(onnx.load(model_file(name)), name)
    assert report.nodes_after < report.nodes_before and report.saved_bytes > 0
    assert all(report.ops[g.nodes[0]][1] == "Conv" for g in report.groups)


def test_fastestdet_groups_from_its_real_file(shared_data):
    path = shared_data / "onnx" / "fastestdet" / "FastestDet.onnx"
    if not path.exists():
        pytest.skip(f"{path} not present")
    report = analyse(onnx.load(path), path.name)
    kinds = {tuple(report.ops[n][1] for n in g.nodes) for g in report.groups}
    # Its channel shuffles and its Conv + Relu + Concat blocks are groups; fewer kernels after.
    assert ("Reshape", "Transpose", "Reshape") in kinds
    assert ("Conv", "Relu", "Concat") in kinds
    assert report.nodes_after < report.nodes_before and report.saved_bytes > 0
