"""The HTML report (`l4 report --html F`): one self-contained file, figures inlined as base64 PNG,
no script and no network access."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from stack.report import plots
from stack.report.analysis import RunAnalysis, Verdict, compare_chains
from stack.trace.records import event_count

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #ccc;padding:4px 8px}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#167516;font-weight:bold}.over{color:#c00;font-weight:bold}.nodata{color:#a60}
.banner{padding:10px 14px;border-radius:6px;font-size:1.2em;margin:12px 0}
.banner.ok{background:#e6f5e6}.banner.over{background:#fde8e8}
img{max-width:100%}pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}
"""
_VERDICT_CLASS = {Verdict.OK: "ok", Verdict.OVER: "over", Verdict.NO_DATA: "nodata"}


def _e(x: object) -> str:
    return html.escape(str(x))


def _ms(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.2f}"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A table; ``rows`` hold cells already rendered by ``_td``."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _td(x: object, num: bool = False, cls: str = "") -> str:
    classes = " ".join(c for c in ("num" if num else "", cls) if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<td{attr}>{_e(x)}</td>"


def _chain_rows(a: RunAnalysis, baseline: RunAnalysis | None) -> tuple[list[str], list[list[str]]]:
    head = [
        "chain",
        "path",
        "budget ms",
        "percentile",
        "at pctl ms",
        "p50 ms",
        "p99 ms",
        "max ms",
        "count",
        "misses",
        "drops",
        "verdict",
    ]
    deltas = compare_chains(a, baseline) if baseline is not None else {}
    if baseline is not None:
        head[-1:-1] = ["Δp50 ms", "Δp99 ms"]
    rows = []
    for name, c in a.chains.items():
        row = [
            _td(name),
            _td(" → ".join(c.spec.path)),
            _td(f"{c.spec.budget_ms:g}", True),
            _td(f"p{c.spec.percentile:g}", True),
            _td(_ms(c.at_percentile_ms), True),
            _td(_ms(c.pct_ms(50)), True),
            _td(_ms(c.pct_ms(99)), True),
            _td(_ms(c.max_ms), True),
            _td(c.count, True),
            _td(c.misses, True),
            _td(c.drops, True),
        ]
        if baseline is not None:
            d = deltas.get(name, {})
            row += [_td(_signed(d.get("p50_ms")), True), _td(_signed(d.get("p99_ms")), True)]
        row.append(_td(c.verdict.value, cls=_VERDICT_CLASS[c.verdict]))
        rows.append(row)
    return head, rows


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2f}"


def _node_rows(a: RunAnalysis) -> list[list[str]]:
    rows = []
    for n in a.nodes.values():
        for cb in n.callbacks.values():
            rows.append(
                [
                    _td(n.name),
                    _td(cb.callback),
                    _td(cb.count, True),
                    _td(f"{cb.rate_hz:.1f}", True),
                    _td(_ms(cb.pct_ms(50)), True),
                    _td(_ms(cb.pct_ms(99)), True),
                    _td(_ms(cb.max_ms), True),
                    _td(cb.exceptions, True),
                    _td(cb.drops, True),
                    _td(", ".join(n.variants)),
                ]
            )
        if not n.callbacks:
            rows.append(
                [_td(n.name), _td("(no runs)")]
                + [_td("-", True)] * 5
                + [_td(n.exceptions, True), _td(n.drops, True), _td("")]
            )
    return rows


def _variant_timeline(a: RunAnalysis) -> str:
    """The current model variant of each node that switched, as time segments."""
    rows = []
    for n in a.nodes.values():
        if len(n.variant_timeline) < 2:
            continue
        marks = n.variant_timeline
        for (t, v), end in zip(marks, [m[0] for m in marks[1:]] + [None]):
            until = "end" if end is None else f"{(end - a.t0_ns) / 1e9:.2f} s"
            rows.append(
                [_td(n.name), _td(v), _td(f"{(t - a.t0_ns) / 1e9:.2f} s", True), _td(until, True)]
            )
    if not rows:
        return ""
    head = ["node", "variant", "from", "until"]
    return "<h3>Model variant per node over time</h3>" + _table(head, rows, "variant-timeline")


