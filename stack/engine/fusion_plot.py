"""The picture of a fusion report: the graph in layers (longest path from the inputs), one dot
per operator coloured by mapping type, edges in grey, each fusion group outlined and numbered.
Drawn with matplotlib's object API (no pyplot state, no graphviz)."""

from __future__ import annotations

from pathlib import Path

import onnx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from stack.engine.fusion_map import FusionReport, Mapping

COLOURS = {
    Mapping.ONE_TO_ONE: "#4daf4a",
    Mapping.ONE_TO_MANY: "#ff7f00",
    Mapping.MANY_TO_MANY: "#e41a1c",
    Mapping.REORGANIZE: "#377eb8",
    Mapping.SHUFFLE: "#984ea3",
}


def _layers(model: onnx.ModelProto) -> list[int]:
    producer = {t: i for i, n in enumerate(model.graph.node) for t in n.output}
    depth: list[int] = []
    for n in model.graph.node:  # nodes are topologically sorted in a valid ONNX graph
        depth.append(1 + max((depth[producer[t]] for t in n.input if t in producer), default=-1))
    return depth


def draw(model: onnx.ModelProto, report: FusionReport, out: Path) -> Path:
    depth = _layers(model)
    rows: dict[int, int] = {}
    pos = []
    for d in depth:
        pos.append((d, rows.get(d, 0)))
        rows[d] = rows.get(d, 0) + 1
    width = max(6.0, 0.35 * (max(depth, default=0) + 1))
    height = max(3.0, 0.45 * max(rows.values(), default=1))
    fig = Figure(figsize=(min(width, 60.0), min(height, 20.0)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    producer = {t: i for i, n in enumerate(model.graph.node) for t in n.output}
    for j, n in enumerate(model.graph.node):
        for t in n.input:
            if t in producer:
                (x0, y0), (x1, y1) = pos[producer[t]], pos[j]
                ax.plot([x0, x1], [-y0, -y1], color="0.8", lw=0.6, zorder=1)
    for kind, colour in COLOURS.items():
        pts = [pos[i] for i, (_, _, k) in enumerate(report.ops) if k is kind]
        if pts:
            ax.scatter([p[0] for p in pts], [-p[1] for p in pts], s=28, color=colour,
                       label=kind.value, zorder=3)  # fmt: skip
    for gid, g in enumerate(report.groups):
        xs = [pos[i][0] for i in g.nodes]
        ys = [-pos[i][1] for i in g.nodes]
        ax.add_patch(Rectangle((min(xs) - 0.35, min(ys) - 0.35), max(xs) - min(xs) + 0.7,
                               max(ys) - min(ys) + 0.7, fill=False, lw=1.0, ec="0.2", zorder=2))  # fmt: skip
        ax.text(min(xs) - 0.3, max(ys) + 0.4, str(gid), fontsize=6, zorder=4)
    ax.set_title(
        f"{report.model}: {report.nodes_before} -> {report.nodes_after} kernels, "
        f"{len(report.groups)} fusion groups, {report.saved_bytes / 1024:.0f} KiB intermediates saved",
        fontsize=9,
    )
    ax.set_xlabel("layer (longest path from the inputs)")
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
