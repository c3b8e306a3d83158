"""Replay progress on the terminal: bag time, achieved rate, messages and drops (rich)."""

from __future__ import annotations

import time
from typing import Protocol

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from stack.console import make_console

REFRESH_S = 0.25


class ProgressView(Protocol):
    def __enter__(self) -> ProgressView: ...

    def __exit__(self, *exc: object) -> None: ...

    def update(self, bag_ns: int, messages: int, drops: int, *, force: bool = False) -> None: ...


class NoProgress:
    """For --no-progress and benchmarks."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, bag_ns: int, messages: int, drops: int, *, force: bool = False) -> None:
        pass


class RichProgress:
    """A progress bar over the replayed time window, refreshed at most every REFRESH_S."""

    def __init__(self, start_ns: int, end_ns: int) -> None:
        self.start_ns = start_ns
        self.span_s = max(1e-9, (end_ns - start_ns) / 1e9)
        self._progress = Progress(
            TextColumn("[bold]replay"),
            BarColumn(),
            TextColumn("bag {task.completed:7.2f}/{task.total:.2f} s"),
            TextColumn("x{task.fields[rate]:.2f}"),
            TextColumn("{task.fields[messages]} msgs"),
            TextColumn("{task.fields[drops]} drops"),
            TimeElapsedColumn(),
            console=make_console(stderr=True),
            refresh_per_second=4,
        )
        self._task = self._progress.add_task(
            "replay", total=self.span_s, rate=0.0, messages=0, drops=0
        )
        self._wall0 = 0.0
        self._last = 0.0

    def __enter__(self) -> RichProgress:
        self._progress.start()
        self._wall0 = self._last = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, bag_ns: int, messages: int, drops: int, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < REFRESH_S:
            return
        self._last = now
        done_s = (bag_ns - self.start_ns) / 1e9
        wall = now - self._wall0
        self._progress.update(
            self._task,
            completed=min(done_s, self.span_s),
            rate=done_s / wall if wall > 0 else 0.0,
            messages=messages,
            drops=drops,
        )
