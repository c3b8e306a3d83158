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


def test_sched_fifo_refusal_is_said_once(monkeypatch, caplog, fresh_warnings):
    calls = []

    def refuse(pid, policy, param):
        calls.append((policy, param.sched_priority))
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with caplog.at_level(logging.WARNING, logger=threads.__name__):
        threads.configure_worker_thread("a", (), 30)
        threads.configure_worker_thread("b", (), 40)
    assert calls == [(os.SCHED_FIFO, 30), (os.SCHED_FIFO, 40)]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "SCHED_FIFO priority 30 not permitted" in warnings[0]


def test_priority_zero_leaves_the_scheduler_alone(monkeypatch, fresh_warnings):
    def boom(*args):
        raise AssertionError("must not be called")

    monkeypatch.setattr(os, "sched_setscheduler", boom)
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
