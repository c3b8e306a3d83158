"""TraceWriter: a Tracer whose records a background thread flushes to the run directory.

The calling thread only appends a tuple to a deque (thread-safe, no lock, no I/O). The writer
thread wakes every ``interval_s``, takes at most ``chunk`` records at a time, pickles them and
writes one frame with an unbuffered ``write`` (which releases the GIL). The chunk bounds how
long the writer holds the GIL in one go, and so the longest stall it can add to a callback.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from stack.trace.errors import TraceError
from stack.trace.fileformat import FORMAT_VERSION, encode_frame, write_header
from stack.trace.records import CallbackRecord, Tracer

log = logging.getLogger(__name__)
TRACE_FILE = "trace.l4t"
DEFAULT_CHUNK = 256
# Flushing every 5 ms keeps records young: freed before the collector's older generations see
# them, so tracing does not bring on full collections (at 20 ms, a 30k records/s run had one
# every few seconds; at 5 ms, none). A wake-up with nothing pending costs a few microseconds.
DEFAULT_INTERVAL_S = 0.005


def trace_header() -> dict[str, Any]:
    """Facts a reader needs: format, field names, and the monotonic-to-wall clock mapping."""
    return {
        "version": FORMAT_VERSION,
        "fields": list(CallbackRecord._fields),
        "mono_ns": time.perf_counter_ns(),
        "wall_ns": time.time_ns(),
        "pid": os.getpid(),
        "python": sys.version.split()[0],
    }


class TraceWriter(Tracer):
    """Records go to ``run_dir/trace.l4t`` from a background thread; call ``close()`` at the end.

    ``header`` adds facts to the trace header (``stack.trace.rundir.trace_writer`` puts the
    run's static facts there, so that a run killed before writing run.json can be reported).

    ``l4 launch`` and ``l4 replay`` create one before building the Runtime and pass it as its
    tracer; ``Runtime.shutdown`` closes it. A write error (disk full) is logged once; records
    after it are counted in ``lost`` and the run goes on.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        chunk: int = DEFAULT_CHUNK,
        interval_s: float = DEFAULT_INTERVAL_S,
        enabled: bool = True,
        header: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(enabled)
        self._header = {**trace_header(), **(header or {})}  # builtins only (see fileformat)
        if chunk < 1:
            raise TraceError(f"TraceWriter chunk must be >= 1, got {chunk}")
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / TRACE_FILE
        self.chunk = chunk
        self.interval_s = interval_s
        self.written = 0
        self.frames = 0
        self.bytes = 0
        self.lost = 0
        self.max_backlog = 0
        self.max_encode_cpu_ns = 0
        self.error: OSError | None = None
        self.closed = False
        self._fd = self._open()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one flusher at a time (thread vs close)
        self._thread = threading.Thread(target=self._loop, name="trace-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _open(self) -> Any:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            f = self.path.open("wb", buffering=0)
        except OSError as exc:
            raise TraceError(f"{self.path}: cannot create trace file: {exc.strerror}") from exc
        try:
            write_header(f, self._header)
        except OSError as exc:
            f.close()
            raise TraceError(f"{self.path}: cannot write trace header: {exc.strerror}") from exc
        return f

    # ---- Tracer API --------------------------------------------------------------------------
    def _new_buffer(self) -> deque[tuple]:
        # deque.append and popleft are atomic, so callbacks never wait on the writer's lock.
        return deque()

    @property
    def pending(self) -> deque[tuple]:
        """Records not yet flushed (the rest are on disk)."""
        return self.records

    def drain(self) -> list[tuple]:
        pending = self.records
        return [pending.popleft() for _ in range(len(pending))]

    def __len__(self) -> int:
        return self.written + len(self.pending)

    # ---- background flushing -----------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def flush(self) -> int:
        """Write what is pending, ``chunk`` records per frame. Returns the records written."""
        with self._lock:
            pending = self.pending
            backlog = len(pending)
            if backlog > self.max_backlog:
                self.max_backlog = backlog
            done = 0
            while pending and self._fd is not None:
                pop = pending.popleft
                batch = [pop() for _ in range(min(len(pending), self.chunk))]
                done += self._write(batch)
            return done

    def _write(self, batch: list[tuple]) -> int:
        if self.error is not None:
            self.lost += len(batch)
            return 0
        try:
            cpu0 = time.thread_time_ns()
            frame = encode_frame(batch)  # holds the GIL: the longest a callback can wait on us
            cpu = time.thread_time_ns() - cpu0
            if cpu > self.max_encode_cpu_ns:
                self.max_encode_cpu_ns = cpu
            self._fd.write(frame)  # releases the GIL
        except OSError as exc:
            self.error = exc
            self.lost += len(batch)
            log.error("%s: trace write failed, later records are lost: %s", self.path, exc)
            return 0
        self.written += len(batch)
        self.frames += 1
        self.bytes += len(frame)
        return len(batch)

    def close(self) -> None:
        """Stop the writer thread, write everything still pending and close the file."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self.close)
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                with contextlib.suppress(OSError):  # not every filesystem syncs (FUSE, pipes)
                    os.fsync(fd.fileno())
                fd.close()
        if self.lost:
            log.error("%s: %d trace records lost (%s)", self.path, self.lost, self.error)

    def stats(self) -> dict[str, Any]:
        return {
            "file": TRACE_FILE,
            "records": self.written,
            "frames": self.frames,
            "bytes": self.bytes,
            "lost": self.lost,
            "max_backlog": self.max_backlog,
            "max_chunk_encode_ms": round(self.max_encode_cpu_ns / 1e6, 3),
            "error": str(self.error) if self.error else None,
        }
