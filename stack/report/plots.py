"""Figures of the HTML report, drawn with matplotlib's object API (no pyplot global state) and
returned as PNG bytes."""

from __future__ import annotations

import inspect
import io
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from stack.trace.records import event_count

if TYPE_CHECKING:
    from stack.report.analysis import RunAnalysis

MAX_POINTS = 20000  # per series; more only slows drawing
# Matplotlib 3.10 replaced boxplot(vert=False) with orientation="horizontal".
_HORIZONTAL = (
    {"orientation": "horizontal"}
    if "orientation" in inspect.signature(Axes.boxplot).parameters
    else {"vert": False}
)
_EVENT_COLORS = {
    "overwrite": "tab:orange",
    "drop": "tab:red",
    "deadline_miss": "tab:purple",
    "exception": "black",
    "switch": "tab:blue",
}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def _thin(n: int) -> np.ndarray:
    return np.linspace(0, n - 1, min(n, MAX_POINTS)).astype(np.int64) if n else np.zeros(0, int)


def _grid(n: int, width: float = 11.0, row_h: float = 3.0) -> tuple[Figure, list]:
    cols = 2 if n > 1 else 1
    rows = max(1, (n + cols - 1) // cols)
    fig = Figure(figsize=(width, row_h * rows))
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(max(n, 1))]
    return fig, axes


def chain_cdf(a: RunAnalysis) -> bytes:
    """Latency CDF of each chain with its budget and the percentile it is judged at."""
    fig, axes = _grid(len(a.chains))
    for ax, c in zip(axes, a.chains.values()):
        lat = np.sort(c.latency_ms)
        if len(lat):
            idx = _thin(len(lat))
            ax.plot(lat[idx], (idx + 1) / len(lat) * 100, color="tab:blue", lw=1.5)
        ax.axvline(
            c.spec.budget_ms, color="red", ls="--", lw=1, label=f"budget {c.spec.budget_ms:g} ms"
        )
        ax.axhline(c.spec.percentile, color="grey", ls=":", lw=1, label=f"p{c.spec.percentile:g}")
        ax.set_title(f"{c.name}: {c.verdict.value}", color="red" if not c.ok else "black")
        ax.set_xlabel("latency ms")
        ax.set_ylabel("% of outputs")
        ax.set_ylim(0, 101)
        ax.set_xlim(left=0)
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
    return _png(fig)


def chain_timeline(a: RunAnalysis) -> bytes:
    """Latency of each chain output over the run, misses in red."""
    fig, axes = _grid(len(a.chains))
    for ax, c in zip(axes, a.chains.values()):
        t = (c.samples.publish_ns - a.t0_ns) / 1e9
        lat = c.latency_ms
        idx = _thin(len(lat))
        miss = c.miss_mask
        ax.plot(t[idx], lat[idx], ".", ms=2, color="tab:blue", label="output")
        if miss.any():
            ax.plot(t[miss], lat[miss], "x", ms=5, color="red", label=f"miss ({int(miss.sum())})")
        ax.axhline(c.spec.budget_ms, color="red", ls="--", lw=1, label="budget")
        ax.set_title(c.name)
        ax.set_xlabel("run time s")
        ax.set_ylabel("latency ms")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    return _png(fig)


def callback_distribution(a: RunAnalysis) -> bytes:
    """Execution time distribution of every callback (box: quartiles, whiskers: p1..p99)."""
    cbs = [cb for n in a.nodes.values() for cb in n.callbacks.values() if cb.count]
    fig = Figure(figsize=(11, 0.45 * max(len(cbs), 2) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    if cbs:
        # Log scale: callbacks span microseconds (a sink) to tens of ms (a detector).
        data = [np.maximum(cb.durations_ns[_thin(cb.count)] / 1e6, 1e-3) for cb in cbs]
        ax.boxplot(data, whis=(1, 99), showfliers=False, **_HORIZONTAL)
        ax.set_yticks(range(1, len(cbs) + 1), [f"{cb.node} {cb.callback}" for cb in cbs])
        ax.set_xscale("log")
    ax.set_xlabel("execution time ms")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def events_timeline(a: RunAnalysis) -> bytes | None:
    """Drops, overwrites, deadline misses, exceptions and variant switches over time, per node;
    None when there is none."""
    if not a.events:
        return None
    nodes = sorted({e.node for e in a.events})
    fig = Figure(figsize=(11, 0.45 * max(len(nodes), 2) + 1.5))
    ax = fig.add_subplot(1, 1, 1)
    row = {n: i for i, n in enumerate(nodes)}
    kinds = sorted({e.kind for e in a.events})
    for kind in kinds:
        evs = [e for e in a.events if e.kind == kind]
        x = [(e.t_ns - a.t0_ns) / 1e9 for e in evs]
        y = [row[e.node] for e in evs]
        total = sum(event_count(e.detail) for e in evs)
        ax.scatter(
            x,
            y,
            s=60 if kind != "switch" else 30,
            marker="|" if kind != "switch" else "D",
            color=_EVENT_COLORS.get(kind, "tab:gray"),
            label=f"{kind} ({total})",
        )
    ax.set_yticks(range(len(nodes)), nodes)
    ax.set_ylim(-0.5, len(nodes) - 0.5)
    ax.set_xlim(0, max(a.duration_s, 1e-3))
    ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("run time s")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)
