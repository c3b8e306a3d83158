"""TraceWriter: background flush to the run directory, and the trace file read back."""

from __future__ import annotations

import pickle
import struct
import time

import pytest

from stack.trace import TraceError, TraceWriter, read_trace
from stack.trace.fileformat import MAGIC, encode_frame


def rec(i: int) -> tuple:
    origins = {"/in": (i * 10, i * 100)}
    return (
        "n",
        "sub:/in",
        "exec-0",
        1,
        i,
        i + 5,
        (("/in", i),),
        (("/out", i + 4, origins),),
        "",
        (),
    )


def test_records_round_trip_across_many_frames(tmp_path):
    w = TraceWriter(tmp_path, chunk=100, interval_s=0.01)
    for i in range(1050):
        w.record(rec(i))
    w.close()
    t = read_trace(w.path)
    assert t.records == [rec(i) for i in range(1050)]
    assert t.frames == 11 and not t.truncated
    assert t.header["fields"][0] == "node"
    assert w.stats()["records"] == 1050 and w.stats()["lost"] == 0


def test_background_thread_flushes_before_close(tmp_path):
    w = TraceWriter(tmp_path, interval_s=0.005)
    w.record(rec(1))
    for _ in range(1000):  # the writer thread, not close(), must take it
        if w.written:
            break
        time.sleep(0.005)
    assert w.written == 1 and len(w.pending) == 0
    w.close()
    w.close()  # idempotent
    assert read_trace(w.path).records == [rec(1)]


def test_cut_off_trace_keeps_the_whole_frames(tmp_path):
    w = TraceWriter(tmp_path, chunk=10)
    for i in range(25):
        w.record(rec(i))
    w.close()
    data = w.path.read_bytes()
    w.path.write_bytes(data[:-7])  # the last frame (5 records) loses its tail
    t = read_trace(w.path)
    assert t.truncated and t.records == [rec(i) for i in range(20)]


def test_bad_magic_is_rejected(tmp_path):
    path = tmp_path / "trace.l4t"
    path.write_bytes(b"NOTATRACE" + b"\0" * 20)
    with pytest.raises(TraceError, match="bad magic"):
        read_trace(path)


def test_missing_trace_names_the_file(tmp_path):
    with pytest.raises(TraceError, match=r"nope\.l4t"):
        read_trace(tmp_path / "nope.l4t")


def test_frames_naming_classes_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "trace.l4t"
    header = encode_frame({"version": 1, "fields": []})
    data = pickle.dumps([Evil()], 5)
    path.write_bytes(MAGIC + header + struct.pack("<I", len(data)) + data)
    with pytest.raises(TraceError, match="builtins only"):
        read_trace(path)


def test_corrupt_frame_length_is_an_error(tmp_path):
    path = tmp_path / "trace.l4t"
    header = encode_frame({"version": 1, "fields": []})
    path.write_bytes(MAGIC + header + struct.pack("<I", 0xFFFFFFFF) + b"x")
    with pytest.raises(TraceError, match="corrupt frame length"):
        read_trace(path)


def test_run_dir_that_is_a_file_is_an_error(tmp_path):
    blocker = tmp_path / "run"
    blocker.write_text("")
    with pytest.raises(TraceError, match="cannot create trace file"):
        TraceWriter(blocker)


def test_write_error_counts_lost_records(tmp_path):
    w = TraceWriter(tmp_path, interval_s=10)

    class Full:
        def write(self, data):
            raise OSError(28, "No space left on device")

        def fileno(self):
            raise OSError(9, "bad")

        def close(self):
            pass

    w._fd.close()
    w._fd = Full()
    for i in range(5):
        w.record(rec(i))
    w.close()
    assert w.lost == 5 and w.written == 0
    assert "No space" in w.stats()["error"]
