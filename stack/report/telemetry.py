"""Jetson telemetry in the report: GPU and CPU load, temperatures and power beside the chain
latencies (terminal rows, JSON, one HTML figure on the chains' time axis).

Reads what stack.telemetry.sampler wrote into the run directory; a run without it (not a
Jetson, or no --telemetry) has no telemetry section.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stack.telemetry.sampler import POWER_STATE, TEGRASTATS_LOG, TELEMETRY_DIR
from stack.telemetry.tegrastats import TegraSample, TelemetryError, parse_line


@dataclass
class Telemetry:
    samples: list[TegraSample]
    bad_lines: int
    power_state: dict[str, Any]

    @property
    def t_ns(self) -> np.ndarray:
        return np.array([s.t_ns for s in self.samples], np.int64)

    def series(self, name: str) -> np.ndarray:
        """gpu_load, cpu_load (mean of online cores), max_temp: one value per sample, nan
        where the line lacked it."""
        get = {
            "gpu_load": lambda s: s.gpu_load,
            "cpu_load": lambda s: s.cpu_mean_load,
            "max_temp": lambda s: s.max_temp_c,
        }[name]
        return np.array([np.nan if get(s) is None else get(s) for s in self.samples], float)

    def temps(self) -> dict[str, np.ndarray]:
        names = sorted({k for s in self.samples for k in s.temps_c})
        return {n: np.array([s.temps_c.get(n, np.nan) for s in self.samples]) for n in names}

    def rails(self) -> dict[str, np.ndarray]:
        """Instantaneous power per rail, mW."""
        names = sorted({k for s in self.samples for k in s.power_mw})
        return {
            n: np.array([s.power_mw[n][0] if n in s.power_mw else np.nan for s in self.samples])
            for n in names
        }


def load_telemetry(run_dir: str | Path) -> Telemetry | None:
    folder = Path(run_dir) / TELEMETRY_DIR
    log_file = folder / TEGRASTATS_LOG
    if not log_file.exists():
        return None
    samples, bad = [], 0
    for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split("\t", 2)  # monotonic ns, wall ns, the tegrastats line
        try:
            samples.append(parse_line(fields[-1], int(fields[0])))
        except (TelemetryError, ValueError, IndexError):
            bad += 1  # a torn last line of a killed run, or a foreign line
    state_file = folder / POWER_STATE
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    return Telemetry(samples, bad, state)


def _stats(x: np.ndarray) -> dict[str, float | None]:
    x = x[np.isfinite(x)]
    if not len(x):
        return {"mean": None, "p95": None, "max": None}
    return {k: round(float(v), 2) for k, v in
            (("mean", x.mean()), ("p95", np.percentile(x, 95)), ("max", x.max()))}  # fmt: skip


def telemetry_json(tel: Telemetry, t0_ns: int | None = None) -> dict[str, Any]:
    """Summary statistics; with ``t0_ns`` (the run's start on the trace's clock) also when the
    samples start and end on the run's time axis."""
    span = None
    if t0_ns is not None and tel.samples:
        span = [round((tel.samples[0].t_ns - t0_ns) / 1e9, 3),
                round((tel.samples[-1].t_ns - t0_ns) / 1e9, 3)]  # fmt: skip
    return {
        "samples": len(tel.samples),
        "span_s": span,
        "bad_lines": tel.bad_lines,
        "power_state": tel.power_state,
        "gpu_load_pct": _stats(tel.series("gpu_load")),
        "cpu_load_pct": _stats(tel.series("cpu_load")),
        "temps_c": {n: _stats(v) for n, v in tel.temps().items()},
        "power_mw": {n: _stats(v) for n, v in tel.rails().items()},
    }


def summary_rows(tel: Telemetry) -> list[tuple[str, str]]:
    """(what, value) rows for the terminal report."""
    doc = telemetry_json(tel)
    state = tel.power_state
    pinned = {True: "on", False: "off"}.get(state.get("clocks_pinned"), "unknown")

    def fmt(st: dict, unit: str) -> str:
        if st["mean"] is None:
            return "n/a"
        return f"mean {st['mean']:.0f}{unit}, p95 {st['p95']:.0f}{unit}, max {st['max']:.0f}{unit}"

    rows = [
        ("power mode", f"{state.get('nvpmodel_mode') or 'unknown'}, jetson_clocks {pinned}"),
        ("GPU load", fmt(doc["gpu_load_pct"], " %")),
        ("CPU load", fmt(doc["cpu_load_pct"], " %")),
    ]
    hottest = max(doc["temps_c"].items(), key=lambda kv: kv[1]["max"] or -1e9, default=None)
    if hottest is not None:
        rows.append((f"hottest ({hottest[0]})", fmt(hottest[1], " C")))
    rows += [(f"power {n}", fmt(st, " mW")) for n, st in doc["power_mw"].items()]
    rows.append(
        (
            "samples",
            f"{len(tel.samples)}" + (f" ({tel.bad_lines} unreadable)" if tel.bad_lines else ""),
        )
    )
    return rows


def telemetry_figure(tel: Telemetry, t0_ns: int, chain_series: dict[str, tuple]) -> bytes:
    """One figure, shared time axis: chain latencies, GPU/CPU load, temperatures, power rails.
    ``chain_series``: chain -> (publish_ns array, latency_ms array)."""
    from matplotlib.figure import Figure

    from stack.report.plots import _png

    t = (tel.t_ns - t0_ns) / 1e9
    fig = Figure(figsize=(11, 10))
    axes = fig.subplots(4, 1, sharex=True)
    for name, (pub_ns, lat_ms) in chain_series.items():
        axes[0].plot((pub_ns - t0_ns) / 1e9, lat_ms, ".", ms=2, label=name)
    axes[0].set_ylabel("chain latency ms")
    axes[1].plot(t, tel.series("gpu_load"), label="GPU (GR3D)", color="tab:green")
    axes[1].plot(t, tel.series("cpu_load"), label="CPU (mean of online cores)", color="tab:blue")
    axes[1].set_ylabel("load %")
    axes[1].set_ylim(0, 100)
    for name, v in tel.temps().items():
        axes[2].plot(t, v, lw=1, label=name)
    axes[2].set_ylabel("temperature C")
    for name, v in tel.rails().items():
        axes[3].plot(t, v, lw=1, label=name)
    axes[3].set_ylabel("power mW")
    axes[3].set_xlabel("run time s")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize=7, ncol=3)
        ax.grid(alpha=0.3)
    return _png(fig)
