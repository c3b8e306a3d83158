"""Drive a launch graph from a bag on simulated time, and record what it publishes.

Lockstep (``rate=None``): no worker threads; for each message in bag order the clock moves to its
time (firing due timers), the message is injected and the graph runs to quiescence, so the same
bag gives the same outputs. Paced (``rate=R``): the graph runs on its worker threads and this
thread injects each message when the wall clock reaches its bag time scaled by R.

Only topics a node subscribes to are deserialized; the others are read and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stack.executor import Runtime, ScaledClock, SimClock
from stack.executor.errors import ExecutorError
from stack.graph import GraphError, LaunchGraph, resolve_topic
from stack.msgs.dedup import DuplicateFilter
from stack.msgs.validate import SensorDataError, SizeCheck, size_check
from stack.replay.bag import Bag, Encoding
from stack.replay.decode import Decoder, Skipped, resolve
from stack.replay.errors import ReplayError
from stack.replay.outcome import ReplayOptions, ReplayResult, TopicResult
from stack.replay.progress import NoProgress, ProgressView
from stack.replay.recorder import Recorder
from stack.trace.records import Tracer

log = logging.getLogger(__name__)
OUTPUTS = "outputs"
PROGRESS_EVERY = 64  # messages between progress refreshes (the view throttles further)
IDLE_WAIT_S = 2.0  # how long a paced replay waits at the end for the graph to finish


class _Input:
    """Per bag topic: where it goes in the graph, how to decode it, and what happened."""

    __slots__ = (
        "bag_topic",
        "cdr",
        "check",
        "decode",
        "decode_errors",
        "duplicates",
        "injected",
        "msgtype",
        "read",
        "topic",
    )

    def __init__(self, bag_topic: str, topic: str, msgtype: str, cdr: bool) -> None:
        self.bag_topic = bag_topic
        self.topic = topic
        self.msgtype = msgtype
        self.cdr = cdr  # the bag's bytes are CDR, reusable for recording
        self.decode: Decoder | None = None  # None: not subscribed, only counted
        self.check: SizeCheck | None = size_check(msgtype)  # payload sizes vs layout
        self.read = 0
        self.injected = 0
        self.decode_errors = 0  # undecodable or malformed (sizes): dropped
        self.duplicates = 0  # repeated the (topic, stamp) of the input before: dropped


class Player:
    """Replays ``bag`` (open) through ``graph`` and records outputs into ``out_dir``/outputs."""

    def __init__(
        self,
        bag: Bag,
        graph: LaunchGraph,
        out_dir: Path,
        options: ReplayOptions | None = None,
        *,
        progress: Callable[[int, int], ProgressView] | None = None,
        tracer: Tracer | Callable[[], Tracer] | None = None,
    ) -> None:
        self.bag = bag
        self.graph = graph
        self.out_dir = Path(out_dir)
        self.options = options or ReplayOptions()
        self.options.validate()
        self._progress = progress or (lambda start, end: NoProgress())
        # A factory defers creating a trace file until the replay is known to start.
        self._tracer = tracer if tracer is not None else (lambda: Tracer(self.options.trace))
        self.tracer: Tracer | None = None
        self._stop = threading.Event()
        self._repeats = DuplicateFilter()
        self.runtime: Runtime | None = None
        self.recorder: Recorder | None = None
        self._skipped: dict[str, str] = {}  # bag topic -> why its type cannot be resolved
        start, end = self._window()
        self.result = ReplayResult(
            str(bag.path),
            graph.source,
            "lockstep" if self.options.lockstep else "rate",
            self.options.rate,
            start,
            end,
            warnings=list(bag.warnings),
        )

    # ---- set-up ---------------------------------------------------------------------------
    def _window(self) -> tuple[int, int]:
        bag, opt = self.bag, self.options
        start = bag.start_ns + int(opt.start_s * 1e9)
        if start > bag.end_ns:
            raise ReplayError(
                f"{bag.path}: --start {opt.start_s:g} s is past the end of the bag "
                f"({bag.duration_ns / 1e9:.3f} s long)"
            )
        end = bag.end_ns + 1
        if opt.duration_s is not None:
            end = min(end, start + int(opt.duration_s * 1e9))
        return start, end

    def _select(self) -> dict[str, str]:
        """Bag topic -> graph topic for the topics to replay (--topics, --remap)."""
        bag_topics = self.bag.topics
        chosen = [resolve_topic(t) for t in self.options.topics] or sorted(bag_topics)
        missing = [t for t in chosen if t not in bag_topics]
        if missing:
            raise ReplayError(
                f"{self.bag.path}: --topics {missing} not in the bag; it has {sorted(bag_topics)}"
            )
        remap = {resolve_topic(a): resolve_topic(b) for a, b in self.options.remap.items()}
        unknown = [t for t in remap if t not in bag_topics]
        if unknown:
            raise ReplayError(
                f"{self.bag.path}: --remap names {unknown}, not in the bag; "
                f"it has {sorted(bag_topics)}"
            )
        return {t: remap.get(t, t) for t in chosen}

    def _build(self) -> dict[str, _Input]:
        selected = self._select()
        resolution = resolve((self.bag.topics[t] for t in selected), sample=self.bag.first_message)
        decoders, skipped = resolution.decoders, resolution.skipped
        for note in resolution.notes:
            self._warn(f"{self.bag.path}: {note}")
        if skipped:
            self._warn(
                f"{self.bag.path}: skipping {len(skipped)} topic(s) whose type cannot be "
                f"resolved: " + "; ".join(str(s) for s in skipped)
            )
        clock = (
            SimClock(self.result.window_start_ns)
            if self.options.lockstep
            else ScaledClock(self.result.window_start_ns, self.options.rate or 1.0)
        )
        fed = {selected[t] for t in decoders}
        self.tracer = self._tracer if isinstance(self._tracer, Tracer) else self._tracer()
        try:
            self.runtime = Runtime(
                self.graph,
                clock,
                lockstep=self.options.lockstep,
                policy=self.options.policy,
                tracer=self.tracer,
                fail_fast=self.options.fail_fast,
                external_topics=fed,
            )
        except (ExecutorError, GraphError) as exc:
            raise ReplayError(
                f"{exc}; the bag {self.bag.path} feeds {sorted(fed) or 'no decodable topic'}"
            ) from exc
        return self._match(selected, decoders, skipped)

    def _match(
        self, selected: dict[str, str], decoders: dict[str, Decoder], skipped: list[Skipped]
    ) -> dict[str, _Input]:
        """Wire bag topics to subscriptions; refuse a graph that would receive nothing."""
        assert self.runtime is not None
        topics = self.runtime.topics
        subscribed = sorted(t for t, s in topics.items() if s.subscriptions)
        inputs: dict[str, _Input] = {}
        for bag_topic, topic in selected.items():
            info = self.bag.topics[bag_topic]
            cdr = info.encoding is Encoding.CDR
            entry = inputs[bag_topic] = _Input(bag_topic, topic, info.msgtype, cdr)
            state = topics.get(topic)
            if state is None or not state.subscriptions or bag_topic not in decoders:
                continue
            if state.msgtype != info.msgtype:
                raise ReplayError(
                    f"{self.graph.source}: topic {topic!r} is subscribed as {state.msgtype}, "
                    f"but {self.bag.path} holds {info.msgtype} on {bag_topic!r}"
                )
            entry.decode = decoders[bag_topic]
        if not any(e.decode for e in inputs.values()):
            raise ReplayError(self._no_match_message(selected, subscribed, skipped))
        self._skipped = {s.topic: s.reason for s in skipped}
        return inputs

    def _no_match_message(
        self, selected: dict[str, str], subscribed: list[str], skipped: list[Skipped]
    ) -> str:
        undecodable = [s for s in skipped if selected[s.topic] in subscribed]
        if undecodable:
            return (
                f"{self.graph.source}: the subscribed topics in {self.bag.path} cannot be "
                "decoded: " + "; ".join(str(s) for s in undecodable)
            )
        return (
            f"{self.graph.source}: no subscription matches a topic in {self.bag.path}: "
            f"the graph subscribes {subscribed or 'nothing'}, the bag has "
            f"{sorted(selected.values())} (use --remap FROM:=TO to rename bag topics)"
        )

    def _warn(self, text: str) -> None:
        self.result.warnings.append(text)
        log.warning(text)

    # ---- running ------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop soon and cleanly (safe from a signal handler): the output bag stays valid."""
        self._stop.set()
        if self.runtime is not None:
            self.runtime.request_stop()

    def run(self) -> ReplayResult:
        inputs = self._build()
        runtime = self.runtime
        assert runtime is not None
        published = {t: s.msgtype for t, s in runtime.topics.items() if s.publishers}
        self.recorder = Recorder(
            self.out_dir / OUTPUTS, published, runtime.clock, threaded=not self.options.lockstep
        )
        result = self.result
        # Without a window the bag checks that it yielded every message its index lists.
        source = self.bag.messages(
            list(inputs),
            result.window_start_ns if self.options.start_s else None,
            result.window_end_ns if self.options.duration_s is not None else None,
        )
        wall0 = time.perf_counter()
        try:
            with (
                self.recorder,
                self._progress(result.window_start_ns, result.window_end_ns) as view,
            ):
                runtime.taps.append(self.recorder.tap)
                if self.options.lockstep:
                    self._run_lockstep(source, inputs, view)
                else:
                    self._run_paced(source, inputs, view)
                view.update(result.last_ns, result.messages, runtime.dropped(), force=True)
        finally:
            source.close()
            result.wall_s = time.perf_counter() - wall0
            result.interrupted = self._stop.is_set()
            self._finish(inputs)
        if result.messages == 0 and not result.interrupted:
            self._warn(f"{self.bag.path}: the replayed window holds no message of the topics")
        return result

    def _run_lockstep(
        self,
        source: Iterator[tuple[Any, int, bytes]],
        inputs: dict[str, _Input],
        view: ProgressView,
    ) -> None:
        runtime = self.runtime
        assert runtime is not None
        advance, inject, run = runtime.advance_to, runtime.inject, runtime.run_until_idle
        offer = self.recorder.offer  # type: ignore[union-attr]
        stopped = self._stop.is_set
        result = self.result
        runtime.start_timers()
        read = 0
        t = result.window_start_ns
        try:
            for conn, t, raw in source:
                read += 1
                entry = inputs[conn.topic]
                entry.read += 1
                if entry.decode is not None:
                    msg = self._decode(entry, raw, t)
                    if msg is not None:
                        if entry.cdr:
                            offer(msg, raw, entry.msgtype)
                        advance(t)
                        inject(entry.topic, msg)
                        entry.injected += 1
                        run()
                if stopped():
                    break
                if not read % PROGRESS_EVERY:
                    view.update(t, read, runtime.dropped())
        finally:
            result.messages, result.last_ns = read, t

    def _run_paced(
        self,
        source: Iterator[tuple[Any, int, bytes]],
        inputs: dict[str, _Input],
        view: ProgressView,
    ) -> None:
        runtime = self.runtime
        assert runtime is not None
        clock = runtime.clock
        result = self.result
        t0 = result.window_start_ns
        scale = 1e9 * (self.options.rate or 1.0)
        wait, now = self._stop.wait, time.perf_counter
        inject = runtime.inject
        offer = self.recorder.offer  # type: ignore[union-attr]
        clock.rebase(t0)  # bag time t0 is now; timers start from it
        wall0 = now()
        runtime.start()
        read = 0
        t = t0
        try:
            for conn, t, raw in source:
                read += 1
                entry = inputs[conn.topic]
                entry.read += 1
                msg = self._decode(entry, raw, t) if entry.decode is not None else None
                delay = (t - t0) / scale - (now() - wall0)
                if (delay > 0 and wait(delay)) or runtime.stopping:
                    break
                if msg is not None:
                    if entry.cdr:
                        offer(msg, raw, entry.msgtype)
                    inject(entry.topic, msg)
                    entry.injected += 1
                if not read % 8:
                    view.update(t, read, runtime.dropped())
            if not runtime.stopping:
                runtime.wait_idle(IDLE_WAIT_S)
        finally:
            result.messages, result.last_ns = read, t
            runtime.shutdown()

    def _decode(self, entry: _Input, raw: bytes, t_ns: int) -> Any:
        """The message to inject, or None for a counted drop (corrupt, malformed, repeated)."""
        try:
            msg = entry.decode(raw)  # type: ignore[misc]
            problem = entry.check(msg) if entry.check is not None else None
            if problem is not None:
                raise SensorDataError(problem)
        except Exception as exc:  # a corrupt message is a counted drop, not the end
            entry.decode_errors += 1
            if entry.decode_errors == 1:
                what = "a malformed" if isinstance(exc, SensorDataError) else "cannot deserialize a"
                self._warn(
                    f"{self.bag.path}: {what} {entry.msgtype} on "
                    f"{entry.bag_topic} at {t_ns} ns (dropped, counted): {exc}"
                )
            return None
        if self._repeats.repeated(entry.topic, msg):
            entry.duplicates += 1
            if entry.duplicates == 1:
                self._warn(
                    f"{self.bag.path}: a {entry.msgtype} on {entry.bag_topic} at {t_ns} ns "
                    "repeats the header stamp of the one before (dropped, counted)"
                )
            return None
        return msg

    def _finish(self, inputs: dict[str, _Input]) -> None:
        result, runtime, recorder = self.result, self.runtime, self.recorder
        if runtime is not None:
            if self.options.lockstep:
                runtime.request_stop()
                runtime.tracer.close()
            result.drops = runtime.dropped()
            result.callback_errors = len(runtime.errors)
        if recorder is not None:
            recorder.close()
            result.recorded = dict(recorder.counts)
            result.record_errors = dict(recorder.errors)
            if recorder.failure:
                self._warn(recorder.failure)
        result.injected = sum(e.injected for e in inputs.values())
        result.decode_errors = sum(e.decode_errors for e in inputs.values())
        result.duplicates = sum(e.duplicates for e in inputs.values())
        result.topics = [
            TopicResult(
                e.bag_topic,
                e.topic,
                e.msgtype,
                e.read,
                e.injected,
                e.decode_errors,
                self._status(e),
                e.duplicates,
            )
            for e in inputs.values()
        ]

    def _status(self, entry: _Input) -> str:
        if entry.decode is not None:
            return "replayed"
        reason = self._skipped.get(entry.bag_topic)
        return f"skipped: {reason}" if reason else "not subscribed"
