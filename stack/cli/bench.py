"""`l4 bench NAME [--json OUT]`: benchmarks from the registry in tools.bench."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from tools.bench import BENCHMARKS

    p = sub.add_parser("bench", help="run a benchmark and write its figures as JSON")
    p.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the result JSON here")
    p.add_argument(
        "--quick", action="store_true", help="a short run (for smoke tests); figures are rough"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tools.bench import load_benchmark

    result = load_benchmark(args.name)(quick=args.quick)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    ok = result.get("ok", True)
    return 0 if ok else 1
