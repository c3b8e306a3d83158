from __future__ import annotations

import threading
import time

import pytest

from stack.executor import Runtime, SimClock
from stack.graph import parse_graph
from stack.scheduler.gate import DeviceGates, PriorityGate, device_kind

NODE = "tests.stack.scheduler.nodes:ModelNode"


def wait_for(cond, what: str, timeout_s: float = 10.0) -> None:
    """Synchronise with the worker threads (not a timing assertion)."""
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


def test_waiters_are_served_by_priority_after_the_current_run():
    gate = PriorityGate("gpu")
    order: list[str] = []
    holder_in = threading.Event()
    holder_go = threading.Event()

    def fake_run(name: str, prio: int, hold: threading.Event | None = None) -> None:
        with gate(prio):
            order.append(name)
            if hold is not None:
                holder_in.set()
                hold.wait()

    holder = threading.Thread(target=fake_run, args=("low-running", 1, holder_go))
    holder.start()
    holder_in.wait()
    threads = []
    for i, (name, prio) in enumerate([("low-a", 1), ("mid", 5), ("low-b", 1), ("critical", 10)]):
        t = threading.Thread(target=fake_run, args=(name, prio))
        t.start()
        threads.append(t)
        wait_for(lambda n=i + 1: gate.waiting() == n, f"{name} to queue")
    holder_go.set()
    for t in [holder, *threads]:
        t.join()
    # The critical run waited for the one run in progress only; equals keep arrival order.
    assert order == ["low-running", "critical", "mid", "low-a", "low-b"]
    assert gate.runs == 5 and gate.waited == 4
    assert not gate.busy


def test_uncontended_gate_passes_straight_through():
    gate = PriorityGate()
    with gate(3):
        assert gate.busy
    with gate(0):
        pass
    assert gate.waited == 0 and not gate.busy


def test_release_without_acquire_is_an_error():
    with pytest.raises(RuntimeError, match="gate gpu: release without acquire"):
        PriorityGate("gpu").release()


def test_gate_is_released_when_the_run_raises():
    gate = PriorityGate()
    with pytest.raises(ValueError), gate(1):
        raise ValueError("inference failed")
    assert not gate.busy


@pytest.mark.parametrize(
    ("device", "kind"),
    [
        ("CUDAExecutionProvider", "gpu"),
        ("TensorRT 8.5.2", "gpu"),
        ("TensorRT 8.5.2 DLA 1", "dla1"),
        ("CPUExecutionProvider", "cpu"),
        ("OpenVINO", "openvino"),
    ],
)
def test_device_kind(device, kind):
    assert device_kind(device) == kind


def test_one_gate_per_arbitrated_device():
    gates = DeviceGates(("gpu", "dla"))
    assert gates.for_device("CUDAExecutionProvider") is gates.for_device("TensorRT 10.3")
    dla0, dla1 = gates.for_device("TensorRT DLA 0"), gates.for_device("TensorRT DLA 1")
    assert dla0 is not None and dla1 is not None and dla0 is not dla1
    assert gates.for_device("CPUExecutionProvider") is None


def test_runtime_puts_engines_behind_the_device_gate_at_chain_priority(tmp_path):
    from tests.stack.scheduler.conftest import matmul_model

    model = matmul_model(tmp_path / "m.onnx", 8)
    text = f"""
allow_external_modules: true
scheduler: {{gate_devices: [cpu]}}
nodes:
  det: {{class: "{NODE}", params: {{model: "{model}", input: /cam, output: /obj}}}}
  aux: {{class: "{NODE}", params: {{model: "{model}", input: /aux, output: /aux_out}}}}
chains:
  critical: {{path: [/cam, /obj], budget_ms: 50, priority: 9}}
  side: {{path: [/aux, /aux_out], budget_ms: 50, priority: 2}}
"""
    rt = Runtime(
        parse_graph(text, "t.yaml"), SimClock(), lockstep=True, external_topics=("/cam", "/aux")
    )
    det, aux = rt.nodes["det"].instance.engine, rt.nodes["aux"].instance.engine
    assert det.gate is aux.gate is rt.scheduler.gates["cpu"]
    assert (det.priority, aux.priority) == (9, 2)


def test_cpu_engines_are_not_gated_by_default(tmp_path):
    from tests.stack.scheduler.conftest import matmul_model

    model = matmul_model(tmp_path / "m.onnx", 8)
    text = f"""
allow_external_modules: true
nodes:
  det: {{class: "{NODE}", params: {{model: "{model}", input: /cam, output: /obj}}}}
"""
    rt = Runtime(parse_graph(text, "t.yaml"), SimClock(), lockstep=True, external_topics=("/cam",))
    assert "cpu" not in rt.scheduler.gates
    assert rt.nodes["det"].instance.engine.priority == 0
