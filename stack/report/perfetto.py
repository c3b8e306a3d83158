"""Chrome/Perfetto trace-event JSON export (`l4 report --perfetto F`) and a schema check.

One track per executor thread (``ph: X`` complete events named "node callback"), instant events
for drops, overwrites, exceptions and variant switches, and one counter track per chain with its
latency at each output. ui.perfetto.dev and chrome://tracing open the file as is. Times are
microseconds from the first callback of the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from numbers import Real
from pathlib import Path
from typing import Any

from stack.report.analysis import ChainResult, RunAnalysis

PID = 1
COUNTER_TID = 0
METADATA_NAMES = {
    "process_name",
    "process_labels",
    "process_sort_index",
    "thread_name",
    "thread_sort_index",
}
# Required keys of each phase of the trace-event format (besides "ph").
REQUIRED: dict[str, tuple[str, ...]] = {
    "X": ("name", "ts", "dur", "pid", "tid"),
    "B": ("name", "ts", "pid", "tid"),
    "E": ("ts", "pid", "tid"),
    "i": ("name", "ts", "pid", "tid"),
    "I": ("name", "ts", "pid", "tid"),
    "C": ("name", "ts", "pid", "args"),
    "M": ("name", "pid", "args"),
    "b": ("name", "cat", "id", "ts", "pid"),
    "e": ("name", "cat", "id", "ts", "pid"),
    "n": ("name", "cat", "id", "ts", "pid"),
    "s": ("name", "id", "ts", "pid", "tid"),
    "t": ("name", "id", "ts", "pid", "tid"),
    "f": ("name", "id", "ts", "pid", "tid"),
}


def _us(t_ns: int, t0_ns: int) -> float:
    return round((t_ns - t0_ns) / 1e3, 3)


def trace_events(a: RunAnalysis) -> Iterator[dict[str, Any]]:
    records = a.run.trace.records if a.run.has_trace else []
    t0 = a.t0_ns
    yield {"ph": "M", "name": "process_name", "pid": PID, "tid": 0, "args": {"name": a.name}}
    tids: dict[str, int] = {}
    for r in records:
        if r[2] not in tids:
            tids[r[2]] = tid = len(tids) + 1
            yield {"ph": "M", "name": "thread_name", "pid": PID, "tid": tid, "args": {"name": r[2]}}
            yield {
                "ph": "M",
                "name": "thread_sort_index",
                "pid": PID,
                "tid": tid,
                "args": {"sort_index": tid},
            }
    for r in records:
        yield _complete(r, tids[r[2]], t0)
        for kind, detail in r[9]:
            yield {
                "ph": "i",
                "s": "t",
                "name": f"{kind}",
                "cat": "event",
                "pid": PID,
                "tid": tids[r[2]],
                "ts": _us(r[4], t0),
                "args": {"node": r[0], "detail": detail},
            }
    for e in a.events:
        if e.derived:  # variant changes the analysis found (recorded events went out above)
            yield {
                "ph": "i",
                "s": "p",
                "name": "variant switch",
                "cat": "event",
                "pid": PID,
                "tid": COUNTER_TID,
                "ts": _us(e.t_ns, t0),
                "args": {"node": e.node, "detail": e.detail},
            }
    for name, c in a.chains.items():
        for pub, lat in zip(c.samples.publish_ns.tolist(), c.samples.latency_ns.tolist()):
            yield {
                "ph": "C",
                "name": f"chain {name} latency ms",
                "pid": PID,
                "ts": _us(pub, t0),
                "args": {"latency_ms": round(lat / 1e6, 4)},
            }
        yield from _misses(c, t0)


def _misses(c: ChainResult, t0: int) -> Iterator[dict[str, Any]]:
    """One process-wide instant per output later than the chain's budget."""
    miss = c.miss_mask
    for pub, lat in zip(c.samples.publish_ns[miss].tolist(), c.samples.latency_ns[miss].tolist()):
        yield {
            "ph": "i",
            "s": "p",
            "name": f"chain {c.name} over budget",
            "cat": "deadline_miss",
            "pid": PID,
            "tid": COUNTER_TID,
            "ts": _us(pub, t0),
            "args": {"latency_ms": round(lat / 1e6, 4), "budget_ms": c.spec.budget_ms},
        }


