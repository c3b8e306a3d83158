"""The run directory: what `l4 report` needs and nothing else.

RUN_DIR/
  trace.l4t          callback records (stack.trace.fileformat), written during the run
  launch.yaml        the launch file used, verbatim
  run.json           chains and budgets, nodes, executors, per-subscription and per-node
                     counters, errors, trace statistics
  platform.json      CPU, cores, Python, package versions, Jetson model and power mode
  chain_latency.npz  the executor's online chain samples (used when the trace is off)

run.json says whether a signal stopped the run (``interrupted``, ``signal``). A run killed
before writing it leaves trace.l4t, whose header holds the run's static facts
(:func:`run_facts`, written by :func:`trace_writer`): RunDir then rebuilds what it can from the
trace (``stack.trace.partial``) and says the run was ``cut_short``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stack.graph import ChainSpec, LaunchGraph
from stack.trace.errors import TraceError
from stack.trace.fileformat import TraceFile, read_trace, write_frame, write_header
from stack.trace.partial import meta_from_trace
from stack.trace.records import Tracer
from stack.trace.writer import TRACE_FILE, TraceWriter, trace_header

if TYPE_CHECKING:  # the executor imports stack.trace's record format
    from stack.executor.view import RunResults

RUN_FILE = "run.json"
LAUNCH_FILE = "launch.yaml"
PLATFORM_FILE = "platform.json"
CHAIN_FILE = "chain_latency.npz"
RUN_FORMAT = 1


@dataclass(frozen=True)
class SubscriptionStats:
    node: str
    topic: str
    depth: int
    overwritten: int
    delivered: int


@dataclass(frozen=True)
class TimerStats:
    node: str
    name: str
    period_ns: int
    skipped: int


def trace_writer(run_dir: str | Path, graph: LaunchGraph, mode: str) -> TraceWriter:
    """The TraceWriter of a run of ``graph``: its header carries :func:`run_facts`, so that
    the report can read a run killed before it wrote run.json. The launch file is written at
    once too (and again at the end), so a killed run keeps it."""
    writer = TraceWriter(run_dir, header={"run": run_facts(graph, mode)})
    try:
        (Path(run_dir) / LAUNCH_FILE).write_text(graph.text)
    except OSError as exc:
        writer.close()
        raise TraceError(f"{run_dir}: cannot write {LAUNCH_FILE}: {exc}") from exc
    return writer


def write_run_dir(
    run_dir: str | Path,
    graph: LaunchGraph,
    runtime: RunResults,
    mode: str,
    interrupted: str | None = None,
) -> Path:
    """Write the run directory of a finished run (closing its trace writer first).

    ``interrupted`` names the signal that stopped the run early (``"SIGINT"``), if one did.
    """
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        trace = _finish_trace(run_dir, runtime.tracer)
        (run_dir / LAUNCH_FILE).write_text(graph.text)
        _write_json(run_dir / PLATFORM_FILE, _platform())
        _write_chain_latencies(run_dir / CHAIN_FILE, runtime.chain_latencies)
        summary = run_summary(graph, runtime, mode, trace, interrupted)
        _write_json(run_dir / RUN_FILE, summary)
    except OSError as exc:
        raise TraceError(f"{run_dir}: cannot write run directory: {exc}") from exc
    return run_dir


def _platform() -> dict[str, Any]:
    from stack.platform import platform_facts

    return platform_facts()


def _write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def _finish_trace(run_dir: Path, tracer: Tracer) -> dict[str, Any] | None:
    """Close a TraceWriter, or write an in-memory tracer's records. Returns trace stats."""
    if isinstance(tracer, TraceWriter):
        tracer.close()
        if tracer.path.resolve() != (run_dir / TRACE_FILE).resolve():
            raise TraceError(
                f"{run_dir}: the run's TraceWriter writes to {tracer.path}, not this directory"
            )
        return tracer.stats()
    if not tracer.enabled:
        return None
    return write_trace(run_dir / TRACE_FILE, list(tracer.records))


def write_trace(path: Path, records: list[tuple], chunk: int = 4096) -> dict[str, Any]:
    """Write records collected in memory as a trace file (same format as TraceWriter)."""
    size = 0
    with path.open("wb") as f:
        write_header(f, trace_header())
        for i in range(0, len(records), chunk):
            size += write_frame(f, records[i : i + chunk])
    frames = (len(records) + chunk - 1) // chunk
    return {"file": path.name, "records": len(records), "frames": frames, "bytes": size, "lost": 0}


def _write_chain_latencies(path: Path, samples: dict[str, list[tuple[int, int]]]) -> None:
    arrays = {}
    for i, (_name, pairs) in enumerate(samples.items()):
        arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        arrays[f"c{i}"] = arr
    np.savez(path, **arrays)


def run_facts(graph: LaunchGraph, mode: str) -> dict[str, Any]:
    """What run.json says before the run starts: mode, graph, chains, nodes and executors."""
    return {
        "format": RUN_FORMAT,
        "mode": mode,
        "graph": {"name": graph.name, "source": str(graph.source)},
        "chains": {
            c.name: {
                "path": list(c.path),
                "budget_ms": c.budget_ms,
                "percentile": c.percentile,
                "priority": c.priority,
            }
            for c in graph.chains.values()
        },
        "chain_samples": list(graph.chains),  # order of the arrays in chain_latency.npz
        "nodes": {
            n.name: {"class": n.class_path, "executor": n.executor} for n in graph.nodes.values()
        },
        "executors": {
            e.name: {
                "cores": list(e.cores),
                "threads": e.threads,
                "priority": e.priority,
                "nice": e.nice,
                "process": e.process,
            }
            for e in graph.executors.values()
        },
    }


