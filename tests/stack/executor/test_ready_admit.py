"""ReadyQueue.pop with an admission test (the blocking guard's hook into the executor)."""

from __future__ import annotations

import threading
import time

from stack.executor.ready import ReadyQueue

HOLD_LONG_NS = 60 * 1_000_000_000  # a hold that never ends within a test
JOIN_S = 5.0  # generous: only a hang fails


def queue_of(*items: tuple[int, str]) -> ReadyQueue:
    q = ReadyQueue("ex")
    for prio, name in items:
        q.push((-prio, 0), name)
    return q


class Admit:
    """Holds the entities named in ``held`` until ``until`` (perf_counter ns); logs each ask."""

    def __init__(self, held: set[str], until: int = 0) -> None:
        self.held = held
        self.until = until or time.perf_counter_ns() + HOLD_LONG_NS
        self.asked: list[str] = []

    def __call__(self, item: tuple, now_ns: int) -> int:
        self.asked.append(item[3])
        if item[3] in self.held and now_ns < self.until:
            return self.until
        return 0


def pop_in_thread(q: ReadyQueue, admit: Admit, timeout: float | None = None):
    out: dict = {}

    def run() -> None:
        start = time.perf_counter()
        out["item"] = q.pop(timeout=timeout, admit=admit)
        out["took_s"] = time.perf_counter() - start

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_first_admitted_item_in_heap_order_is_popped():
    q = queue_of((1, "low"), (5, "high"), (3, "mid"))
    admit = Admit({"high"})
    item = q.pop(admit=admit)
    assert item[3] == "mid"
    assert admit.asked == ["high", "mid"]  # the low one was not even asked about
    # The held item went back, and keeps its place ahead of the rest.
    assert len(q) == 2
    assert [q.pop()[3] for _ in range(2)] == ["high", "low"]


def test_without_admit_the_most_urgent_item_pops():
    q = queue_of((1, "low"), (5, "high"))
    assert q.pop(admit=None)[3] == "high"


def test_equal_priority_items_pop_in_push_order_with_admit():
    q = queue_of((2, "a"), (2, "b"), (2, "c"))
    assert q.pop(admit=Admit({"a"}))[3] == "b"
    assert q.pop(admit=Admit(set()))[3] == "a"


def test_all_held_sleeps_until_a_push_brings_an_admitted_item():
    q = queue_of((1, "log"), (1, "record"))
    admit = Admit({"log", "record"})
    t, out = pop_in_thread(q, admit)
    deadline = time.monotonic() + JOIN_S
    while not q.idle_workers and time.monotonic() < deadline:  # the worker went to sleep
        time.sleep(0.005)
    assert q.idle_workers == 1 and "item" not in out
    q.push((-5, 0), "camera")
    t.join(JOIN_S)
    assert not t.is_alive()
    assert out["item"][3] == "camera"
    assert sorted(e for *_, e in q.heap) == ["log", "record"]  # still queued, not lost


def test_all_held_wakes_when_the_hold_ends():
    q = queue_of((1, "log"))
    hold_s = 0.1
    admit = Admit({"log"}, until=time.perf_counter_ns() + int(hold_s * 1e9))
    t, out = pop_in_thread(q, admit)
    t.join(JOIN_S)
    assert not t.is_alive()
    assert out["item"][3] == "log"
    assert admit.asked.count("log") >= 2  # held, then asked again after the hold
    assert out["took_s"] >= hold_s * 0.9  # not popped while the hold lasted
    assert len(q) == 0


def test_timeout_is_kept_while_everything_is_held():
    q = queue_of((1, "log"))
    t, out = pop_in_thread(q, Admit({"log"}), timeout=0.05)
    t.join(JOIN_S)
    assert not t.is_alive()
    assert out["item"] is None
    assert len(q) == 1  # the held item stays queued


def test_close_ends_a_wait_on_held_items():
    q = queue_of((1, "log"))
    t, out = pop_in_thread(q, Admit({"log"}))
    deadline = time.monotonic() + JOIN_S
    while not q.idle_workers and time.monotonic() < deadline:
        time.sleep(0.005)
    q.close()
    t.join(JOIN_S)
    assert not t.is_alive()
    assert out["item"] is None


def test_empty_queue_times_out_with_admit():
    q = ReadyQueue("ex")
    assert q.pop(timeout=0.01, admit=Admit(set())) is None
