"""Measured per-callback latency profiles: read from `l4 report RUN --json`, or built from trace
records of a run in this process.

The shape is the report's, of which the simulator reads only this much:

    {"nodes": {NODE: {"callbacks": {CB: {"p50_ms", "p99_ms", "mean_ms", "count",
                                         "samples_ms": [...], "samples_at_s"?: [...],
                                         "rate_hz"?, "publishes"?}}}}}

``CB`` is the trace's callback name ("sub:/topic", "timer:tick"). ``publishes`` (optional)
maps each topic the callback published to the fraction of its runs that did; without it the
simulator assumes a callback publishes every topic its node publishes. ``samples_at_s``
(optional) says when each sample was measured, for draws aligned in time (see
:class:`tools.schedsim.model.Service`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools.schedsim.errors import SimError

MAX_SAMPLES = 2000


@dataclass(frozen=True)
class CallbackProfile:
    node: str
    callback: str
    samples_ms: np.ndarray  # execution times to draw from (one value: deterministic)
    rate_hz: float | None = None
    publishes: Mapping[str, float] | None = None
    overlap: float = 0.0  # mean fraction of a run spent beside another thread's callback
    at_s: np.ndarray | None = None  # when each sample was measured (s into the run)
    publish_after_ms: float = 0.0  # mean work after its first publish, to its end

    @property
    def topic(self) -> str | None:
        """The subscribed topic of a "sub:/topic" callback."""
        kind, _, rest = self.callback.partition(":")
        return rest if kind == "sub" else None


@dataclass(frozen=True)
class SourceProfile:
    """When an external topic arrived: every ``period_ms``, first ``phase_ms`` after the
    earliest source (the report's ``sources``)."""

    period_ms: float
    phase_ms: float = 0.0
    rank: int = 0  # order among sources arriving at the same instant


@dataclass
class Profile:
    callbacks: dict[tuple[str, str], CallbackProfile] = field(default_factory=dict)
    source: str = "<profile>"
    sources: dict[str, SourceProfile] = field(default_factory=dict)
    wakeups_ms: dict[str, np.ndarray] = field(default_factory=dict)  # executor -> delays

    def get(self, node: str, callback: str) -> CallbackProfile | None:
        return self.callbacks.get((node, callback))

    def observed_rate_hz(self, topic: str) -> float | None:
        """How often ``topic`` arrived, judged by the busiest subscriber of it."""
        rates = [cb.rate_hz for cb in self.callbacks.values() if cb.topic == topic and cb.rate_hz]
        return max(rates) if rates else None

    def to_json(self) -> dict[str, Any]:
        nodes: dict[str, Any] = {}
        for (node, name), cb in self.callbacks.items():
            s = cb.samples_ms
            entry: dict[str, Any] = {
                "p50_ms": round(float(np.percentile(s, 50)), 4),
                "p99_ms": round(float(np.percentile(s, 99)), 4),
                "mean_ms": round(float(s.mean()), 4),
                "count": len(s),
                "samples_ms": [round(float(x), 4) for x in _thin(s)],
            }
            if cb.at_s is not None:
                entry["samples_at_s"] = [round(float(x), 4) for x in _thin(cb.at_s)]
            if cb.rate_hz is not None:
                entry["rate_hz"] = round(cb.rate_hz, 3)
            if cb.publishes is not None:
                entry["publishes"] = {t: round(f, 4) for t, f in cb.publishes.items()}
            entry["overlap"] = round(cb.overlap, 4)
            entry["publish_after_ms"] = round(cb.publish_after_ms, 4)
            nodes.setdefault(node, {"callbacks": {}})["callbacks"][name] = entry
        sources = {
            t: {"period_ms": s.period_ms, "phase_ms": s.phase_ms} for t, s in self.sources.items()
        }
        wakeups = {
            ex: {"samples_ms": _thin(d).round(4).tolist()} for ex, d in self.wakeups_ms.items()
        }
        return {"nodes": nodes, "sources": sources, "wakeups": wakeups}


def load_profile(path: str | Path) -> Profile:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise SimError(f"{path}: cannot read profile: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise SimError(f"{path}: not JSON: {exc}") from exc
    return parse_profile(doc, str(path))


def parse_profile(doc: Any, source: str = "<profile>") -> Profile:
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), dict):
        raise SimError(f"{source}: expected a report JSON with a 'nodes' mapping")
    out = Profile(source=source)
    for node, body in doc["nodes"].items():
        callbacks = body.get("callbacks", {}) if isinstance(body, dict) else None
        if not isinstance(callbacks, dict):
            raise SimError(f"{source}: nodes.{node}.callbacks: expected a mapping")
        for name, cb in callbacks.items():
            where = f"{source}: nodes.{node}.callbacks.{name}"
            out.callbacks[(node, name)] = _callback(where, node, name, cb)
    sources = doc.get("sources", {})
    if not isinstance(sources, dict):
        raise SimError(f"{source}: sources: expected {{topic: {{period_ms, phase_ms}}}}")
    for topic, body in sources.items():
        out.sources[topic] = _source(f"{source}: sources.{topic}", body)
    wakeups = doc.get("wakeups", {})
    if not isinstance(wakeups, dict):
        raise SimError(f"{source}: wakeups: expected {{executor: {{samples_ms: [...]}}}}")
    for ex, body in wakeups.items():
        out.wakeups_ms[ex] = _samples(f"{source}: wakeups.{ex}", body)
    return out


