from __future__ import annotations

from types import SimpleNamespace

import pytest

from stack.events import EventKind, kind_value
from stack.executor import ExecutorError, Runtime, SimClock
from stack.graph import parse_graph
from stack.msgs import new, ns_to_stamp
from stack.scheduler import DegradeController, SchedulerError, Thresholds, VariantSet
from stack.scheduler.frames import FrameLedger, ShedCount
from stack.trace.records import CallbackRecord, Tracer
from tests.stack.scheduler import nodes

MS = 1_000_000
NODE = "tests.stack.scheduler.nodes:VariantNode"


# ---- the controller on hand-made latency samples ------------------------------------------
class FakeCtx:
    name = "det"

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.variant = ""
        self.logger = SimpleNamespace(info=lambda *a: None)

    def event(self, kind: EventKind, detail: str = "") -> None:
        self.events.append((kind_value(kind, self.name), detail))

    def set_variant(self, name: str) -> None:
        self.variant = name


class FakeEngine:
    def __init__(self, name: str) -> None:
        self.variant = name
        self.warmed = 0

    def run(self, feeds):
        return {}

    def warmup(self) -> None:
        self.warmed += 1


class Chain:
    """A chain's frames as the runtime records them: start times and output samples."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.samples: list[tuple[int, int]] = []


def controlled(
    window=2, hold_ms=0.0, budget_ms=50.0, low=10.0, high=20.0, max_shed=None, shed=None
):
    ctx = FakeCtx()
    vset = VariantSet(ctx, [FakeEngine(n) for n in ("dense", "pruned", "tiny")])
    chain = Chain()
    limits = Thresholds(
        int(budget_ms * MS), 100.0, int(low * MS), int(high * MS), int(hold_ms * MS), window,
        max_shed,
    )  # fmt: skip
    clock = [0]
    frames = FrameLedger(chain.starts, chain.samples, limits.budget_ns)
    vset.advisor = DegradeController("cam", frames, limits, clock=lambda: clock[0], shed=shed)
    return ctx, vset, chain, clock


def feed(vset, chain, clock, latencies_ms, period_ms=100.0):
    """A frame enters every ``period_ms`` and is delivered ``latency`` later (None: never);
    the node looks at its variant at each delivery time."""
    seen = []
    for lat in latencies_ms:
        t = clock[0] + int(period_ms * MS)
        clock[0] = t
        if lat is None:
            chain.starts.append(t)
        else:
            chain.starts.append(t - int(lat * MS))
            chain.samples.append((t, int(lat * MS)))
        vset.current  # noqa: B018 - the node's next run applies any advice
        seen.append(vset.name)
    return seen


def test_degrades_one_step_at_a_time_and_judges_only_runs_after_a_switch():
    ctx, vset, chain, clock = controlled(window=2)
    assert ctx.variant == "dense"
    seen = feed(vset, chain, clock, [45, 45, 45, 45])
    # Slack 5 ms < 10 ms: one step; the next sample already belongs to the new variant.
    assert seen == ["pruned", "tiny", "tiny", "tiny"]
    assert [e[0] for e in ctx.events] == ["switch", "switch"]
    assert ctx.events[0][1] == "dense -> pruned: chain cam slack 5.0 ms < 10.0 ms"
    assert ctx.variant == "tiny"


def test_no_switch_while_slack_sits_between_the_thresholds():
    ctx, vset, chain, clock = controlled(window=2)
    feed(vset, chain, clock, [45])  # -> pruned
    seen = feed(vset, chain, clock, [35, 38, 32, 39, 36] * 4)  # slack 11..18 ms
    assert set(seen) == {"pruned"}
    assert len(ctx.events) == 1


def test_recovers_after_hold_with_enough_slack():
    ctx, vset, chain, clock = controlled(window=3, hold_ms=250.0)
    feed(vset, chain, clock, [45])  # -> pruned
    seen = feed(vset, chain, clock, [10] * 6)  # 40 ms slack from here on
    # Good since the 1st sample (t=200 ms); the 3rd has the samples, the 4th (t=500) the hold.
    assert seen == ["pruned", "pruned", "pruned", "dense", "dense", "dense"]
    assert ctx.events[-1][1] == "pruned -> dense: chain cam slack 40.0 ms >= 20.0 ms"


def test_recovery_needs_room_for_the_richer_variant_cost():
    _ctx, vset, chain, clock = controlled(window=2)
    feed(vset, chain, clock, [45])  # -> pruned
    vset.cost_ms[:2] = [30.0, 5.0]  # dense is known to take 25 ms more per run
    seen = feed(vset, chain, clock, [25] * 6)  # slack 25 < 20 + 25
    assert set(seen) == {"pruned"}
    seen = feed(vset, chain, clock, [4] * 3)  # slack 46 >= 45
    assert seen[-1] == "dense"


def test_flapping_doubles_the_hold():
    _ctx, vset, chain, clock = controlled(window=1, hold_ms=100.0)
    feed(vset, chain, clock, [45])  # -> pruned
    assert feed(vset, chain, clock, [5, 5]) == ["pruned", "dense"]  # held 100 ms -> back
    assert feed(vset, chain, clock, [45]) == ["pruned"]  # degraded soon after: flapping
    # Now the hold is 200 ms: two more good samples are not enough, three are.
    assert feed(vset, chain, clock, [5, 5, 5]) == ["pruned", "pruned", "dense"]


def test_frames_never_delivered_are_judged_by_their_age():
    ctx, vset, chain, clock = controlled(window=2)
    # One frame delivered (the chain is up), then frames that never come out: each is judged
    # once past the 50 ms budget, with its age, though the chain delivers no sample at all.
    seen = feed(vset, chain, clock, [10, None, None])
    assert seen == ["dense", "dense", "pruned"]
    assert ctx.events[0][1] == "dense -> pruned: chain cam slack -50.0 ms < 10.0 ms"


def test_frames_before_the_first_delivery_are_not_judged():
    _ctx, vset, chain, clock = controlled(window=2)
    assert feed(vset, chain, clock, [None] * 5) == ["dense"] * 5  # starting up
    assert feed(vset, chain, clock, [10] * 3) == ["dense"] * 3


def test_ledger_takes_each_frames_best_latency_and_late_ones_as_late():
    starts, samples = [0, 100, 200], []
    ledger = FrameLedger(starts, samples, budget_ns=50)
    samples += [(10, 10), (180, 80), (140, 40)]  # frame 100 late once, then in time
    assert ledger.judge(150) == [(0, 10), (100, 40)]  # frame 200 may still make it
    samples.append((300, 100))  # frame 200 delivered late
    assert ledger.judge(300) == [(200, 100)]
    assert ledger.judge(400) == []


class FakeShed:
    def __init__(self) -> None:
        self.shed = self.inputs = 0

    def __call__(self) -> ShedCount:
        return ShedCount(self.shed, self.inputs)

    def take(self, inputs: int, shed: int) -> None:
        self.inputs += inputs
        self.shed += shed


def test_executor_shedding_degrades_and_holds_back_recovery():
    shed = FakeShed()
    ctx, vset, chain, clock = controlled(window=4, hold_ms=300.0, max_shed=0.05, shed=shed)

    def frames(n, inputs, lost):
        out = []
        for _ in range(n):
            shed.take(inputs, lost)
            out += feed(vset, chain, clock, [10])  # the chain itself keeps 40 ms of slack
        return out

    # 2 of every 10 inputs shed: 20 % > 5 % -> one step once 1 s of inputs is in (frames come
    # every 100 ms), then, judged anew from 1 s after the switch, the next.
    seen = frames(25, 10, 2)
    assert (seen.index("pruned"), seen.index("tiny")) == (10, 21)
    assert ctx.events[0][1] == "dense -> pruned: executor shed 20 % of its inputs > 5 %"
    # 1 in 20 (5 %): not above the limit, yet above half of it: no recovery.
    assert set(frames(10, 20, 1)) == {"tiny"}
    # Nothing shed for the hold (inputs of the last 2 s still hold the 5 %: wait them out).
    seen = frames(30, 20, 0)
    assert seen[-1] == "dense" and "pruned" in seen
    assert ctx.events[-1][1].endswith("executor shed 0 %")


def test_the_backlog_shed_after_a_switch_never_counts_even_when_polls_are_far_apart():
    shed = FakeShed()
    _ctx, vset, chain, clock = controlled(window=4, max_shed=0.05, shed=shed)
    seen = []
    for _ in range(11):
        shed.take(10, 2)  # 20 % shed -> one step down once a span of inputs is in
        seen += feed(vset, chain, clock, [10])
    assert seen[-1] == "pruned"
    shed.take(50, 50)  # the queued work of the variant before is shed after the switch
    # The next look comes 1.5 s later (past half a span): that backlog must not step down again.
    assert feed(vset, chain, clock, [10], period_ms=1500.0) == ["pruned"]


def test_shed_is_ignored_without_max_shed():
    shed = FakeShed()
    _ctx, vset, chain, clock = controlled(window=2, shed=shed)
    for _ in range(5):
        shed.take(10, 10)
        assert feed(vset, chain, clock, [10]) == ["dense"]


def test_variants_are_warmed_up_when_there_is_more_than_one():
    one = FakeEngine("a")
    VariantSet(FakeCtx(), [one])
    assert one.warmed == 0  # a single model warms on its first frame, as before
    engines = [FakeEngine("a"), FakeEngine("b")]
    VariantSet(FakeCtx(), engines)
    assert [e.warmed for e in engines] == [1, 1]


def test_variant_set_rejects_bad_input():
    with pytest.raises(SchedulerError, match="at least one model"):
        VariantSet(FakeCtx(), [])
    with pytest.raises(SchedulerError, match="variant names repeat"):
        VariantSet(FakeCtx(), [FakeEngine("a"), FakeEngine("a")])
    with pytest.raises(SchedulerError, match="expected a model path or an engine"):
        VariantSet(FakeCtx(), {"a": 42})
    vset = VariantSet(FakeCtx(), [FakeEngine("a")])
    with pytest.raises(SchedulerError, match="no variant 3"):
        vset.switch(3)


# ---- a real graph: ONNX variants of different sizes, fake-slow per variant ----------------
def graph(models, window: int = 2, extra: str = "") -> str:
    paths = ", ".join(f'"{m}"' for m in models)
    return f"""
