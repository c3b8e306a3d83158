"""A recording whose writer was killed or whose disk filled: read back, and completed by reindex."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader

from stack import msgs
from stack.cli.main import main
from stack.replay import Bag, ReplayError
from stack.replay import mcap as mcap_module
from stack.replay.mcap import McapWriteError, Rosbag2McapWriter
from stack.replay.mcapformat import MESSAGE_INDEX
from stack.replay.recover import RecoveredMcapReader, RecoveryError, is_finished, scan
from stack.replay.reindex import reindex

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND


def _connection(writer: Rosbag2McapWriter, topic: str, msgtype: str) -> int:
    store = msgs.typestore()
    msgdef, _ = store.generate_msgdef(msgtype, ros_version=2)
    return writer.add_connection(topic, msgtype, msgdef, store.hash_rihs01(msgtype))


def _write(writer: Rosbag2McapWriter, n: int, step_ns: int = 50_000_000) -> list[tuple]:
    """n messages on two topics, ``step_ns`` apart; returns (topic, time, bytes) as written."""
    text = _connection(writer, "/text", "std_msgs/msg/String")
    flag = _connection(writer, "/flag", "std_msgs/msg/Bool")
    writer.write_metadata()
    written = []
    for i in range(n):
        if i % 3:
            cid, topic, msg = text, "/text", msgs.new("std_msgs/msg/String", data="x" * i)
        else:
            cid, topic, msg = flag, "/flag", msgs.new("std_msgs/msg/Bool", data=bool(i % 2))
        data = msgs.serialize(msg)
        writer.write(cid, T0 + step_ns * i, data)
        written.append((topic, T0 + step_ns * i, bytes(data)))
    return written


def _finished_bag(tmp_path: Path, n: int = 120) -> tuple[Path, list[tuple]]:
    writer = Rosbag2McapWriter(tmp_path / "out")
    written = _write(writer, n)  # 6 s of log time: 6 or 7 chunks
    writer.close()
    return tmp_path / "out", written


def _anyreader(path: Path) -> list[tuple]:
    with AnyReader([path], default_typestore=msgs.typestore()) as reader:
        return [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]


def _scanned(file: Path) -> int:
    """Messages a scan finds so far; 0 while the writer thread has not written the magic yet."""
    try:
        return scan(file).message_count
    except RecoveryError:
        return 0


def test_chunks_close_every_second_of_log_time_and_reach_the_disk_at_once(tmp_path: Path) -> None:
    writer = Rosbag2McapWriter(tmp_path / "out")  # the 4 MiB cap is far away
    meta = (tmp_path / "out" / "metadata.yaml").read_text()
    assert "message_count: 0" in meta  # written at the start, as rosbag2 does
    written = _write(writer, 30)  # 0 .. 1.45 s: the first chunk closed at 1.0 s
    file = tmp_path / "out" / "out.mcap"
    deadline = time.monotonic() + 10
    while _scanned(file) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the writer thread hands the chunk to the OS on its own time
    found = scan(file)
    assert not found.finished and len(found.chunks) == 1
    assert found.message_count == 21  # 0 .. 1.0 s inclusive, before close()
    assert "/text" in (tmp_path / "out" / "metadata.yaml").read_text()  # topics, no counts yet
    writer.close()
    assert is_finished(file) and _anyreader(tmp_path / "out") == written


@pytest.mark.parametrize("keep", [0.99, 0.7, 0.45, 0.2])
def test_a_cut_file_gives_a_prefix_and_reindex_makes_it_whole(tmp_path: Path, keep: float) -> None:
    out, written = _finished_bag(tmp_path)
    file = out / "out.mcap"
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * keep)])
    assert not is_finished(file)
    with pytest.raises(Exception):  # noqa: B017 - rosbags refuses it, whatever the exception
        _anyreader(out)
    reader = RecoveredMcapReader(file)
    reader.open()
    got = [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages(reader.connections)]
    reader.close()
    assert got and got == written[: len(got)]  # every whole chunk, in time order
    with Bag(out) as bag:
        assert bag.unfinished and bag.message_count == len(got)
        assert any("unfinished recording" in w and "l4 bag reindex" in w for w in bag.warnings)
        assert [(c.topic, t, bytes(r)) for c, t, r in bag.messages()] == got
    result = reindex(out)
    assert result.messages == len(got) and not result.files[0].was_finished
    assert is_finished(file)
    assert _anyreader(out) == got  # rosbags' own reader, from metadata.yaml and the summary
    with Reader(out) as plain:
        assert plain.message_count == len(got)
    with Bag(out) as bag:
        assert not bag.unfinished and not bag.warnings


def test_reindex_leaves_a_finished_file_alone_and_rewrites_metadata(tmp_path: Path) -> None:
    out, _ = _finished_bag(tmp_path, 40)
    before = (out / "out.mcap").read_bytes()
    (out / "metadata.yaml").unlink()
    result = reindex(out)
    assert result.files[0].was_finished and result.messages == 40
    assert (out / "out.mcap").read_bytes() == before
    with Reader(out) as plain:
        assert plain.message_count == 40
        assert plain.topics["/text"].msgtype == "std_msgs/msg/String"


def test_bag_info_and_reindex_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, written = _finished_bag(tmp_path)
    file = out / "out.mcap"
    file.write_bytes(file.read_bytes()[: int(file.stat().st_size * 0.6)])
    assert main(["bag", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "unfinished" in text and "l4 bag reindex" in text
    assert main(["bag", "info", "--json", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["unfinished"] and 0 < info["messages"] < len(written)
    assert main(["bag", "reindex", str(out)]) == 0
    assert "completed" in capsys.readouterr().out
    assert main(["bag", "info", "--json", str(out)]) == 0
    after = json.loads(capsys.readouterr().out)
    assert not after["unfinished"] and after["messages"] == info["messages"]
    assert main(["bag", "reindex", str(tmp_path / "absent")]) == 2
    assert "absent: no such file or directory" in capsys.readouterr().err


def _fail_after_first_chunk(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """os.writev of the writer thread: ENOSPC once one whole chunk and its index are out."""
    real, state = os.writev, {"indexed": False}
    calls: list[int] = []

    def writev(fd: int, buffers: list) -> int:
        calls.append(len(buffers))
        if state["indexed"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        state["indexed"] = bytes(buffers[0][:1]) == bytes([MESSAGE_INDEX])
        return real(fd, buffers)

    monkeypatch.setattr(mcap_module.os, "writev", writev)
    return calls


def test_a_full_disk_stops_writing_with_one_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_after_first_chunk(monkeypatch)
    writer = Rosbag2McapWriter(tmp_path / "out")
    with pytest.raises(McapWriteError) as err:
        _write(writer, 200)
        time.sleep(0.2)  # the writer thread reports at the next write or close
        writer.close()
    text = str(err.value)
    assert str(tmp_path / "out" / "out.mcap") in text and "No space left on device" in text
    with pytest.raises(McapWriteError):  # close still reports it, and is safe to call
        writer.close()
    with Bag(tmp_path / "out") as bag:  # what reached the disk stays readable
        assert bag.unfinished and bag.message_count == 21


def test_replay_on_a_full_disk_exits_2_and_leaves_a_readable_bag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from tests.stack.replay.conftest import SENSOR_LAUNCH, small_bag

    bag = small_bag(tmp_path / "bag", seconds=3.0)
    launch = tmp_path / "l.yaml"
    launch.write_text(SENSOR_LAUNCH)
    _fail_after_first_chunk(monkeypatch)
    run_dir = tmp_path / "run"
    argv = ["replay", str(bag), "--launch", str(launch), "--lockstep", "--no-progress"]
    assert main([*argv, "--run-dir", str(run_dir)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert f"{run_dir / 'outputs' / 'outputs.mcap'}: write failed: No space left" in captured.err
    assert "l4 bag reindex" in captured.err
    assert (run_dir / "run.json").exists()  # the run went on to its end
    assert json.loads((run_dir / "replay.json").read_text())["injected"] > 300
    with Bag(run_dir / "outputs") as out:
        assert out.unfinished and out.message_count > 0
    monkeypatch.undo()
    assert reindex(run_dir / "outputs").messages == out.message_count


def test_nothing_recoverable_is_an_error_naming_the_file(tmp_path: Path) -> None:
    out, _ = _finished_bag(tmp_path)
    file = out / "out.mcap"
    file.write_bytes(file.read_bytes()[:300])  # header, schemas, channels; no chunk
    with pytest.raises(
        ReplayError, match=r"out: no message could be recovered; the file is truncated"
    ):
        Bag(out).open()
    assert reindex(out).messages == 0  # still completes the file (an empty bag)
    with Reader(out) as plain:
        assert plain.message_count == 0 and {c.topic for c in plain.connections} == {
            "/text",
            "/flag",
        }
