from __future__ import annotations

import ctypes
import logging
import os

import pytest

from stack.executor import threads


def test_cpu_lookup_keeps_the_gil():
    # A ctypes call that drops the GIL after every callback restarts other threads' switch
    # interval wait, so back-to-back callbacks shorter than 5 ms would starve the timer thread.
    func = threads._sched_getcpu
    if func is None:
        pytest.skip("no sched_getcpu here")
    assert func._flags_ & ctypes._FUNCFLAG_PYTHONAPI
    assert threads.current_cpu() in os.sched_getaffinity(0)


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(threads, "_warned", set())


def _refuse(monkeypatch, name: str, record) -> list:
    """Make ``os.<name>`` refuse as an unprivileged process is refused; returns what
    ``record(*args)`` made of each call."""
    calls = []

    def refuse(*args):
        calls.append(record(*args))
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, name, refuse)
    return calls


def _forbid(monkeypatch, name: str) -> None:
    def boom(*args):
        raise AssertionError("must not be called")

    monkeypatch.setattr(os, name, boom)


def _warnings(caplog, *calls) -> list[str]:
    """The warnings logged while making ``calls`` (argument tuples of the set-up)."""
    with caplog.at_level(logging.WARNING, logger=threads.__name__):
        for args, kwargs in calls:
            threads.configure_worker_thread(*args, **kwargs)
    return [r.getMessage() for r in caplog.records]


def test_sched_fifo_refusal_is_said_once(monkeypatch, caplog, fresh_warnings):
    calls = _refuse(monkeypatch, "sched_setscheduler", lambda pid, pol, p: (pol, p.sched_priority))
    warnings = _warnings(caplog, (("a", (), 30), {}), (("b", (), 40), {}))
    assert calls == [(os.SCHED_FIFO, 30), (os.SCHED_FIFO, 40)]
    assert len(warnings) == 1
    assert "SCHED_FIFO priority 30 not permitted" in warnings[0]


def test_priority_zero_leaves_the_scheduler_alone(monkeypatch, fresh_warnings):
    _forbid(monkeypatch, "sched_setscheduler")
    threads.configure_worker_thread("a", (), 0)


def test_unavailable_cores_are_named_and_not_pinned(monkeypatch, caplog, fresh_warnings):
    pinned = []
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cores: pinned.append(cores))
    with caplog.at_level(logging.WARNING, logger=threads.__name__):
        threads.configure_worker_thread("vision", (6, 7), 0)
        threads.configure_worker_thread("mixed", (1, 7), 0)
    assert pinned == [{1}]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "executor vision: cores [6, 7] not available" in text
    assert "executor mixed: cores [7] not available; pinning to [1]" in text


def test_nice_applies_to_the_worker_thread_only():
    import threading

    seen = {}

    def worker():
        # 19 is the weakest value, which any thread may take without privileges.
        threads.configure_worker_thread("bg", (), 0, nice=19)
        seen["own"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["own"] == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_nice_refusal_names_the_executor_once(monkeypatch, caplog, fresh_warnings):
    calls = _refuse(monkeypatch, "setpriority", lambda which, who, value: value)
    twice = (("localization", (), 0), {"nice": -10})
    warnings = _warnings(caplog, twice, twice)
    assert calls == [-10, -10]
    assert len(warnings) == 1
    assert "executor localization: nice -10 not permitted" in warnings[0]


def test_nice_zero_leaves_the_thread_alone(monkeypatch, fresh_warnings):
    _forbid(monkeypatch, "setpriority")
    threads.configure_worker_thread("a", (), 0)