def _events_section(a: RunAnalysis) -> str:
    png = plots.events_timeline(a)
    if png is None:
        return "<p>No drops, overwrites, deadline misses, exceptions or variant switches.</p>"
    counts: dict[str, int] = {}
    for e in a.events:
        counts[e.kind] = counts.get(e.kind, 0) + event_count(e.detail)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    return f"<p>{_e(summary)}</p>" + _img(png, "events over time")


NODE_HEAD = [
    "node",
    "callback",
    "count",
    "rate Hz",
    "p50 ms",
    "p99 ms",
    "max ms",
    "exceptions",
    "drops",
    "variants",
]


def _facts(a: RunAnalysis, baseline: RunAnalysis | None) -> list[list[str]]:
    plat = a.run.platform
    facts = [
        ["run", str(a.run.path)],
        ["mode", a.run.mode],
        ["duration s", f"{a.duration_s:.2f}"],
        ["records", str(a.records)],
        ["CPU", f"{plat.get('cpu_model', '?')} x{plat.get('cores', '?')}"],
        ["Python", plat.get("python", "?")],
    ]
    jetson = plat.get("jetson") or {}
    if jetson:
        mode = (jetson.get("power_mode") or {}).get("name", "?")
        facts.append(["Jetson", f"{jetson.get('model')} L4T {jetson.get('l4t')} power mode {mode}"])
    if baseline is not None:
        facts.append(["baseline", str(baseline.run.path)])
    return [[_td(k), _td(v)] for k, v in facts]


def render_html(a: RunAnalysis, baseline: RunAnalysis | None = None) -> str:
    verdict = ("ok", "All chains within budget") if a.ok else ("over", "Budget violated")
    head, chain_rows = _chain_rows(a, baseline)
    title = f"l4 report: {_e(a.name)}"
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Latency budget report: {_e(a.name)}</h1>",
        f'<div class="banner {verdict[0]}" id="verdict">{_e(verdict[1])}</div>',
        _table(["fact", "value"], _facts(a, baseline)),
        "<h2>Chains</h2>",
        _table(head, chain_rows, "chains"),
    ]
    if a.run.ended_early:
        note = a.run.ended_early[0].upper() + a.run.ended_early[1:]
        parts.append(f"<p class='over' id='ended-early'>{_e(note)}.</p>")
    if a.truncated:
        parts.append("<p class='over'>The trace was cut off: its last frame is lost.</p>")
    if a.chains:
        parts += [
            "<h3>Latency CDF per chain (red dashed line: budget)</h3>",
            _img(plots.chain_cdf(a), "chain latency CDF"),
            "<h3>Latency over time (x: budget misses)</h3>",
            _img(plots.chain_timeline(a), "chain latency over time"),
        ]
    parts += [
        "<h2>Nodes</h2>",
        _table(NODE_HEAD, _node_rows(a), "nodes"),
        "<h3>Callback execution time</h3>",
        _img(plots.callback_distribution(a), "callback times"),
        "<h3>Drops, misses and model variant switches</h3>",
        _events_section(a),
        _variant_timeline(a),
    ]
    parts += _telemetry_section(a)
    if a.run.errors:
        items = "".join(f"<li>{_e(err)}</li>" for err in a.run.errors[:50])
        parts.append(f"<h2>Callback errors ({len(a.run.errors)})</h2><ul>{items}</ul>")
    parts += [f"<h2>Launch file</h2><pre>{_e(a.run.launch_text)}</pre>", "</body></html>"]
    return "\n".join(parts)


def _telemetry_section(a: RunAnalysis) -> list[str]:
    """GPU and CPU load, temperatures and power beside the chain latencies (Jetson runs)."""
    from stack.report.telemetry import summary_rows, telemetry_figure

    tel = a.telemetry
    if tel is None or not tel.samples:
        return []
    series = {n: (c.samples.publish_ns, c.latency_ms) for n, c in a.chains.items()}
    return [
        "<h2 id='telemetry'>Jetson telemetry</h2>",
        _table(["what", "value"], [[_td(k), _td(v)] for k, v in summary_rows(tel)]),
        _img(telemetry_figure(tel, a.t0_ns, series), "GPU and CPU load, temperatures, power"),
    ]


def write_html(a: RunAnalysis, path: Path, baseline: RunAnalysis | None = None) -> None:
    Path(path).write_text(render_html(a, baseline), encoding="utf-8")
