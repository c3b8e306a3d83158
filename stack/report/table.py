"""The terminal report: chain verdicts and per-callback latency, optionally against a baseline."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from stack.console import make_console
from stack.report.analysis import RunAnalysis, Verdict, compare_chains

_VERDICT_STYLE = {Verdict.OK: "green", Verdict.OVER: "bold red", Verdict.NO_DATA: "yellow"}


def _ms(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.2f}"


def _with_delta(x: float, delta: float | None) -> str:
    if delta is None:
        return _ms(x)
    style = "red" if delta > 0 else "green"
    return f"{_ms(x)} [{style}]({delta:+.2f})[/]"


def chain_table(a: RunAnalysis, baseline: RunAnalysis | None = None) -> Table:
    title = "chain latency against budget"
    if baseline is not None:
        title += f" (change vs {baseline.run.path})"
    table = Table(title=title)
    for col in ("chain", "budget ms", "pctl", "at pctl ms", "p50 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="left" if col == "chain" else "right")
    for col in ("count", "misses", "drops", "verdict"):
        table.add_column(col, justify="right" if col != "verdict" else "left")
    deltas = compare_chains(a, baseline) if baseline is not None else {}
    for name, c in a.chains.items():
        d = deltas.get(name, {})
        style = _VERDICT_STYLE[c.verdict]
        table.add_row(
            name,
            f"{c.spec.budget_ms:g}",
            f"p{c.spec.percentile:g}",
            _ms(c.at_percentile_ms),
            _with_delta(c.pct_ms(50), d.get("p50_ms")),
            _with_delta(c.pct_ms(99), d.get("p99_ms")),
            _with_delta(c.max_ms, d.get("max_ms")),
            str(c.count),
            str(c.misses),
            str(c.drops),
            f"[{style}]{c.verdict.value}[/]",
        )
    return table


def node_table(a: RunAnalysis) -> Table:
    table = Table(title="callback execution time and rate")
    table.add_column("node")
    table.add_column("callback")
    for col in ("count", "rate Hz", "p50 ms", "p99 ms", "max ms", "exceptions", "drops"):
        table.add_column(col, justify="right")
    table.add_column("variants")
    for node in a.nodes.values():
        variants = ", ".join(node.variants) + (f" ({node.switches} sw)" if node.switches else "")
        if not node.callbacks:
            table.add_row(
                node.name,
                "-",
                "0",
                "-",
                "-",
                "-",
                "-",
                str(node.exceptions),
                str(node.drops),
                variants,
            )
        for cb in node.callbacks.values():
            table.add_row(
                node.name,
                cb.callback,
                str(cb.count),
                f"{cb.rate_hz:.1f}",
                _ms(cb.pct_ms(50)),
                _ms(cb.pct_ms(99)),
                _ms(cb.max_ms),
                str(cb.exceptions),
                str(cb.drops),
                variants,
            )
    return table


def print_report(
    a: RunAnalysis, baseline: RunAnalysis | None = None, console: Console | None = None
) -> None:
    console = console or make_console()
    plat = a.run.platform
    console.print(
        f"[bold]{a.name}[/] ({a.run.mode or 'run'}, {a.duration_s:.1f} s, {a.records} records) "
        f"{plat.get('cpu_model', '')} x{plat.get('cores', '?')}"
    )
    if a.run.ended_early:
        console.print(f"[bold yellow]warning:[/] {a.run.ended_early}")
    if a.truncated:
        console.print("[yellow]warning:[/] the trace was cut off; its last frame is lost")
    console.print(chain_table(a, baseline))
    console.print(node_table(a))
    from stack.report.telemetry import summary_rows

    tel = a.telemetry
    if tel is not None:
        table = Table(title="Jetson telemetry", title_justify="left")
        table.add_column("what")
        table.add_column("value")
        for row in summary_rows(tel):
            table.add_row(*row)
        console.print(table)
    for err in a.run.errors[:5]:
        console.print(f"[red]callback error:[/] {err}")
    verdict = "[green]all chains within budget[/]" if a.ok else "[bold red]budget violated[/]"
    console.print(verdict)
