"""The short chain summary `l4 launch` prints at the end of a run."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from stack.cli.common import percentiles_ms
from stack.console import make_console


def print_chain_summary(runtime: Any, console: Console | None = None) -> None:
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
        lat = [lat for _, lat in runtime.chain_latencies[name]]
        p50, p99 = percentiles_ms(lat)
        mx = max(lat) / 1e6 if lat else float("nan")
        misses = sum(1 for x in lat if x > chain.budget_ns)
        pct_val = percentiles_ms(lat, (chain.percentile,))[0]
        ok = bool(lat) and pct_val <= chain.budget_ms
        verdict = "[green]ok[/]" if ok else ("[red]OVER[/]" if lat else "[yellow]no data[/]")
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
