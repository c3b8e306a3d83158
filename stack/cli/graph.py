"""`l4 graph FILE`: print nodes, topics, executors and chains of a launch file; exit 2 if invalid."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="validate a launch file and print its graph")
    p.add_argument("file", type=Path, help="launch file (YAML)")
    p.add_argument(
        "--external", nargs="*", default=[], metavar="TOPIC", help="topics fed from outside (a bag)"
    )
    from stack.cli.common import add_launch_args_option

    add_launch_args_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from stack.cli.common import load_launch
    from stack.console import make_console
    from stack.executor import Runtime, SimClock

    graph = load_launch(args.file, args.launch_args)
    runtime = Runtime(graph, SimClock(), lockstep=True, external_topics=args.external)
    console = make_console()
    console.print(f"[bold]{graph.name}[/] ({graph.source})")
    nodes = Table("node", "class", "executor", "params", title="nodes")
    for spec in graph.nodes.values():
        nodes.add_row(spec.name, spec.class_path, spec.executor, _short(repr(spec.params)))
    console.print(nodes)
    topics = Table("topic", "type", "publishers", "subscribers", title="topics")
    for name, t in sorted(runtime.topics.items()):
        subs = ", ".join(s.node.name + f"(depth {s.depth})" for s in t.subscriptions)
        topics.add_row(name, t.msgtype, ", ".join(t.publishers) or "-", subs or "-")
    console.print(topics)
    execs = Table("executor", "cores", "threads", "priority", "nice", "process", title="executors")
    for e in graph.executors.values():
        execs.add_row(
            e.name,
            str(list(e.cores)) or "any",
            str(e.threads),
            str(e.priority),
            str(e.nice),
            "own" if e.process else "shared",
        )
    console.print(execs)
    chains = Table("chain", "path", "budget ms", "percentile", "priority", title="chains")
    for c in graph.chains.values():
        chains.add_row(
            c.name, " -> ".join(c.path), f"{c.budget_ms:g}", f"p{c.percentile:g}", str(c.priority)
        )
    console.print(chains)
    for w in graph.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    return 0


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."
