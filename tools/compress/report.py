"""The compression report of a run: ``report.json`` and ``pareto.png`` (matplotlib).

One point per variant, latency of the model alone (ONNX Runtime, measured in this run) against
held-out accuracy (vehicle AP@0.5 on the day seeds, and mAP), the dense model marked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.compress.output import write_atomic
from tools.compress.variant import VariantResult

HEADLINE = "day"  # the condition the plot and the speedup table use


def _point(v: VariantResult, condition: str) -> tuple[float, float | None, float | None]:
    acc = v.accuracy.get(condition) or next(iter(v.accuracy.values()))
    return v.latency["model_ms"], acc.get("vehicle"), acc.get("map50")


def summary(dense: VariantResult, variants: list[VariantResult]) -> list[dict[str, Any]]:
    """Per variant: speedups over the dense model and the AP lost, in the headline condition."""
    d_ms, d_veh, d_map = _point(dense, HEADLINE)
    rows = []
    for v in variants:
        ms, veh, m = _point(v, HEADLINE)
        rows.append({
            "name": v.name,
            "model_speedup": round(d_ms / ms, 2),
            "pipeline_speedup": round(dense.latency["pipeline_p50_ms"] / v.latency["pipeline_p50_ms"], 2),
            "vehicle_ap50_lost_points": None if veh is None or d_veh is None else round(100 * (d_veh - veh), 2),
            "map50_change_points": None if m is None or d_map is None else round(100 * (m - d_map), 2),
            "gflops": v.stats["gflops"],
        })  # fmt: skip
    return rows


def plot(dense: VariantResult, variants: list[VariantResult], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    points = [_point(v, HEADLINE) for v in variants]
    d_point = _point(dense, HEADLINE)
    for marker, label in ((1, "vehicle AP@0.5"), (2, "mAP@0.5")):
        # a variant without this AP gets no point, and its name must not go to the next one's
        pts = [(v.name, p[0], p[marker]) for v, p in zip(variants, points) if p[marker] is not None]
        line = ax.scatter([p[1] for p in pts], [p[2] for p in pts], label=f"variants: {label}")
        for name, x, y in pts:
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        dx, dy = d_point[0], d_point[marker]
        if dy is not None:
            ax.scatter([dx], [dy], marker="*", s=180, color=line.get_facecolor()[0],
                       edgecolor="black", label=f"dense: {label}")  # fmt: skip
    ax.set_xlabel(f"latency, model alone (ms, ONNX Runtime CPU, {dense.latency['threads']} thread)")
    ax.set_ylabel(f"held-out AP@0.5 ({HEADLINE})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)
    return path


def write_report(
    out_dir: Path, recipe: Any, dense: VariantResult, variants: list[VariantResult], seconds: float
) -> dict[str, Any]:
    report = {
        "recipe": recipe.source,
        "method": recipe.method,
        "seed": recipe.seed,
        "dense": dense.to_dict(),
        "variants": [v.to_dict() for v in variants],
        "summary": summary(dense, variants),
        "summary_note": "latencies measured one model after another during the run; "
        "`l4 bench compress` measures them interleaved (ratios that hold on a shared host)",
        "wall_seconds": round(seconds, 1),
        "plot": "pareto.png",
    }
    write_atomic(out_dir / "report.json", (json.dumps(report, indent=2) + "\n").encode())
    plot(dense, variants, out_dir / "pareto.png")
    return report
