"""Record Jetson telemetry into a run directory while a graph runs.

``telemetry/tegrastats.log``: one tegrastats line per sample, prefixed with when it was read on
the host's monotonic clock (``perf_counter_ns``, the clock of the trace, so the report puts both
on one time axis) and on the wall clock (epoch ns), tab-separated, written as it comes (a
killed run keeps what it had).
``telemetry/power_state.json``: the nvpmodel power mode and whether jetson_clocks pinned the
clocks, with the raw output of ``nvpmodel -q`` and ``jetson_clocks --show`` beside it.
Off a Jetson (no tegrastats) nothing is written and the run says so once.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

TELEMETRY_DIR = "telemetry"
TEGRASTATS_LOG = "tegrastats.log"
POWER_STATE = "power_state.json"


@dataclass(frozen=True)
class PowerState:
    nvpmodel_mode: str | None  # e.g. "MAXN", "MODE_30W_ALL"
    nvpmodel_id: int | None
    clocks_pinned: bool | None  # jetson_clocks: every CPU core and the GPU at MinFreq == MaxFreq
    errors: tuple[str, ...] = ()


def parse_nvpmodel(text: str) -> tuple[str | None, int | None]:
    """``nvpmodel -q``: 'NV Power Mode: MODE_30W_ALL' then the mode id on its own line."""
    mode = re.search(r"NV Power Mode:\s*(\S+)", text)
    ident = re.search(r"^\s*(\d+)\s*$", text, re.M)
    return (mode.group(1) if mode else None), (int(ident.group(1)) if ident else None)


def parse_jetson_clocks(text: str) -> bool | None:
    """``jetson_clocks --show``: pinned when every online CPU and the GPU run MinFreq == MaxFreq."""
    pairs = re.findall(r"^(cpu\d+|GPU)\b.*?MinFreq=(\d+) MaxFreq=(\d+)", text, re.M)
    if not pairs:
        return None
    return all(lo == hi for _name, lo, hi in pairs)


def _run(cmd: list[str]) -> tuple[str, str | None]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"{' '.join(cmd)}: {exc}"
    if proc.returncode != 0:
        return proc.stdout, f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()[:200]}"
    return proc.stdout, None


def record_power_state(out_dir: Path) -> PowerState:
    nvp, nvp_err = _run(["nvpmodel", "-q"])
    clocks, clk_err = _run(["jetson_clocks", "--show"])
    (out_dir / "nvpmodel.txt").write_text(nvp)
    (out_dir / "jetson_clocks.txt").write_text(clocks)
    mode, ident = parse_nvpmodel(nvp)
    state = PowerState(mode, ident, parse_jetson_clocks(clocks),
                       tuple(e for e in (nvp_err, clk_err) if e))  # fmt: skip
    (out_dir / POWER_STATE).write_text(json.dumps(asdict(state), indent=2) + "\n")
    return state


class TegrastatsSampler:
    """``tegrastats --interval MS`` in a child process; a thread stamps and writes its lines."""

    def __init__(self, run_dir: str | Path, interval_ms: int = 100, command: str = "tegrastats"):
        self.out_dir = Path(run_dir) / TELEMETRY_DIR
        self.interval_ms = interval_ms
        self.command = command
        self.lines = 0
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        exe = shutil.which(self.command)
        if exe is None:
            log.info("telemetry: %s not found (not a Jetson): no Jetson telemetry", self.command)
            return False
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = record_power_state(self.out_dir)
        log.info("telemetry: nvpmodel %s, jetson_clocks %s", state.nvpmodel_mode,
                 {True: "on", False: "off", None: "unknown"}[state.clocks_pinned])  # fmt: skip
        self._proc = subprocess.Popen(
            [exe, "--interval", str(self.interval_ms)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
        )  # fmt: skip
        out = open(self.out_dir / TEGRASTATS_LOG, "a", encoding="utf-8")  # noqa: SIM115
        self._thread = threading.Thread(
            target=self._pump, args=(self._proc.stdout, out), name="tegrastats", daemon=True
        )
        self._thread.start()
        return True

    def _pump(self, src: IO[str] | None, out: IO[str]) -> None:
        with out:
            for line in src or ():
                out.write(f"{time.perf_counter_ns()}\t{time.time_ns()}\t{line.rstrip()}\n")
                out.flush()
                self.lines += 1

    def stop(self, timeout_s: float = 2.0) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._thread is not None:
            self._thread.join(timeout_s)
        log.info("telemetry: %d tegrastats samples in %s", self.lines, self.out_dir)
        self._proc = None
