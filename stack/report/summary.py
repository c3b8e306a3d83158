"""The short chain summary `l4 launch` prints at the end of a run."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from stack.console import make_console
from stack.executor.view import RunResults
from stack.report.analysis import pct_ms


def print_chain_summary(runtime: RunResults, console: Console | None = None) -> None:
    console = console or make_console()
    table = Table(
        "chain",
        "budget ms",
        "count",
        "p50 ms",
        "p99 ms",
        "max ms",
        "misses",
        "verdict",
        title="chain latency (first input to last output)",
    )
    for name, chain in runtime.graph.chains.items():
        lat = np.fromiter((x for _, x in runtime.chain_latencies[name]), dtype=np.int64)
        p50, p99 = pct_ms(lat, 50), pct_ms(lat, 99)
        mx = lat.max() / 1e6 if len(lat) else float("nan")
        misses = int((lat > chain.budget_ns).sum())
        ok = bool(len(lat)) and pct_ms(lat, chain.percentile) <= chain.budget_ms
        verdict = "[green]ok[/]" if ok else ("[red]OVER[/]" if len(lat) else "[yellow]no data[/]")
        table.add_row(
            name,
            f"{chain.budget_ms:g}",
            str(len(lat)),
            f"{p50:.2f}",
            f"{p99:.2f}",
            f"{mx:.2f}",
            str(misses),
            verdict,
        )
    console.print(table)
    dropped = runtime.dropped()
    errors = len(runtime.errors)
    console.print(f"queue overwrites: {dropped}   callback exceptions: {errors}")
