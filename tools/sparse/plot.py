"""A figure of the accuracy matrices of a continual benchmark (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_matrices(methods: dict[str, dict], path: Path) -> Path:
    """One heat map per method (one colour scale for all): rows = after task i, columns =
    held-out domain j."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max([0.01] + [float(np.nanmax(np.asarray(r["matrix"], float))) for r in methods.values()])
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.2), squeeze=False)
    for ax, (name, res) in zip(axes[0], methods.items()):
        m = np.asarray(res["matrix"], float)
        dom = res["domains"]
        ax.imshow(m, vmin=0, vmax=top, cmap="viridis")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w", fontsize=8)
        ax.set_xticks(range(len(dom)), dom)
        ax.set_yticks(range(len(dom)), [f"after {d}" for d in dom])
        ax.set_title(
            f"{name}: avg {res['average_ap']:.3f}, fgt {res['forgetting']:.3f}", fontsize=9
        )
    fig.suptitle("vehicle AP@0.5 on held-out drives")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
