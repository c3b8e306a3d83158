"""`l4 report RUN_DIR`: latency against budgets; exit 1 when a chain misses its budget."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stack.report.analysis import RunAnalysis


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="latency budget report of a run directory (exit 1 when a budget is violated)",
    )
    p.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="run directory of l4 launch/replay"
    )
    p.add_argument("--json", type=Path, metavar="F", help="write the report as JSON")
    p.add_argument("--html", type=Path, metavar="F", help="write a self-contained HTML report")
    p.add_argument("--perfetto", type=Path, metavar="F", help="write a Chrome/Perfetto trace JSON")
    p.add_argument("--baseline", type=Path, metavar="B", help="compare against this run directory")
    p.add_argument("--quiet", action="store_true", help="no terminal table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stack.cli.errors import EXIT_BUDGET_VIOLATED, EXIT_OK
    from stack.report.analysis import analyze
    from stack.trace import RunDir

    analysis = analyze(RunDir(args.run_dir))
    baseline = analyze(RunDir(args.baseline)) if args.baseline else None
    _write_outputs(args, analysis, baseline)  # an OSError names the file; `l4` reports it
    if not args.quiet:
        from stack.report.table import print_report

        print_report(analysis, baseline)
    return EXIT_OK if analysis.ok else EXIT_BUDGET_VIOLATED


def _write_outputs(
    args: argparse.Namespace, analysis: RunAnalysis, baseline: RunAnalysis | None
) -> None:
    for path in (args.json, args.html, args.perfetto):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    if args.json:
        from stack.report.jsonout import report_json

        args.json.write_text(json.dumps(report_json(analysis, baseline), indent=2) + "\n")
    if args.html:
        from stack.report.html import write_html

        write_html(analysis, args.html, baseline)
    if args.perfetto:
        from stack.report.perfetto import write_perfetto

        write_perfetto(analysis, args.perfetto)
