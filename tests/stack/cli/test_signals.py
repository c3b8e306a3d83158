"""SIGINT / SIGTERM stop a run even when they land while the main thread holds a runtime lock."""

from __future__ import annotations

import signal
import threading

from stack.cli.common import stop_on_signals
from stack.executor.control import RunControl
from stack.executor.ready import ReadyQueue


def test_a_signal_landing_inside_a_queue_lock_still_stops_the_run():
    queue = ReadyQueue("perception")
    control = RunControl([queue])
    with stop_on_signals(control.request_stop) as caught:
        handler = signal.getsignal(signal.SIGTERM)
        returned = threading.Event()

        def main_thread_mid_publish() -> None:
            with queue.cv:  # as ReadyQueue.push holds it when the signal's handler runs
                handler(signal.SIGTERM, None)  # a direct stop() here would wait on this lock
                returned.set()

        worker = threading.Thread(target=main_thread_mid_publish, daemon=True)
        worker.start()
        worker.join(5.0)
        assert returned.is_set() and not worker.is_alive(), "the handler deadlocked"
        assert control.stop.wait(5.0)  # the stop went through once the lock was free
        for _ in range(100):
            if queue.closed:
                break
            threading.Event().wait(0.02)
        assert queue.closed
    assert caught.signal is signal.SIGTERM and caught.exit_status == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is not handler  # the old handler is back
