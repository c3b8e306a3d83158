"""`l4 bench NAME [--json OUT]`: benchmarks from the registry in tools.bench."""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

from stack.cli import argtypes
from stack.cli.errors import CliError
from tools.bench import BENCHMARKS

MAX_ATTEMPTS = 100


def register(sub: argparse._SubParsersAction) -> None:

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
        type=argtypes.bounded_int(1, MAX_ATTEMPTS),
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
            raise CliError(f"{args.name}: --keep: this benchmark keeps no runs")
        from tools.bench.demograph import keep_problem

        problem = keep_problem(args.keep)
        if problem:
            raise CliError(f"{args.name}: {problem}")
        options["keep"] = args.keep
    if args.attempts is not None:
        if "attempts" not in inspect.signature(bench).parameters:
            raise CliError(f"{args.name}: --attempts: this benchmark takes no tries")
        options["attempts"] = args.attempts
    result = bench(**options)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    ok = result.get("ok", True)
    return 0 if ok else 1