allow_external_modules: true
scheduler:
  degrade: {{min_slack_ms: 10, recover_slack_ms: 20, hold_s: 0, window: {window}{extra}}}
nodes:
  det:
    class: "{NODE}"
    params: {{input: /cam, output: /obj, variants: [{paths}], cost_ms: [12, 4, 1]}}
chains:
  perception: {{path: [/cam, /obj], budget_ms: 50, priority: 5}}
"""


def run_frames(rt: Runtime, n: int) -> None:
    for i in range(n):
        rt.inject("/cam", new("std_msgs/msg/Header", stamp=ns_to_stamp(i), frame_id=f"f{i}"))
        rt.run_until_idle()


@pytest.fixture
def contention():
    yield nodes.CONTENTION_MS
    nodes.CONTENTION_MS[0] = 0.0


def test_node_degrades_under_load_and_recovers_when_slack_returns(variant_models, contention):
    tracer = Tracer(enabled=True)
    rt = Runtime(
        parse_graph(graph(variant_models), "t.yaml"), SimClock(), lockstep=True, tracer=tracer,
        external_topics=("/cam",),
    )  # fmt: skip
    assert "det" not in rt.scheduler.controllers  # lockstep: off unless asked for
    rt.scheduler.after_build(force_adaptive=True)
    det = rt.nodes["det"].instance
    contention[0] = 30.0  # dense 42 ms: slack 8 < 10; pruned 34 ms: slack 16, stays
    run_frames(rt, 6)
    contention[0] = 44.0  # pruned 48 ms: no slack left; tiny is the floor
    run_frames(rt, 5)
    contention[0] = 0.0  # slack returns
    run_frames(rt, 8)
    switches = [s[:2] for s in det.models.switches]
    assert switches == [
        ("dense", "pruned"), ("pruned", "tiny"), ("tiny", "pruned"), ("pruned", "dense")
    ]  # fmt: skip
    assert det.used[0] == "dense" and det.used[-1] == "dense"
    records = [CallbackRecord._make(r) for r in tracer.records if r[0] == "det"]
    assert [r.variant for r in records] == det.used
    traced = [e for r in records for e in r.events if e[0] == "switch"]
    assert [d.split(":")[0] for _, d in traced] == [f"{a} -> {b}" for a, b in switches]
    assert rt.counters()["det"]["switch"] == 4


def test_degrade_chain_must_exist(variant_models):
    text = graph(variant_models, extra=", nodes: {det: {chain: nope}}")
    rt = Runtime(parse_graph(text, "t.yaml"), SimClock(), lockstep=True, external_topics=("/cam",))
    with pytest.raises(
        ExecutorError, match=r"scheduler.degrade.nodes.det.chain: unknown chain 'nope'"
    ):
        rt.scheduler.after_build(force_adaptive=True)


def test_runtime_records_frames_and_the_meter_counts_shed_inputs(variant_models):
    rt = Runtime(
        parse_graph(graph(variant_models, extra=", max_shed: 0.1"), "t.yaml"), SimClock(),
        lockstep=True, external_topics=("/cam",),
    )  # fmt: skip
    rt.scheduler.after_build(force_adaptive=True)
    for i in range(3):  # queued without running: the depth-1 queue keeps the newest
        rt.inject("/cam", new("std_msgs/msg/Header", stamp=ns_to_stamp(i), frame_id="f"))
    rt.run_until_idle()
    assert len(rt.start_times["/cam"]) == 3
    (ctl,) = rt.scheduler.controllers["det"]
    assert ctl.limits.max_shed == 0.1
    assert ctl._shed() == ShedCount(shed=2, inputs=3)
    assert len(rt.chain_latencies["perception"]) == 1
    # The two overwritten frames entered before the chain first delivered: not judged.
    ages = [lat for _, lat in ctl.frames.judge(rt.start_times["/cam"][-1] + 10**9)]
    assert len(ages) == 1


def test_shed_before_the_chain_first_delivers_is_not_judged():
    shed = FakeShed()
    _ctx, vset, chain, clock = controlled(window=2, max_shed=0.05, shed=shed)
    for _ in range(5):  # starting up: everything shed, nothing delivered
        shed.take(10, 10)
        assert feed(vset, chain, clock, [None]) == ["dense"]


def test_a_switch_tells_its_listeners_and_the_guard_forgets_the_old_durations(variant_models):
    seen = []
    vset = VariantSet(FakeCtx(), [FakeEngine(n) for n in ("dense", "pruned")])
    vset.on_switch.append(seen.append)
    vset.switch(0)  # no change: nobody told
    vset.switch(1, "test")
    assert seen == ["det"]
    # In a threaded l4 runtime the controller's set tells the blocking guard.
    from stack.executor import WallClock

    rt = Runtime(parse_graph(graph(variant_models), "t.yaml"), WallClock(), policy="l4",
                 external_topics=("/cam",))  # fmt: skip
    rt.scheduler.after_build()
    guard = rt.scheduler.guard
    models = rt.nodes["det"].instance.models
    assert guard is not None and guard.forget in models.on_switch
    guard.ran("det", "sub:/cam", 12 * MS)
    models.switch(1, "test")
    assert ("det", "sub:/cam") not in guard.durations


def test_advice_taken_off_the_nodes_thread_waits_for_its_next_run():
    _ctx, vset, chain, clock = controlled(window=2)
    assert VariantSet(FakeCtx(), [FakeEngine("a"), FakeEngine("b")]).advise() is False  # none
    assert feed(vset, chain, clock, [10, None]) == ["dense", "dense"]  # up; one frame lost
    clock[0] += 100 * MS  # a second lost frame, judged by its age: advice to step down
    chain.starts.append(clock[0])
    assert vset.advise() is True and vset.name == "dense"  # pending, not applied yet
    assert vset.advise() is True  # asked again: the same advice, not a second step
    assert vset.settle() == 1 and vset.name == "pruned"  # the node's next run applies it
    assert vset.advise() is False and vset.name == "pruned"  # judged afresh after a switch
