"""`l4 engine fuse-report MODEL`: the DNNFusion-style analysis (stack.engine.fusion_map) as a
table, a JSON file and a picture."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stack.cli.errors import CliError


def add_parser(cmds: argparse._SubParsersAction) -> None:
    p = cmds.add_parser(
        "fuse-report", help="mapping type of each operator, fusion groups, bytes saved (DNNFusion)"
    )
    p.add_argument("model", type=Path)
    p.add_argument("--png", type=Path, metavar="OUT", help="also draw the graph and its groups")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the report as JSON")
    p.set_defaults(func=run_fuse_report)


def run_fuse_report(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from stack.engine.fusion_map import analyse
    from stack.engine.model import read_model

    model = read_model(args.model)  # ModelError names the file
    report = analyse(model.proto, args.model.name)
    console = Console(highlight=False)
    counts = ", ".join(f"{k} {v}" for k, v in report.mapping_counts().items())
    console.print(f"{args.model}: {report.nodes_before} operators ({counts})")
    table = Table(title="fusion groups (green edges of DNNFusion's Table 3)")
    for col in ("#", "mapping", "ops", "saved KiB"):
        table.add_column(col, justify="right" if col in ("#", "saved KiB") else "left")
    for gid, g in enumerate(report.groups):
        ops = " + ".join(report.ops[i][1] for i in g.nodes)
        table.add_row(str(gid), g.mapping.value, ops, f"{g.saved_bytes / 1024:.1f}")
    console.print(table)
    console.print(
        f"kernels {report.nodes_before} -> {report.nodes_after}; intermediates not written: "
        f"{report.saved_bytes / 1024:.1f} KiB; {len(report.candidates)} yellow edges left to "
        "profiling"
        + (
            f"; {len(report.unknown_shapes)} tensors without a static shape"
            if report.unknown_shapes
            else ""
        )
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    if args.png:
        from stack.engine.fusion_plot import draw

        try:
            draw(model.proto, report, args.png)
        except OSError as exc:
            raise CliError(f"--png {args.png}: cannot write: {exc.strerror or exc}") from None
        console.print(f"picture: {args.png}")
    return 0