def chain_verdicts(a: RunAnalysis) -> dict[str, Any]:
    return {
        name: {
            "verdict": c.verdict.value,
            "budget_ms": c.spec.budget_ms,
            "percentile": c.spec.percentile,
            "misses": c.misses,
        }
        for name, c in a.chains.items()
    }


def _complete(r: tuple, tid: int, t0: int) -> dict[str, Any]:
    args: dict[str, Any] = {"node": r[0], "callback": r[1], "cpu": r[3]}
    if r[6]:
        args["inputs"] = [f"{topic} @{stamp}" for topic, stamp in r[6]]
    if r[7]:
        args["outputs"] = [topic for topic, _, _ in r[7]]
    if r[8]:
        args["variant"] = r[8]
    return {
        "ph": "X",
        "name": f"{r[0]} {r[1]}",
        "cat": "callback",
        "pid": PID,
        "tid": tid,
        "ts": _us(r[4], t0),
        "dur": round((r[5] - r[4]) / 1e3, 3),
        "args": args,
    }


def write_perfetto(a: RunAnalysis, path: Path) -> int:
    """Stream the trace-event JSON to ``path`` (millions of events never sit in one list)."""
    n = 0
    with Path(path).open("w") as f:
        f.write('{"displayTimeUnit": "ms", "otherData": ')
        other = {"run": a.name, "mode": a.run.mode, "source": str(a.run.path), "ok": a.ok}
        other["chains"] = chain_verdicts(a)
        f.write(json.dumps(other))
        f.write(', "traceEvents": [\n')
        for ev in trace_events(a):
            if n:
                f.write(",\n")
            f.write(json.dumps(ev, separators=(",", ":")))
            n += 1
        f.write("\n]}\n")
    return n


def check_trace_events(doc: Any) -> list[str]:
    """Problems of a trace-event document against the format's required keys; [] if valid."""
    events = doc.get("traceEvents") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        return ["top level: expected a list of events or an object with a traceEvents list"]
    problems = []
    for i, ev in enumerate(events):
        problems.extend(f"traceEvents[{i}]: {p}" for p in _check_event(ev))
    return problems


def _check_event(ev: Any) -> list[str]:
    if not isinstance(ev, dict):
        return [f"expected an object, got {type(ev).__name__}"]
    ph = ev.get("ph")
    if ph not in REQUIRED:
        return [f"unknown or missing phase ph={ph!r}"]
    problems = [f"phase {ph}: missing {k!r}" for k in REQUIRED[ph] if k not in ev]
    for key in ("ts", "dur"):
        if key in ev and not (isinstance(ev[key], Real) and ev[key] >= 0):
            problems.append(f"{key} must be a number >= 0, got {ev[key]!r}")
    for key in ("pid", "tid"):
        if key in ev and not isinstance(ev[key], (int, str)):
            problems.append(f"{key} must be an int or string, got {ev[key]!r}")
    if "args" in ev and not isinstance(ev["args"], dict):
        problems.append(f"args must be an object, got {ev['args']!r}")
    if ph in ("i", "I") and ev.get("s", "t") not in ("g", "p", "t"):
        problems.append(f"instant scope s must be g, p or t, got {ev['s']!r}")
    if ph == "C" and isinstance(ev.get("args"), dict):
        bad = [k for k, v in ev["args"].items() if not isinstance(v, Real)]
        problems.extend(f"counter arg {k!r} is not a number" for k in bad)
    if ph == "M":
        problems.extend(_check_metadata(ev))
    return problems


def _check_metadata(ev: dict) -> list[str]:
    name, args = ev.get("name"), ev.get("args")
    if name not in METADATA_NAMES:
        return [f"unknown metadata name {name!r}"]
    problems = []
    if name.startswith("thread_") and "tid" not in ev:
        problems.append(f"metadata {name}: missing 'tid'")
    if name in ("process_name", "thread_name") and not (
        isinstance(args, dict) and isinstance(args.get("name"), str)
    ):
        problems.append(f"metadata {name}: args.name must be a string")
    return problems