def _floats(values: Any) -> np.ndarray:
    """``values`` as a float array; a 2-d empty one (rejected by every check) if they are not
    numbers."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.zeros((0, 0))


def _samples(where: str, body: Any) -> np.ndarray:
    arr = _floats(body.get("samples_ms") if isinstance(body, dict) else None)
    if arr.ndim != 1 or not len(arr) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise SimError(f"{where}.samples_ms: expected a list of finite times >= 0")
    return arr


def _source(where: str, body: Any) -> SourceProfile:
    period = body.get("period_ms") if isinstance(body, dict) else None
    phase = body.get("phase_ms", 0.0) if isinstance(body, dict) else None
    rank = body.get("rank", 0) if isinstance(body, dict) else None
    ok = isinstance(period, (int, float)) and isinstance(phase, (int, float))
    if not ok or not period > 0 or not phase >= 0 or not isinstance(rank, int):
        raise SimError(
            f"{where}: expected period_ms > 0, phase_ms >= 0 and an integer rank, got {body!r:.80}"
        )
    return SourceProfile(float(period), float(phase), rank)


def _callback(where: str, node: str, name: str, cb: Any) -> CallbackProfile:
    if not isinstance(cb, dict):
        raise SimError(f"{where}: expected a mapping, got {cb!r:.80}")
    samples = cb.get("samples_ms")
    if samples:
        arr = np.asarray(samples, dtype=np.float64)
    else:  # no samples: rebuild a distribution with the same p50 and p99
        p50, p99 = cb.get("p50_ms"), cb.get("p99_ms", cb.get("p50_ms"))
        if p50 is None:
            raise SimError(f"{where}: needs samples_ms or p50_ms")
        arr = np.asarray([p50] * 98 + [p99] * 2, dtype=np.float64)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise SimError(f"{where}.samples_ms: expected finite times >= 0")
    publishes = cb.get("publishes")
    if publishes is not None and not (
        isinstance(publishes, dict) and all(0 <= float(v) <= 1 for v in publishes.values())
    ):
        raise SimError(f"{where}.publishes: expected {{topic: fraction 0..1}}, got {publishes!r}")
    overlap = cb.get("overlap", 0.0)
    if not isinstance(overlap, (int, float)) or not 0 <= overlap <= 1:
        raise SimError(f"{where}.overlap: expected a fraction 0..1, got {overlap!r}")
    after = cb.get("publish_after_ms", 0.0)
    if not isinstance(after, (int, float)) or isinstance(after, bool) or not after >= 0:
        raise SimError(f"{where}.publish_after_ms: expected a time >= 0, got {after!r}")
    rate = cb.get("rate_hz")
    return CallbackProfile(
        node, name, arr, float(rate) if rate else None,
        {str(t): float(f) for t, f in publishes.items()} if publishes is not None else None,
        float(overlap), _times(where, cb.get("samples_at_s"), len(arr) if samples else 0),
        float(after),
    )  # fmt: skip


def _times(where: str, times: Any, count: int) -> np.ndarray | None:
    """``samples_at_s``: one finite time per sample, or absent."""
    if times is None:
        return None
    arr = _floats(times)
    if arr.ndim != 1 or len(arr) != count or not np.all(np.isfinite(arr)):
        raise SimError(
            f"{where}.samples_at_s: expected one finite time per sample ({count}), "
            f"got {times!r:.80}"
        )
    return arr


def profile_from_records(records: Iterable[tuple], duration_s: float | None = None) -> Profile:
    """A profile from trace records (CallbackRecord tuples), skipping stale-drop markers."""
    durations: dict[tuple[str, str], list[int]] = {}
    published: dict[tuple[str, str], dict[str, int]] = {}
    t0, t1 = None, None
    for rec in records:
        node, cb, start, end, outputs, events = rec[0], rec[1], rec[4], rec[5], rec[7], rec[9]
        if end == start and events and not outputs:
            continue  # a dropped input, not a run
        key = (node, cb)
        durations.setdefault(key, []).append(end - start)
        counts = published.setdefault(key, {})
        for topic in {o[0] for o in outputs}:
            counts[topic] = counts.get(topic, 0) + 1
        t0 = start if t0 is None else min(t0, start)
        t1 = end if t1 is None else max(t1, end)
    span = duration_s or (((t1 - t0) / 1e9) if t0 is not None else 0.0)
    out = Profile(source="<trace>")
    for key, d in durations.items():
        n = len(d)
        out.callbacks[key] = CallbackProfile(
            key[0], key[1], np.asarray(d, dtype=np.float64) / 1e6,
            n / span if span > 0 else None,
            {t: c / n for t, c in published[key].items()},
        )  # fmt: skip
    return out


def _thin(samples: np.ndarray, limit: int = MAX_SAMPLES) -> np.ndarray:
    if len(samples) <= limit:
        return samples
    return samples[np.linspace(0, len(samples) - 1, limit).astype(np.int64)]
