"""`l4 eval` on a scenario bag holding a malformed PointCloud2: skipped and counted, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from stack import msgs
from stack.cli.main import main
from tools.eval.score import Topics, score_run
from tools.scenario import make_scenario

LIDAR = Topics().lidar


def _with_a_short_width(src: Path, dst: Path, index: int) -> int:
    """Copy ``src`` with the ``index``-th lidar cloud's width under-reporting its data."""
    store = msgs.typestore()
    stamp = -1
    with (
        AnyReader([src], default_typestore=store) as reader,
        Writer(dst, version=9, storage_plugin=StoragePlugin.MCAP) as writer,
    ):
        conns = {
            c.topic: writer.add_connection(c.topic, c.msgtype, typestore=store)
            for c in reader.connections
        }
        seen = 0
        for conn, t, raw in reader.messages():
            if conn.topic == LIDAR:
                if seen == index:
                    cloud = store.deserialize_cdr(raw, conn.msgtype)
                    cloud.width = 8
                    raw = store.serialize_cdr(cloud, conn.msgtype)
                    stamp = msgs.stamp_to_ns(cloud.header.stamp)
                seen += 1
            writer.write(conns[conn.topic], t, raw)
    return stamp


@pytest.fixture(scope="module")
def bad_scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("eval")
    make_scenario(root / "clean", 1.0, 11, storage="mcap", progress=False)
    stamp = _with_a_short_width(root / "clean", root / "bad", 3)
    return root / "bad", stamp


def test_a_malformed_cloud_is_skipped_and_counted(bad_scenario: tuple[Path, int]) -> None:
    bag, stamp = bad_scenario
    result = score_run(bag, bag)  # the scenario as its own "outputs": no detections, no matter
    skipped = result["skipped_clouds"]
    assert skipped["count"] == 1
    (first,) = skipped["first"]
    assert first["topic"] == LIDAR and first["stamp_ns"] == stamp
    assert "width 8" in first["reason"] and "row_step" in first["reason"]


def test_l4_eval_prints_scores_instead_of_a_traceback(
    bad_scenario: tuple[Path, int], tmp_path: Path
) -> None:
    bag, _ = bad_scenario
    run_dir = tmp_path / "run"
    (run_dir / "outputs").mkdir(parents=True)
    for item in bag.iterdir():  # the outputs bag: any readable bag will do here
        (run_dir / "outputs" / item.name.replace("bad", "outputs")).write_bytes(item.read_bytes())
    meta = run_dir / "outputs" / "metadata.yaml"
    meta.write_text(meta.read_text().replace("bad.mcap", "outputs.mcap"))
    out = tmp_path / "scores.json"
    assert main(["eval", str(run_dir), "--bag", str(bag), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["skipped_clouds"]["count"] == 1


def test_topics_read_back_in_the_callers_order_and_counts_are_sorted(
    bad_scenario: tuple[Path, int],
) -> None:
    from tools.eval.groundtruth import read_topics

    bag, _ = bad_scenario
    wanted = [Topics().gt_ego, LIDAR, "/not/in/the/bag", Topics().gt_objects]
    for order in (wanted, wanted[::-1]):
        out = read_topics(bag, order)
        assert list(out) == order and out["/not/in/the/bag"] == []
        assert len(out[LIDAR]) == 11 and len(out[Topics().gt_ego]) > 10
    messages = score_run(bag, bag)["messages"]
    assert list(messages) == sorted(messages)
