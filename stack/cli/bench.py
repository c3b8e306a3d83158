"""`l4 bench NAME [--json OUT]`: benchmarks from the registry in tools.bench."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from tools.bench import BENCHMARKS

    p = sub.add_parser("bench", help="run a benchmark and write its figures as JSON")
    p.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the result JSON here")
    p.add_argument(
        "--quick", action="store_true", help="a short run (for smoke tests); figures are rough"
    )
    p.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep the benchmark's runs in DIR (new or empty), for `l4 report` and `l4 sim`",
    )
    p.add_argument(
        "--attempts",
        type=int,
        metavar="N",
        help="tries of a benchmark's runs at most while the host reads disturbed (default 3)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tools.bench import load_benchmark

    bench = load_benchmark(args.name)
    options: dict = {"quick": args.quick}
    if args.keep is not None:
        if "keep" not in inspect.signature(bench).parameters:
            print(f"l4 bench {args.name}: --keep: this benchmark keeps no runs", file=sys.stderr)
            return 2
        from tools.bench.demograph import keep_problem

        problem = keep_problem(args.keep)
        if problem:
            print(f"l4 bench {args.name}: {problem}", file=sys.stderr)
            return 2
        options["keep"] = args.keep
    if args.attempts is not None:
        if "attempts" not in inspect.signature(bench).parameters:
            print(
                f"l4 bench {args.name}: --attempts: this benchmark takes no tries", file=sys.stderr
            )
            return 2
        if args.attempts < 1:
            print(
                f"l4 bench {args.name}: --attempts {args.attempts}: must be >= 1", file=sys.stderr
            )
            return 2
        options["attempts"] = args.attempts
    result = bench(**options)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    ok = result.get("ok", True)
    return 0 if ok else 1
