"""The demo driving graph (launch/replay.yaml on the demo scenario) as a benchmark workload for
`l4 bench overload` and `l4 bench sim`: replays in fresh processes, and per-chain figures
measured against every sensor frame of the bag.

A frame at a chain's start topic *meets* its budget when some output at the chain's end carries
it in its lineage within the budget; a frame that never does -- late, overwritten in a queue,
dropped as stale, or never fused -- is a *miss*. Frames from the first ``SETTLE_S`` of the drive
are not counted under any policy: the planner holds its first plan until localization has
converged (``localization_warmup_s``), so those frames produce no output by design.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stack.graph import ChainSpec
from tools.bench.spells import Spans, frame_mask, stamps_clear

ROOT = Path(__file__).resolve().parents[2]
DEMO_LAUNCH = ROOT / "launch" / "replay.yaml"
CRITICAL = ("camera_to_control", "lidar_to_control")
SETTLE_S = 3.5


@dataclass(frozen=True)
class ChainFigures:
    name: str
    budget_ms: float
    frames: int  # sensor frames at the chain start after the settle time
    met: int  # of those, frames delivered at the chain end within budget
    p50_ms: float
    p99_ms: float
    outputs: int
    drops: int  # overwrites + stale drops on the chain's subscriptions

    @property
    def miss_rate(self) -> float:
        """Frames not delivered in time over all frames; 1 when no frame came at all (a
        chain whose sensor fell silent has not met anything)."""
        return 1.0 - self.met / self.frames if self.frames else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "budget_ms": self.budget_ms,
            "frames": self.frames,
            "met": self.met,
            "miss_rate": round(self.miss_rate, 5),
            "p50_ms": _r(self.p50_ms),
            "p99_ms": _r(self.p99_ms),
            "outputs": self.outputs,
            "drops": self.drops,
        }


def keep_problem(keep: Path) -> str | None:
    """Why ``keep`` cannot take a benchmark's runs (None: it can: new, or an empty folder)."""
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        return f"--keep {keep}: not an empty folder; the runs need a fresh one"
    return None


@contextlib.contextmanager
def run_folder(keep: Path | None, prefix: str) -> Iterator[Path]:
    """Where a benchmark's replays go: a temporary folder, or ``keep`` (new or empty) to look
    at its runs afterwards (`l4 report`, `l4 sim --profile`)."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield Path(tmp)
        return
    keep = Path(keep)
    problem = keep_problem(keep)
    if problem:
        raise ValueError(problem)
    keep.mkdir(parents=True, exist_ok=True)
    yield keep


def demo_bag(seconds: float) -> Path:
    """The demo scenario (seed, weather and traffic of `l4 demo`), made on first use."""
    from tools.demo.scenario import demo_scenario

    return demo_scenario(seconds=seconds)


def replay(
    bag: Path,
    run_dir: Path,
    *,
    rate: float | None,
    policy: str,
    launch: Path = DEMO_LAUNCH,
    launch_args: Sequence[str] = (),
) -> None:
    """`l4 replay` in a fresh interpreter (no threads or lock state left from another run);
    ``rate`` None replays in lockstep; ``launch_args`` are `NAME:=VALUE` for `--arg`. A run
    folder left by an earlier try is replaced."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    pace = ["--lockstep"] if rate is None else ["--rate", f"{rate:g}"]
    cmd = [
        sys.executable, "-m", "stack.cli", "replay", str(bag), "--launch", str(launch),
        "--run-dir", str(run_dir), *pace, "--policy", policy, "--no-progress",
        *(a for arg in launch_args for a in ("--arg", arg)),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1):  # 1: a chain over budget, which is a result here
        raise RuntimeError(
            f"replay of {bag} ({policy}, {pace}) failed with exit {proc.returncode}:\n"
            f"{proc.stderr[-2000:]}"
        )


def bag_stamps(bag: Path, topics: set[str]) -> dict[str, np.ndarray]:
    """Header stamps (ns) of ``topics`` in the bag, as the replay injected them (read once
    per bag: every run of a benchmark replays the same one)."""
    return _bag_stamps(Path(bag), frozenset(topics))


@functools.lru_cache(maxsize=4)
def _bag_stamps(bag: Path, topics: frozenset[str]) -> dict[str, np.ndarray]:
    from stack.msgs import deserialize, stamp_of
    from stack.replay.bag import Bag

    out: dict[str, list[int]] = {t: [] for t in topics}
    with Bag(bag) as reader:
        for conn, _t, raw in reader.messages(topics):
            out[conn.topic].append(stamp_of(deserialize(raw, conn.msgtype)))
    return {t: np.array(sorted(v), np.int64) for t, v in out.items()}


def analyze_run(run_dir: Path) -> Any:
    """The report's analysis of a run directory (read once, for every figure of it)."""
    from stack.report.analysis import analyze
    from stack.trace import RunDir

    return analyze(RunDir(run_dir))


def chain_figures(a: Any, bag: Path, spans: Spans | None = None) -> dict[str, ChainFigures]:
    """Per chain of the analysed run ``a``: frames, frames met within budget, latency
    percentiles, drops; with ``spans``, of the frames clear of the host's spells only
    (tools.bench.spells)."""
    starts = bag_stamps(bag, {c.spec.start for c in a.chains.values()})
    out = {}
    for name, c in a.chains.items():
        stamps, samples = starts[c.spec.start], c.samples
        if spans is not None:
            clear = frame_mask(samples, spans)
            stamps = stamps[stamps_clear(samples, clear, stamps, spans, c.spec.budget_ms)]
            samples = samples.select(clear)
        out[name] = _figures(c.spec, stamps, samples, c.drops)
    return out


def _figures(spec: ChainSpec, stamps: np.ndarray, samples: Any, drops: int) -> ChainFigures:
    settle = stamps[0] + int(SETTLE_S * 1e9) if len(stamps) else 0
    frames = stamps[stamps >= settle]
    counted = samples.stamp_ns >= settle
    lat = samples.latency_ns[counted] / 1e6
    in_time = samples.stamp_ns[counted][lat <= spec.budget_ms]
    met = int(np.isin(frames, in_time).sum())
    p50, p99 = (float(np.percentile(lat, p)) if len(lat) else float("nan") for p in (50, 99))
    return ChainFigures(spec.name, spec.budget_ms, len(frames), met, p50, p99, len(lat), drops)


def _r(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 3)
