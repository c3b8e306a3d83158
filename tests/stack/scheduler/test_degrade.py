from __future__ import annotations

from types import SimpleNamespace

import pytest

from stack.events import EventKind, kind_value
from stack.executor import ExecutorError, Runtime, SimClock
from stack.graph import parse_graph
from stack.msgs import new, ns_to_stamp
from stack.scheduler import DegradeController, SchedulerError, Thresholds, VariantSet
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

    def run(self, feeds):
        return {}


def controlled(window=2, hold_ms=0.0, budget_ms=50.0, low=10.0, high=20.0):
    ctx = FakeCtx()
    vset = VariantSet(ctx, [FakeEngine(n) for n in ("dense", "pruned", "tiny")])
    samples: list[tuple[int, int]] = []
    limits = Thresholds(
        int(budget_ms * MS), 100.0, int(low * MS), int(high * MS), int(hold_ms * MS), window
    )
    clock = [0]
    vset.advisor = DegradeController("cam", samples, limits, clock=lambda: clock[0])
    return ctx, vset, samples, clock


def feed(vset, samples, clock, latencies_ms, period_ms=100.0):
    """Chain outputs every ``period_ms``; the node looks at its variant before each."""
    seen = []
    for lat in latencies_ms:
        t = clock[0] + int(period_ms * MS)
        clock[0] = t
        samples.append((t, int(lat * MS)))
        vset.current  # noqa: B018 - the node's next run applies any advice
        seen.append(vset.name)
    return seen


def test_degrades_one_step_at_a_time_and_judges_only_runs_after_a_switch():
    ctx, vset, samples, clock = controlled(window=2)
    assert ctx.variant == "dense"
    seen = feed(vset, samples, clock, [45, 45, 45, 45])
    # Slack 5 ms < 10 ms: one step; the next sample already belongs to the new variant.
    assert seen == ["pruned", "tiny", "tiny", "tiny"]
    assert [e[0] for e in ctx.events] == ["switch", "switch"]
    assert ctx.events[0][1] == "dense -> pruned: chain cam slack 5.0 ms < 10.0 ms"
    assert ctx.variant == "tiny"


def test_no_switch_while_slack_sits_between_the_thresholds():
    ctx, vset, samples, clock = controlled(window=2)
    feed(vset, samples, clock, [45])  # -> pruned
    seen = feed(vset, samples, clock, [35, 38, 32, 39, 36] * 4)  # slack 11..18 ms
    assert set(seen) == {"pruned"}
    assert len(ctx.events) == 1


def test_recovers_after_hold_with_enough_slack():
    ctx, vset, samples, clock = controlled(window=3, hold_ms=250.0)
    feed(vset, samples, clock, [45])  # -> pruned
    seen = feed(vset, samples, clock, [10] * 6)  # 40 ms slack from here on
    # Good since the 1st sample (t=200 ms); the 3rd has the samples, the 4th (t=500) the hold.
    assert seen == ["pruned", "pruned", "pruned", "dense", "dense", "dense"]
    assert ctx.events[-1][1] == "pruned -> dense: chain cam slack 40.0 ms >= 20.0 ms"


def test_recovery_needs_room_for_the_richer_variant_cost():
    _ctx, vset, samples, clock = controlled(window=2)
    feed(vset, samples, clock, [45])  # -> pruned
    vset.cost_ms[:2] = [30.0, 5.0]  # dense is known to take 25 ms more per run
    seen = feed(vset, samples, clock, [25] * 6)  # slack 25 < 20 + 25
    assert set(seen) == {"pruned"}
    seen = feed(vset, samples, clock, [4] * 3)  # slack 46 >= 45
    assert seen[-1] == "dense"


def test_flapping_doubles_the_hold():
    _ctx, vset, samples, clock = controlled(window=1, hold_ms=100.0)
    feed(vset, samples, clock, [45])  # -> pruned
    assert feed(vset, samples, clock, [5, 5]) == ["pruned", "dense"]  # held 100 ms -> back
    assert feed(vset, samples, clock, [45]) == ["pruned"]  # degraded soon after: flapping
    # Now the hold is 200 ms: two more good samples are not enough, three are.
    assert feed(vset, samples, clock, [5, 5, 5]) == ["pruned", "pruned", "dense"]


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