def run_summary(
    graph: LaunchGraph,
    runtime: RunResults,
    mode: str,
    trace: dict | None,
    interrupted: str | None = None,
) -> dict[str, Any]:
    subs = [
        SubscriptionStats(s.node.name, topic, s.depth, s.overwritten, s.delivered).__dict__
        for topic, t in sorted(runtime.topics.items())
        for s in t.subscriptions
    ]
    timers = [
        TimerStats(t.node.name, t.name, t.period_ns, t.skipped).__dict__ for t in runtime.timers
    ]
    facts = run_facts(graph, mode)
    return {
        **{k: facts[k] for k in ("format", "mode", "graph")},
        "written_wall_ns": time.time_ns(),
        **{k: facts[k] for k in ("chains", "chain_samples", "nodes", "executors")},
        "topics": {
            name: {
                "type": t.msgtype,
                "publishers": list(t.publishers),
                "subscribers": [s.node.name for s in t.subscriptions],
                "published": t.published,
            }
            for name, t in sorted(runtime.topics.items())
        },
        "subscriptions": subs,
        "timers": timers,
        "counters": runtime.counters(),
        "errors": list(runtime.errors),
        "trace": trace,
        "interrupted": interrupted is not None,
        "signal": interrupted,
        "cut_short": False,
    }


class RunDir:
    """A run directory read back for the report; raises TraceError naming what is missing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise TraceError(f"{self.path}: not a run directory (no such directory)")
        run_file = self.path / RUN_FILE
        if not run_file.exists():
            if not self.has_trace:
                raise TraceError(
                    f"{run_file}: missing, and so is {TRACE_FILE}: nothing to report (the run "
                    "did not start, or ran untraced and was killed before it wrote run.json)"
                )
            self.meta = meta_from_trace(self.trace, RUN_FORMAT, self.path)
            return
        try:
            self.meta: dict[str, Any] = json.loads(run_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TraceError(f"{run_file}: cannot read: {exc}") from exc
        if self.meta.get("format") != RUN_FORMAT:
            raise TraceError(f"{run_file}: unsupported format {self.meta.get('format')!r}")

    @property
    def name(self) -> str:
        return str(self.meta["graph"]["name"])

    @property
    def mode(self) -> str:
        return str(self.meta.get("mode", ""))

    @property
    def cut_short(self) -> bool:
        """The run never wrote run.json (killed, or the disk filled): facts are from the trace."""
        return bool(self.meta.get("cut_short", False))

    @property
    def interrupted(self) -> bool:
        """A signal stopped the run before its input ended."""
        return bool(self.meta.get("interrupted", False))

    @property
    def signal(self) -> str | None:
        sig = self.meta.get("signal")
        return str(sig) if sig else None

    @property
    def ended_early(self) -> str | None:
        """One line on how the run ended early, None for a run that ran its course."""
        if self.cut_short:
            return (
                f"the run was cut short: {RUN_FILE} is missing (killed, or the disk filled); "
                f"figures are from {TRACE_FILE} alone"
            )
        if self.interrupted:
            return f"the run was interrupted by {self.signal or 'a signal'} before its end"
        return None

    @cached_property
    def chains(self) -> dict[str, ChainSpec]:
        out = {}
        for name, c in self.meta.get("chains", {}).items():
            try:
                out[name] = ChainSpec(
                    name,
                    tuple(c["path"]),
                    float(c["budget_ms"]),
                    float(c["percentile"]),
                    int(c.get("priority", 0)),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise TraceError(f"{self.path / RUN_FILE}: chains.{name}: bad entry {c!r}") from exc
        return out

    @cached_property
    def subscriptions(self) -> list[SubscriptionStats]:
        return [SubscriptionStats(**s) for s in self.meta.get("subscriptions", [])]

    @cached_property
    def timers(self) -> list[TimerStats]:
        return [TimerStats(**t) for t in self.meta.get("timers", [])]

    @property
    def publishers(self) -> dict[str, list[str]]:
        """Topic -> nodes that publish it."""
        return {t: list(v.get("publishers", [])) for t, v in self.meta.get("topics", {}).items()}

    @property
    def counters(self) -> dict[str, dict[str, int]]:
        return self.meta.get("counters", {})

    @property
    def errors(self) -> list[str]:
        return self.meta.get("errors", [])

    @cached_property
    def platform(self) -> dict[str, Any]:
        path = self.path / PLATFORM_FILE
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TraceError(f"{path}: cannot read: {exc}") from exc

    @property
    def launch_text(self) -> str:
        path = self.path / LAUNCH_FILE
        return path.read_text() if path.exists() else ""

    @property
    def has_trace(self) -> bool:
        return (self.path / TRACE_FILE).exists()

    @cached_property
    def trace(self) -> TraceFile:
        if not self.has_trace:
            raise TraceError(f"{self.path / TRACE_FILE}: missing (the run was not traced)")
        return read_trace(self.path / TRACE_FILE)

    @cached_property
    def online_latencies(self) -> dict[str, np.ndarray]:
        """The executor's chain samples: name -> int64 array of (publish_ns, latency_ns) rows."""
        path = self.path / CHAIN_FILE
        names = self.meta.get("chain_samples", [])
        if not path.exists():
            return {n: np.zeros((0, 2), np.int64) for n in names}
        try:
            with np.load(path) as z:
                return {n: z[f"c{i}"] for i, n in enumerate(names) if f"c{i}" in z}
        except (OSError, ValueError) as exc:
            raise TraceError(f"{path}: cannot read: {exc}") from exc

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"
